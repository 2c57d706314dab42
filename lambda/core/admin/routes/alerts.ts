import { createRoute } from '@hono/zod-openapi';
import type { AlertService } from '../../alert-service';
import { diffFields } from '../audit-trail';
import { orgAdmin } from '../guards';
import { alertParams, bearer, body, errors, json, orgParams, routeModule } from '../openapi';
import { AlertListSchema, AlertSubscriptionSchema, CreateAlertSchema, ErrorSchema } from '../schemas';

const alertsUnavailable = { 501: json(ErrorSchema, 'Alerts are not configured in this deployment (`alerts_unavailable`)') };

/** Alert subscriptions of an org (email). Org admins and the operator. */
export function alertRoutes(alerts: AlertService) {
  const app = routeModule();
  app.use('/orgs/:orgId/alerts', orgAdmin);
  app.use('/orgs/:orgId/alerts/*', orgAdmin);
  return app
    .openapi(
      createRoute({
        method: 'post', path: '/orgs/{orgId}/alerts', ...bearer, request: { params: orgParams, body: body(CreateAlertSchema) },
        responses: {
          201: json(AlertSubscriptionSchema, 'Subscribed; in AWS the recipient must confirm from the email SNS sends'),
          ...errors,
          403: json(ErrorSchema, 'The credential may not do this, or the plan has no alerts (`plan_required`)'),
          409: json(ErrorSchema, 'The address is already subscribed, or the org has the most subscriptions allowed (`too_many_subscriptions`)'),
          ...alertsUnavailable,
        },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        const subscription = await c.get('audit').change({ orgId, action: 'alert.created', target: { type: 'alert', id: '(new)' } }, async () => {
          const created = await alerts.create(orgId, c.req.valid('json'));
          return { result: created, target: { type: 'alert', id: created.subscriptionId }, changes: diffFields(undefined, { ...created }, { ignore: ['subscriptionId', 'orgId'] }) };
        });
        return c.json(subscription, 201);
      },
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/alerts', ...bearer, request: { params: orgParams },
        responses: { 200: json(AlertListSchema, 'Alert subscriptions, oldest first'), ...errors, ...alertsUnavailable },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        return c.json({ items: await alerts.list(orgId) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete', path: '/orgs/{orgId}/alerts/{subscriptionId}', ...bearer, request: { params: alertParams },
        responses: { 204: { description: 'Unsubscribed and deleted' }, ...errors, ...alertsUnavailable },
      }),
      async (c) => {
        const { orgId, subscriptionId } = c.req.valid('param');
        await c.get('audit').change({ orgId, action: 'alert.deleted', target: { type: 'alert', id: subscriptionId } }, async () => {
          await alerts.remove(orgId, subscriptionId);
          return { result: undefined, changes: [] };
        });
        return c.body(null, 204);
      },
    );
}
