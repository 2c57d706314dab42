import { createRoute, z } from '@hono/zod-openapi';
import { eventSchemas } from '../../events/catalog';
import { PLAN_LIMITS } from '../../plans';
import { bearer, errors, json, routeModule } from '../openapi';
import { PlansSchema, WhoAmISchema } from '../schemas';

const EventCatalogSchema = z
  .object({ items: z.array(z.object({ type: z.string(), schema: z.record(z.string(), z.unknown()).openapi({ description: 'JSON Schema (draft 2020-12) of the event' }) })) })
  .openapi('EventCatalog');

/** Who the caller is, the plan table and the event catalog. Any authenticated caller. */
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
    )
    .openapi(
      createRoute({
        method: 'get', path: '/events', ...bearer,
        description: 'Every event type on the bus and in webhooks, with the JSON Schema each delivery’s event matches (docs/events.md).',
        responses: { 200: json(EventCatalogSchema, 'The event catalog'), 401: errors[401] },
      }),
      (c) => c.json({ items: Object.entries(eventSchemas()).map(([type, schema]) => ({ type, schema: schema as Record<string, unknown> })) }, 200),
    );
}
