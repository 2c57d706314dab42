import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';

export interface EmbeddedDynamoDb {
  readonly client: DynamoDBClient;
  readonly endpoint: string;
  close(): Promise<void>;
}

/**
 * dynalite, DynamoDB's API in pure JavaScript, on a loopback port. With `path` the data lives in
 * LevelDB files there and survives restarts; without it, in memory.
 */
export async function startEmbeddedDynamoDb(path?: string): Promise<EmbeddedDynamoDb> {
  const server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = localDynamoDbClient(endpoint);
  return {
    client,
    endpoint,
    close: async () => {
      client.destroy();
      await new Promise<void>((resolve, reject) => server.close((error?: Error) => (error ? reject(error) : resolve())));
    },
  };
}

/** A client for a local engine: fixed dummy credentials, no retries against a dead port for long. */
/**
 * A store that keeps connections open and never answers must not hold sockets for the SDK's
 * default 300 s: each attempt gives up after 2 s (and throws: without `throwOnRequestTimeout` this
 * SDK version only logs), a connection after 1 s.
 */
export const STORE_REQUEST_TIMEOUTS = { requestTimeout: 2_000, connectionTimeout: 1_000, throwOnRequestTimeout: true } as const;

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 3,
    requestHandler: STORE_REQUEST_TIMEOUTS,
  });
}
