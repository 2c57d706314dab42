import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Context } from 'hono';
import { createAdminApp, type AdminRequestLog } from '../core/admin/app';
import { OperatorCredential } from '../core/admin/operator-credential';
import { AlertService, type AlertDelivery } from '../core/alert-service';
import type { RollupReader } from '../core/analytics/model';
import { ApiKeyAuthenticator } from '../core/api-keys';
import { EnvelopeCipher, type DataKeyProvider } from '../core/envelope';
import type { PlexEventPublisher } from '../core/events/model';
import type { GrantService } from '../core/oauth/grants';
import type { WebhookService } from '../core/webhooks/endpoints';
import { RegistryService } from '../core/registry-service';
import { systemResolver } from './dns-resolver';
import { DynamoDbAlertStore } from './dynamodb-alert-store';
import { DynamoDbAuditDigests } from './dynamodb-audit-digests';
import { DynamoDbAuditStore } from './dynamodb-audit-store';
import { DynamoDbHealthStore } from './dynamodb-health-store';
import { DynamoDbRegistryStore } from './dynamodb-registry-store';

export interface AdminRuntimeOptions {
  readonly dynamodb: DynamoDBClient;
  readonly registryTable: string;
  /** The audit log's table (lambda/core/audit/table.ts). */
  readonly auditTable: string;
  /**
   * The client for the audit table, when it is in another region: every region's admin API writes
   * to the primary region's table (the per-org sequence claim is conditional, which a global
   * table honours within one region only). @default `dynamodb`
   */
  readonly auditDynamodb?: DynamoDBClient;
  /**
   * The public key of the audit digests (KMS GetPublicKey in AWS, the local key file's locally);
   * without it the digest routes answer 501 `digests_unavailable`. @default none
   */
  readonly digestPublicKeyPem?: () => Promise<string>;
  /**
   * Webhook endpoints and deliveries of each org (lambda/core/webhooks/endpoints.ts), built by the
   * host: in AWS over its tables and the delivery queue, locally with the worker that delivers.
   * Without it the webhook routes answer 501 `webhooks_unavailable`. @default none
   */
  readonly webhooks?: WebhookService;
  /** Where admin changes are announced (EventBridge in AWS, the in-process bus locally). @default none */
  readonly events?: PlexEventPublisher;
  /**
   * The org's OAuth grants, or a lookup of them: the OAuth runtime is built from this runtime's
   * registry, so a host passes `() => oauth.grants` and builds it afterwards. Without them the
   * grant routes answer 501 `oauth_unavailable`. @default none
   */
  readonly grants?: GrantService | (() => GrantService | undefined);
  readonly dataKeys: DataKeyProvider;
  /** Local mode: loopback upstream URLs are accepted. In AWS only public https endpoints. */
  readonly allowLoopback: boolean;
  /** Reads the current operator token (Secrets Manager in AWS, the token file locally). */
  readonly readOperatorToken: () => Promise<string>;
  /** How long the operator token read is trusted: the bound on a rotation taking effect. @default OperatorCredential's */
  readonly operatorTokenMaxAgeMs?: number;
  /**
   * Where org alerts go (SNS in AWS, the log locally). Without one the alert routes answer 501
   * `alerts_unavailable` rather than accept subscriptions that would never deliver.
   */
  readonly alertDelivery?: AlertDelivery;
  /** The analytics rollups the usage routes read; without them those routes answer 501 `usage_unavailable`. */
  readonly usage?: RollupReader;
  /**
   * For a host that buffers whole answers (the admin Lambda: 6 MB): the usage export is built in
   * memory up to this many bytes, and 413 `export_too_large` beyond. @default none: it streams
   */
  readonly maxExportBytes?: number;
  /** Browser origins allowed to call the admin API (CORS, DNS-rebinding defence). @default none */
  readonly allowedOrigins?: readonly string[];
  /** The origin the web console is served from for a request (the admin app's `ownOrigin`). @default none */
  readonly ownOrigin?: (c: Context) => string | undefined;
  /** The request id of a request (API Gateway's in AWS). @default a random UUID */
  readonly requestId?: (c: Context) => string;
  /** The caller's address for audit entries (API Gateway's source IP in AWS, the socket's locally). @default 'unknown' */
  readonly sourceIp?: (c: Context) => string;
  /**
   * One record per admin request — principal, key id, route, status, duration, error code;
   * never bodies or credentials — the same record in both hosts. @default none
   */
  readonly log?: (record: AdminRequestLog) => void;
}

export interface AdminRuntime {
  /** The admin API (Hono), mounted at `/admin/v1`. */
  readonly app: ReturnType<typeof createAdminApp>;
  /** The registry service behind it (the local server's demo seeds through it). */
  readonly service: RegistryService;
  readonly store: DynamoDbRegistryStore;
  /** Org alert subscriptions and dispatch (the local health monitor dispatches through it). */
  readonly alerts: AlertService;
  /** The audit log the admin API records every change in. */
  readonly audit: DynamoDbAuditStore;
}

/**
 * The control plane wired to its adapters: the one composition behind the admin Lambda and
 * `plexmcp serve`, so the two hosts serve the same API with the same request log. Created once
 * per process.
 */
export function createAdminRuntime(options: AdminRuntimeOptions): AdminRuntime {
  const store = new DynamoDbRegistryStore(options.dynamodb, options.registryTable);
  const service = new RegistryService({
    store,
    cipher: new EnvelopeCipher(options.dataKeys),
    urlPolicy: { allowLoopback: options.allowLoopback, resolve: systemResolver },
  });
  const alerts = new AlertService({
    store: new DynamoDbAlertStore(options.dynamodb, options.registryTable),
    delivery: options.alertDelivery,
    getOrg: (orgId) => store.getOrg(orgId),
  });
  // The admin API re-reads key records on every request: revocation there is immediate.
  const adminKeys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
  const audit = new DynamoDbAuditStore(options.auditDynamodb ?? options.dynamodb, options.auditTable);
  const app = createAdminApp({
    service,
    audit,
    webhooks: options.webhooks,
    grants: options.grants,
    auditDigests: options.digestPublicKeyPem
      ? { store: new DynamoDbAuditDigests(options.auditDynamodb ?? options.dynamodb, options.auditTable), publicKeyPem: options.digestPublicKeyPem }
      : undefined,
    events: options.events,
    sourceIp: options.sourceIp,
    authenticateKey: (key) => adminKeys.authenticate(key),
    // Read again after the bound, so a rotated token stops working on a warm instance.
    operator: new OperatorCredential(options.readOperatorToken, { maxAgeMs: options.operatorTokenMaxAgeMs }),
    health: new DynamoDbHealthStore(options.dynamodb, options.registryTable),
    alerts,
    usage: options.usage,
    maxExportBytes: options.maxExportBytes,
    allowedOrigins: options.allowedOrigins,
    ownOrigin: options.ownOrigin,
    requestId: options.requestId,
    log: options.log,
  });
  return { app, service, store, alerts, audit };
}
