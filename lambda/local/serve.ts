import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { serve as serveHttp, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { LocalKeyFileProvider } from '../adapters/local-key-file';
import { DynamoDbRegistryStore, ensureRegistryTable } from '../adapters/dynamodb-registry-store';
import { systemResolver } from '../adapters/dns-resolver';
import { ApiKeyAuthenticator } from '../core/api-keys';
import { createAdminApp, ADMIN_BASE_PATH } from '../core/admin/app';
import { OperatorCredential } from '../core/admin/operator-credential';
import { EnvelopeCipher } from '../core/envelope';
import { DEFAULT_REGISTRY_TABLE_NAME } from '../core/registry-table';
import { RegistryService } from '../core/registry-service';
import { startEmbeddedDynamoDb } from './dynamodb-engine';
import { loadOrCreateOperatorToken } from './operator-token';
import { startDemo } from './demo';

export interface ServeOptions {
  /** @default 8787 */
  readonly port?: number;
  /** Loopback by default: the local gateway is for this machine. @default '127.0.0.1' */
  readonly host?: string;
  /** Where the database, local key file, operator token and demo.json live. */
  readonly dataDir: string;
  /** Start server-everything and register it as MCP `everything` of a demo org. @default false */
  readonly demo?: boolean;
  /** Human-readable progress lines. @default console.log */
  readonly log?: (line: string) => void;
  /** Structured request log records. @default none */
  readonly logRequest?: (record: object) => void;
}

export interface LocalGateway {
  readonly adminUrl: string;
  readonly baseUrl: string;
  readonly operatorToken: string;
  readonly service: RegistryService;
  close(): Promise<void>;
}

/**
 * `plexmcp serve`: the admin API (and, with the data-plane issue, the gateway) on one loopback
 * port, backed by an embedded DynamoDB-compatible engine under `dataDir`.
 */
export async function serve(options: ServeOptions): Promise<LocalGateway> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const engine = await startEmbeddedDynamoDb(join(dataDir, 'dynamodb'));
  const cleanups: (() => Promise<void>)[] = [() => engine.close()];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    await ensureRegistryTable(engine.client, DEFAULT_REGISTRY_TABLE_NAME);
    const store = new DynamoDbRegistryStore(engine.client, DEFAULT_REGISTRY_TABLE_NAME);
    const service = new RegistryService({
      store,
      cipher: new EnvelopeCipher(LocalKeyFileProvider.fromFile(join(dataDir, 'master.key'))),
      urlPolicy: { allowLoopback: true, resolve: systemResolver },
    });
    const operatorTokenPath = join(dataDir, 'operator-token');
    const operator = loadOrCreateOperatorToken(operatorTokenPath);
    // The admin API re-reads key records on every request: revocation there is immediate.
    const adminKeys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
    const admin = createAdminApp({
      service,
      authenticateKey: (key) => adminKeys.authenticate(key),
      operator: new OperatorCredential(async () => operator.token),
      log: options.logRequest,
    });

    const root = new Hono();
    root.get('/healthz', (c) => c.json({ status: 'ok' }));
    root.route('/', admin);

    const server = await listen(root, options.port ?? 8787, options.host ?? '127.0.0.1');
    cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const baseUrl = `http://${host}:${address.port}`;
    const adminUrl = `${baseUrl}${ADMIN_BASE_PATH}`;

    log(`PlexMCP admin API listening on ${adminUrl} (data in ${dataDir})`);
    if (operator.created) {
      log(`First run: operator token (also saved to ${operatorTokenPath}, mode 0600):`);
      log(`  ${operator.token}`);
    } else {
      log(`Operator token: ${operatorTokenPath}`);
    }

    if (options.demo) {
      const demo = await startDemo({ service, store, baseUrl, adminUrl, dataDir, log });
      cleanups.push(demo.close);
    }
    return { adminUrl, baseUrl, operatorToken: operator.token, service, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

function listen(app: Hono, port: number, hostname: string): Promise<ServerType> {
  return new Promise((resolveServer, reject) => {
    const server = serveHttp({ fetch: app.fetch, port, hostname }, () => resolveServer(server));
    server.once('error', reject);
  });
}
