import { createRoute } from '@hono/zod-openapi';
import { ApiError } from '../../errors';
import type { ApiKey } from '../../model';
import type { GrantService } from '../../oauth/grants';
import { GrantIdSchema, GrantPageSchema, GrantSchema, type GrantView } from '../grant-schemas';
import { orgAdmin } from '../guards';
import { bearer, errors, json, orgParams, routeModule } from '../openapi';
import { ErrorSchema, PageQuerySchema } from '../schemas';

/** Where the grants come from: the service, or a lookup for a host that builds it after the admin app. */
export type GrantSource = GrantService | (() => GrantService | undefined);

export const grantParams = orgParams.extend({ grantId: GrantIdSchema.openapi({ param: { name: 'grantId', in: 'path' } }) });
const grantErrors = {
  ...errors,
  501: json(ErrorSchema, 'OAuth is not configured in this deployment (`oauth_unavailable`)'),
};

/** The grants of `source` now, or undefined when this deployment has none. */
export function grantsOf(source: GrantSource | undefined): GrantService | undefined {
  return typeof source === 'function' ? source() : source;
}

/** A grant as the API shows it, from its backing key. */
export function grantView(key: ApiKey): GrantView {
  const { clientId, clientName, grantId } = key.oauth!;
  // The schemas' types are mutable; the key is only read.
  const scopes = key.scopes as GrantView['scopes'];
  return {
    grantId,
    orgId: key.orgId,
    clientId,
    clientName,
    keyId: key.keyId,
    scopes,
    createdAt: key.createdAt,
    ...(key.revokedAt ? { revokedAt: key.revokedAt } : {}),
    ...(key.lastUsedAt ? { lastUsedAt: key.lastUsedAt } : {}),
  };
}

/**
 * OAuth grants of an org: what its admins approved for clients on the consent page.
 * Org admins and the operator. A grant is a key behind the scenes; revoking it revokes the key
 * and every token of the grant, recorded as `grant.revoked`.
 */
export function grantRoutes(source: GrantSource | undefined) {
  const grants = (): GrantService => {
    const found = grantsOf(source);
    if (!found) throw new ApiError(501, 'oauth_unavailable', 'OAuth is not configured in this deployment');
    return found;
  };
  const app = routeModule();
  app.use('/orgs/:orgId/grants', orgAdmin);
  app.use('/orgs/:orgId/grants/*', orgAdmin);
  return app
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/grants', ...bearer, request: { params: orgParams, query: PageQuerySchema },
        description: 'The org\'s OAuth grants, revoked ones included, in the order keys are listed. A page may hold fewer than `limit` with a `nextCursor`: follow it.',
        responses: { 200: json(GrantPageSchema, 'OAuth grants'), ...grantErrors },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        const page = await grants().list(orgId, c.req.valid('query'));
        return c.json({ items: page.items.map(grantView), ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
      },
    )
    .openapi(
      createRoute({ method: 'get', path: '/orgs/{orgId}/grants/{grantId}', ...bearer, request: { params: grantParams }, responses: { 200: json(GrantSchema, 'The grant'), ...grantErrors } }),
      async (c) => {
        const { orgId, grantId } = c.req.valid('param');
        return c.json(grantView(await grants().get(orgId, grantId)), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post', path: '/orgs/{orgId}/grants/{grantId}/revoke', ...bearer, request: { params: grantParams },
        description: 'Revokes the grant: its backing key (the gateway refuses its access tokens within the key cache bound) and every token of it (no refresh). Revoking a revoked grant changes nothing.',
        responses: { 200: json(GrantSchema, 'Revoked'), ...grantErrors },
      }),
      async (c) => {
        const { orgId, grantId } = c.req.valid('param');
        const { spec, apply } = grants().revocation(orgId, grantId);
        return c.json(grantView(await c.get('audit').change(spec, apply)), 200);
      },
    );
}
