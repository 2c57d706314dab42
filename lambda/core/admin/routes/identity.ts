import { createRoute } from '@hono/zod-openapi';
import { PLAN_LIMITS } from '../../plans';
import { bearer, errors, json, routeModule } from '../openapi';
import { PlansSchema, WhoAmISchema } from '../schemas';

/** Who the caller is, and the plan table. Any authenticated caller. */
export function identityRoutes() {
  return routeModule()
    .openapi(createRoute({ method: 'get', path: '/whoami', ...bearer, responses: { 200: json(WhoAmISchema, 'The caller'), 401: errors[401] } }), (c) => {
      const p = c.get('principal');
      return c.json(
        p.kind === 'operator'
          ? ({ principal: 'operator' } as const)
          : ({ principal: 'key', orgId: p.key.orgId, keyId: p.key.keyId, role: p.key.role } as const),
        200,
      );
    })
    .openapi(createRoute({ method: 'get', path: '/plans', ...bearer, responses: { 200: json(PlansSchema, 'Plan limits'), 401: errors[401] } }), (c) =>
      c.json({ items: Object.entries(PLAN_LIMITS).map(([plan, limits]) => ({ ...limits, plan: plan as keyof typeof PLAN_LIMITS })) }, 200),
    );
}
