import type { IncomingMessage } from 'node:http';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { Provider } from 'oidc-provider';
import { ApiKeyAuthenticator } from '../core/api-keys';
import { ApiError } from '../core/errors';
import type { PlexEventPublisher } from '../core/events/model';
import { authorizationServerListener, createProvider, type NodeListener } from '../core/oauth/authorization-server';
import { consentHandler, isConsentPath } from '../core/oauth/consent';
import { type ConsentIdentityProvider, ExternalSignIn } from '../core/oauth/external-sign-in';
import { GrantService } from '../core/oauth/grants';
import { RegistrationLimit, type RegistrationLimitOptions } from '../core/oauth/registration-limit';
import type { RegistryService } from '../core/registry-service';
import { clientMetadataFetch } from './client-metadata-fetch';
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
  const { service, store: registryStore } = options.registry;
  const grants = new GrantService({
    service,
    journal: new DynamoDbAuditStore(options.auditDynamodb ?? options.dynamodb, options.auditTable),
    tokens: store,
    events: options.events,
    warn: options.warn,
  });
  // The consent page re-reads the admin's key on every sign-in: a revoked key cannot approve.
  const adminKeys = new ApiKeyAuthenticator(registryStore, { alwaysReadRecord: true });
  const backingKey = async (keyId: string) => registryStore.getKey(keyId);
  const fetch = clientMetadataFetch({ allowLoopback: options.allowLoopback, ca: options.metadataCa });
  const warn = options.warn ?? ((message, fields) => console.error(JSON.stringify({ level: 'warn', msg: message, ...fields })));
  const listeners = new Map<string, NodeListener>();
  // One limit for every name the deployment answers under.
  const registrations = new RegistrationLimit(options.registrationLimit);

  // One client of the identity provider for every issuer (its discovery document read once); a
  // plain-http provider only where loopback is allowed (local mode).
  const externalSignIn = options.identityProvider
    ? new ExternalSignIn({ provider: options.identityProvider, signingKey: options.cookieKeys[0]!, allowInsecure: options.allowLoopback })
    : undefined;

  const build = (issuer: string): NodeListener => {
    const provider: Provider = createProvider({ issuer, adapter: (model) => store.adapterFor(model) as never, cookieKeys: options.cookieKeys, backingKey, fetch: fetch as never });
    const consent = consentHandler({
      provider,
      issuer,
      formKey: options.cookieKeys[0]!,
      externalSignIn,
      orgExists: async (orgId) => (await registryStore.getOrg(orgId)) !== undefined,
      authenticateAdmin: async (presented) => {
        const key = await adminKeys.authenticate(presented);
        if (key.role !== 'admin' || key.oauth) throw new ApiError(403, 'admin_role_required', 'An org admin key is needed');
        return key;
      },
      adminKey: backingKey,
      listMcps: async (orgId) => (await service.listMcps(orgId, { limit: 100 })).items.map((m) => ({ slug: m.slug, name: m.displayName })),
      grants,
      sourceIp: options.sourceIp,
      requestId: options.requestId,
    });
    return authorizationServerListener(provider, { handles: isConsentPath, handle: consent }, { limit: registrations, sourceIp: options.sourceIp }, (error) =>
      warn('oauth consent failed', { error: (error as Error).name }),
    );
  };

  return {
    grants,
    store,
    listenerFor(issuer) {
      let listener = listeners.get(issuer);
      if (!listener) {
        if (listeners.size >= MAX_ISSUERS) throw new ApiError(421, 'misdirected_request', 'This gateway answers under fewer names');
        listener = build(issuer);
        listeners.set(issuer, listener);
      }
      return listener;
    },
  };
}
