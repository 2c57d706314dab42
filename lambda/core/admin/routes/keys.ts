import { createRoute } from '@hono/zod-openapi';
import type { KeyCreatedEvent, KeyRevokedEvent } from '../../events/catalog';
import type { RegistryService } from '../../registry-service';
import { diffFields } from '../audit-trail';
import { type GrantSource, grantsOf } from './grants';
import { orgAdmin } from '../guards';
import { bearer, body, errors, idempotencyHeader, json, keyParams, orgParams, routeModule } from '../openapi';
import { ApiKeySchema, CreatedKeySchema, CreateKeySchema, pageOf, PageQuerySchema } from '../schemas';

/**
 * API keys of an org (never their secrets, except once at creation). Org admins and the operator.
 * The backing keys of OAuth grants are listed too (marked `oauth`: they count against maxApiKeys);
 * revoking one revokes its grant, tokens included, as the grant route does.
 */
export function keyRoutes(service: RegistryService, grantSource?: GrantSource) {
  const app = routeModule();
  app.use('/orgs/:orgId/keys', orgAdmin);
  app.use('/orgs/:orgId/keys/*', orgAdmin);
  return app
    .openapi(
      createRoute({
        method: 'post', path: '/orgs/{orgId}/keys', ...bearer,
        request: { params: orgParams, headers: idempotencyHeader, body: body(CreateKeySchema) },
        responses: { 201: json(CreatedKeySchema, 'Created; the secret is shown only here'), ...errors },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        const actor = c.get('principal').kind === 'operator' ? 'operator' : 'org-admin';
        // The key id is made by the service: the entry's target is completed from the result.
        const created = await c.get('audit').change({ orgId, action: 'key.created', target: { type: 'key', id: '(new)' } }, async () => {
          const issued = await service.createKey(orgId, c.req.valid('json'), c.req.valid('header')['idempotency-key'], actor);
          const { key } = issued;
          return {
            result: issued,
            target: { type: 'key', id: key.keyId },
            changes: diffFields(undefined, { ...key }, { ignore: ['keyId', 'orgId'] }),
            events: [{ type: 'key.created', orgId, at: key.createdAt, keyId: key.keyId, name: key.name, role: key.role } satisfies KeyCreatedEvent],
          };
        });
        c.header('Cache-Control', 'no-store');
        return c.json(created, 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/keys', ...bearer, request: { params: orgParams, query: PageQuerySchema },
        responses: { 200: json(pageOf(ApiKeySchema, 'ApiKeyPage'), 'API keys (never their secrets)'), ...errors },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        return c.json(await service.listKeys(orgId, c.req.valid('query')), 200);
      },
    )
    .openapi(
      createRoute({ method: 'get', path: '/orgs/{orgId}/keys/{keyId}', ...bearer, request: { params: keyParams }, responses: { 200: json(ApiKeySchema, 'The key'), ...errors } }),
      async (c) => {
        const { orgId, keyId } = c.req.valid('param');
        return c.json(await service.getKey(orgId, keyId), 200);
      },
    )
    .openapi(
      createRoute({ method: 'post', path: '/orgs/{orgId}/keys/{keyId}/revoke', ...bearer, request: { params: keyParams }, responses: { 200: json(ApiKeySchema, 'Revoked'), ...errors } }),
      async (c) => {
        const { orgId, keyId } = c.req.valid('param');
        const grants = grantsOf(grantSource);
        const found = grants ? await service.getKey(orgId, keyId) : undefined;
        if (grants && found?.oauth) {
          // A grant's backing key: the grant's revocation (its tokens go too), recorded as `grant.revoked`.
          const { spec, apply } = grants.revocation(orgId, found.oauth.grantId, keyId);
          return c.json(await c.get('audit').change(spec, apply), 200);
        }
        // Without OAuth in this deployment a backing key is revoked as a key: its tokens are
        // refused all the same (the gateway and the token endpoint check the backing key).
        const key = await c.get('audit').change({ orgId, action: 'key.revoked', target: { type: 'key', id: keyId } }, async () => {
          const before = await service.getKey(orgId, keyId);
          const after = await service.revokeKey(orgId, keyId);
          return {
            result: after,
            // Revoking a revoked key changes nothing: no second entry or event.
            changed: before.revokedAt === undefined,
            changes: diffFields({ ...before }, { ...after }, { ignore: ['lastUsedAt'] }),
            events: [{ type: 'key.revoked', orgId, at: after.revokedAt!, keyId, name: after.name, role: after.role } satisfies KeyRevokedEvent],
          };
        });
        return c.json(key, 200);
      },
    );
}
