import type { IncomingMessage } from 'node:http';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApiError } from '../core/errors';
import type { PlexEventPublisher } from '../core/events/model';
import type { NodeListener } from '../core/oauth/authorization-server';
import type { ConsentIdentityProvider } from '../core/oauth/external-sign-in';
import { GrantService } from '../core/oauth/grants';
import { RegistrationLimit, type RegistrationLimitOptions } from '../core/oauth/registration-limit';
import type { RegistryService } from '../core/registry-service';
import { DynamoDbAuditStore } from './dynamodb-audit-store';
import { DynamoDbOAuthStore } from './dynamodb-oauth-store';
import type { DynamoDbRegistryStore } from './dynamodb-registry-store';

export interface OAuthRuntimeOptions {
  readonly dynamodb: DynamoDBClient;
  readonly oauthTable: string;
  readonly registry: { readonly service: RegistryService; readonly store: DynamoDbRegistryStore };
  readonly auditTable: string;
  /** The audit table's client when it is in another region (as the admin API's). @default `dynamodb` */
  readonly auditDynamodb?: DynamoDBClient;
  readonly events?: PlexEventPublisher;
  /** Signing keys of the provider's cookies and the consent forms, newest first. */
  readonly cookieKeys: readonly string[];
  /** Local mode: loopback client metadata documents and redirect URIs. */
  readonly allowLoopback: boolean;
  /** Extra CA certificates trusted when fetching client metadata documents. @default none */
  readonly metadataCa?: string;
  readonly sourceIp: (req: IncomingMessage) => string;
  readonly requestId: (req: IncomingMessage) => string;
  readonly warn?: (message: string, fields: Record<string, unknown>) => void;
  /** An identity provider org admins may sign in with on the consent page, beside their keys. @default none */
  readonly identityProvider?: ConsentIdentityProvider;
  /** Dynamic client registrations allowed per address and in total. @default RegistrationLimit's */
  readonly registrationLimit?: RegistrationLimitOptions;
}

export interface OAuthRuntime {
  /** The authorization server for a base URL (its issuer): one provider per name the gateway is reached under. */
  listenerFor(issuer: string): NodeListener;
  /** The org's grants: listed and revoked by the admin API. */
  readonly grants: GrantService;
  /** The token store, which the gateway reads access tokens from. */
  readonly store: DynamoDbOAuthStore;
}

type AuthorizationServersModule = typeof import('./oauth-authorization-servers');

/**
 * Loaded on the first request to the authorization server (it brings oidc-provider, Koa and
 * openid-client). `require`, not `import()`: under `tsx/cjs` and in the CommonJS bundles a
 * dynamic import would bypass the bundle.
 */
function loadAuthorizationServers(): AuthorizationServersModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./oauth-authorization-servers') as AuthorizationServersModule;
}

/** Names one deployment answers under (a custom domain, a region's own, execute-api, loopback variants). */
const MAX_ISSUERS = 8;

/**
 * The authorization server wired to its adapters: the one composition behind the OAuth Lambda and
 * `plexmcp serve`. The issuer is the base URL the request came in on (the Host the local server
 * checked, API Gateway's domain name in AWS), and each one gets its own provider, so the metadata
 * a client reads always names the URL it used.
 */
export function createOAuthRuntime(options: OAuthRuntimeOptions): OAuthRuntime {
  const store = new DynamoDbOAuthStore(options.dynamodb, options.oauthTable);
  const { service } = options.registry;
  const grants = new GrantService({
    service,
    journal: new DynamoDbAuditStore(options.auditDynamodb ?? options.dynamodb, options.auditTable),
    tokens: store,
    events: options.events,
    warn: options.warn,
  });
  const warn = options.warn ?? ((message, fields) => console.error(JSON.stringify({ level: 'warn', msg: message, ...fields })));
  const listeners = new Map<string, NodeListener>();
  // One limit for every name the deployment answers under.
  const registrations = new RegistrationLimit(options.registrationLimit);
  let build: ((issuer: string) => NodeListener) | undefined;
  const buildFor = (issuer: string): NodeListener => {
    const { registry, cookieKeys, allowLoopback, metadataCa, identityProvider, sourceIp, requestId } = options;
    build ??= loadAuthorizationServers().authorizationServers({ store, registry, grants, registrations, cookieKeys, allowLoopback, metadataCa, identityProvider, sourceIp, requestId, warn });
    return build(issuer);
  };

  return {
    grants,
    store,
    listenerFor(issuer) {
      let listener = listeners.get(issuer);
      if (!listener) {
        if (listeners.size >= MAX_ISSUERS) throw new ApiError(421, 'misdirected_request', 'This gateway answers under fewer names');
        listener = buildFor(issuer);
        listeners.set(issuer, listener);
      }
      return listener;
    },
  };
}
