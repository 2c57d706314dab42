/**
 * The authorization server of each issuer: oidc-provider over the OAuth table, with the consent
 * page (and its identity provider sign-in) in front. The part of the OAuth runtime that loads
 * oidc-provider, Koa and openid-client, so oauth-runtime.ts requires it on the first request that
 * needs it: a local gateway nobody signs in to through OAuth does not carry it.
 */
import type { IncomingMessage } from 'node:http';
import { ApiKeyAuthenticator } from '../core/api-keys';
import { ApiError } from '../core/errors';
import { authorizationServerListener, createProvider, type NodeListener } from '../core/oauth/authorization-server';
import { consentHandler, isConsentPath } from '../core/oauth/consent';
import { type ConsentIdentityProvider, ExternalSignIn } from '../core/oauth/external-sign-in';
import type { GrantService } from '../core/oauth/grants';
import type { RegistrationLimit } from '../core/oauth/registration-limit';
import type { RegistryService } from '../core/registry-service';
import { clientMetadataFetch } from './client-metadata-fetch';
import type { DynamoDbOAuthStore } from './dynamodb-oauth-store';
import type { DynamoDbRegistryStore } from './dynamodb-registry-store';

export interface AuthorizationServersDeps {
  readonly store: DynamoDbOAuthStore;
  readonly registry: { readonly service: RegistryService; readonly store: DynamoDbRegistryStore };
  readonly grants: GrantService;
  readonly registrations: RegistrationLimit;
  readonly cookieKeys: readonly string[];
  readonly allowLoopback: boolean;
  readonly metadataCa?: string;
  readonly identityProvider?: ConsentIdentityProvider;
  readonly sourceIp: (req: IncomingMessage) => string;
  readonly requestId: (req: IncomingMessage) => string;
  readonly warn: (message: string, fields: Record<string, unknown>) => void;
}

/** A factory of the authorization server for an issuer, sharing what every issuer shares. */
export function authorizationServers(deps: AuthorizationServersDeps): (issuer: string) => NodeListener {
  const { store, grants } = deps;
  const { service, store: registryStore } = deps.registry;
  // The consent page re-reads the admin's key on every sign-in: a revoked key cannot approve.
  const adminKeys = new ApiKeyAuthenticator(registryStore, { alwaysReadRecord: true });
  const backingKey = async (keyId: string) => registryStore.getKey(keyId);
  const fetch = clientMetadataFetch({ allowLoopback: deps.allowLoopback, ca: deps.metadataCa });
  // One client of the identity provider for every issuer (its discovery document read once); a
  // plain-http provider only where loopback is allowed (local mode).
  const externalSignIn = deps.identityProvider
    ? new ExternalSignIn({ provider: deps.identityProvider, signingKey: deps.cookieKeys[0]!, allowInsecure: deps.allowLoopback })
    : undefined;

  return (issuer) => {
    const provider = createProvider({ issuer, adapter: (model) => store.adapterFor(model) as never, cookieKeys: deps.cookieKeys, backingKey, fetch: fetch as never });
    const consent = consentHandler({
      provider,
      issuer,
      formKey: deps.cookieKeys[0]!,
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
      sourceIp: deps.sourceIp,
      requestId: deps.requestId,
    });
    return authorizationServerListener(provider, { handles: isConsentPath, handle: consent }, { limit: deps.registrations, sourceIp: deps.sourceIp }, (error) =>
      deps.warn('oauth consent failed', { error: (error as Error).name }),
    );
  };
}
