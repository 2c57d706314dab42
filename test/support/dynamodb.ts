import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ensureRegistryTable } from '../../lambda/adapters/dynamodb-registry-store';
import { localDynamoDbClient, startEmbeddedDynamoDb } from '../../lambda/local/dynamodb-engine';

export interface TestDynamoDb {
  readonly client: DynamoDBClient;
  readonly endpoint: string;
  /** Which engine answers: dynalite by default, AWS's DynamoDB Local when `.ci/run` provides it. */
  readonly engine: 'dynalite' | 'dynamodb-local';
  /** A fresh registry table with the production key schema. */
  newRegistryTable(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The DynamoDB engine for store tests. `PLEXMCP_TEST_DYNAMODB_ENDPOINT` points the same tests at
 * a running DynamoDB Local (started by `.ci/run`); otherwise an in-memory dynalite per test file.
 */
export async function startTestDynamoDb(): Promise<TestDynamoDb> {
  const external = process.env.PLEXMCP_TEST_DYNAMODB_ENDPOINT;
  const engine = external
    ? { client: localDynamoDbClient(external), endpoint: external, close: async () => undefined }
    : await startEmbeddedDynamoDb();
  return {
    client: engine.client,
    endpoint: engine.endpoint,
    engine: external ? 'dynamodb-local' : 'dynalite',
    newRegistryTable: async () => {
      const name = `registry-${randomUUID()}`;
      await ensureRegistryTable(engine.client, name);
      return name;
    },
    close: async () => {
      if (external) engine.client.destroy();
      await engine.close();
    },
  };
}
