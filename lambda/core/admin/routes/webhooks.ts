import { createRoute, z } from '@hono/zod-openapi';
import { ApiError } from '../../errors';
import { endpointAuditChanges, type WebhookService } from '../../webhooks/endpoints';
import { orgAdmin } from '../guards';
import { bearer, body, errors, json, orgParams, routeModule } from '../openapi';
import { ErrorSchema } from '../schemas';
import {
  CreatedWebhookSchema,
  CreateWebhookSchema,
  DeliveryIdSchema,
  DeliveryPageSchema,
  DeliveryQuerySchema,
  DeliverySchema,
  RotatedSecretSchema,
  RotateSecretSchema,
  UpdateWebhookSchema,
  WebhookEndpointSchema,
  WebhookIdSchema,
  WebhookListSchema,
} from '../webhook-schemas';

const endpointParams = orgParams.extend({ endpointId: WebhookIdSchema.openapi({ param: { name: 'endpointId', in: 'path' } }) });
const deliveryParams = orgParams.extend({ deliveryId: DeliveryIdSchema.openapi({ param: { name: 'deliveryId', in: 'path' } }) });
const webhookErrors = {
  ...errors,
  403: json(ErrorSchema, 'The credential may not do this, or the plan has no webhooks (`plan_required`)'),
  409: json(ErrorSchema, 'The org has the most endpoints its plan allows (`too_many_webhooks`), the endpoint is disabled (`webhook_disabled`), or the delivery is not failed (`delivery_not_failed`)'),
  501: json(ErrorSchema, 'Webhooks are not configured in this deployment (`webhooks_unavailable`)'),
};
// The schemas' types are mutable; the service's views are only read.
const view = <T>(value: unknown) => value as T;
type Endpoint = z.infer<typeof WebhookEndpointSchema>;
type Delivery = z.infer<typeof DeliverySchema>;

/**
 * Webhook endpoints of an org and their deliveries (Standard Webhooks; docs/webhooks.md). Org
 * admins and the operator. Secrets are shown once, at creation and rotation, and are audited as
 * "changed" only.
 */
export function webhookRoutes(webhooks: WebhookService | undefined) {
  const service = (): WebhookService => {
    if (!webhooks) throw new ApiError(501, 'webhooks_unavailable', 'Webhooks are not configured in this deployment');
    return webhooks;
  };
  const app = routeModule();
  app.use('/orgs/:orgId/webhooks', orgAdmin);
  app.use('/orgs/:orgId/webhooks/*', orgAdmin);
  return app
    .openapi(
      createRoute({
        method: 'post', path: '/orgs/{orgId}/webhooks', ...bearer, request: { params: orgParams, body: body(CreateWebhookSchema) },
        responses: { 201: json(CreatedWebhookSchema, 'Created; the signing secret is shown only here'), ...webhookErrors },
      }),
      async (c) => {
        const { orgId } = c.req.valid('param');
        const created = await c.get('audit').change({ orgId, action: 'webhook.created', target: { type: 'webhook', id: '(new)' } }, async () => {
          const result = await service().create(orgId, c.req.valid('json'));
          return { result, target: { type: 'webhook', id: result.endpoint.endpointId }, changes: endpointAuditChanges(undefined, result.endpoint) };
        });
        c.header('Cache-Control', 'no-store');
        return c.json({ endpoint: view<Endpoint>(created.endpoint), secret: created.secret }, 201);
      },
    )
    .openapi(
      createRoute({ method: 'get', path: '/orgs/{orgId}/webhooks', ...bearer, request: { params: orgParams }, responses: { 200: json(WebhookListSchema, 'Webhook endpoints'), ...webhookErrors } }),
      async (c) => c.json({ items: view<Endpoint[]>(await service().list(c.req.valid('param').orgId)) }, 200),
    )
    .openapi(
      createRoute({ method: 'get', path: '/orgs/{orgId}/webhooks/{endpointId}', ...bearer, request: { params: endpointParams }, responses: { 200: json(WebhookEndpointSchema, 'The endpoint'), ...webhookErrors } }),
      async (c) => {
        const { orgId, endpointId } = c.req.valid('param');
        return c.json(view<Endpoint>(await service().get(orgId, endpointId)), 200);
      },
    )
    .openapi(
      createRoute({
        method: 'patch', path: '/orgs/{orgId}/webhooks/{endpointId}', ...bearer, request: { params: endpointParams, body: body(UpdateWebhookSchema) },
        responses: { 200: json(WebhookEndpointSchema, 'Updated'), ...webhookErrors },
      }),
      async (c) => {
        const { orgId, endpointId } = c.req.valid('param');
        const after = await c.get('audit').change({ orgId, action: 'webhook.updated', target: { type: 'webhook', id: endpointId } }, async () => {
          const { before, after } = await service().update(orgId, endpointId, c.req.valid('json'));
          return { result: after, changes: endpointAuditChanges(before, after) };
        });
        return c.json(view<Endpoint>(after), 200);
      },
    )
    .openapi(
      createRoute({ method: 'delete', path: '/orgs/{orgId}/webhooks/{endpointId}', ...bearer, request: { params: endpointParams }, responses: { 204: { description: 'Removed; pending deliveries to it are dropped' }, ...webhookErrors } }),
      async (c) => {
        const { orgId, endpointId } = c.req.valid('param');
        await c.get('audit').change({ orgId, action: 'webhook.deleted', target: { type: 'webhook', id: endpointId } }, async () => {
          const removed = await service().remove(orgId, endpointId);
          return { result: undefined, changes: endpointAuditChanges(removed, undefined) };
        });
        return c.body(null, 204);
      },
    )
    .openapi(
      createRoute({
        method: 'post', path: '/orgs/{orgId}/webhooks/{endpointId}/rotate-secret', ...bearer, request: { params: endpointParams, body: { ...body(RotateSecretSchema), required: false } },
        responses: { 200: json(RotatedSecretSchema, 'The new secret, shown only here; the previous one keeps signing until previousSecretExpiresAt'), ...webhookErrors },
      }),
      async (c) => {
        const { orgId, endpointId } = c.req.valid('param');
        const rotated = await c.get('audit').change({ orgId, action: 'webhook.secret.rotated', target: { type: 'webhook', id: endpointId } }, async () => {
          const endpoint = await service().get(orgId, endpointId);
          const result = await service().rotateSecret(orgId, endpointId, c.req.valid('json') ?? {});
          return { result, changes: endpointAuditChanges(endpoint, endpoint, { secretChanged: true }) };
        });
        c.header('Cache-Control', 'no-store');
        return c.json(rotated, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post', path: '/orgs/{orgId}/webhooks/{endpointId}/test', ...bearer, request: { params: endpointParams },
        description: 'Queues a `webhook.test` event to this endpoint only.',
        responses: { 202: json(DeliverySchema, 'Queued'), ...webhookErrors },
      }),
      async (c) => {
        const { orgId, endpointId } = c.req.valid('param');
        const delivery = await c.get('audit').change({ orgId, action: 'webhook.tested', target: { type: 'webhook', id: endpointId } }, async () => ({
          result: await service().sendTest(orgId, endpointId),
          changes: [],
        }));
        return c.json(view<Delivery>(delivery), 202);
      },
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/webhooks/{endpointId}/deliveries', ...bearer, request: { params: endpointParams, query: DeliveryQuerySchema },
        description: 'Deliveries to this endpoint, newest first, with every attempt (time, status, latency, error class).',
        responses: { 200: json(DeliveryPageSchema, 'Deliveries'), ...webhookErrors },
      }),
      async (c) => {
        const { orgId, endpointId } = c.req.valid('param');
        const page = await service().listDeliveries(orgId, endpointId, c.req.valid('query'));
        return c.json({ items: view<Delivery[]>(page.items), ...(page.cursor ? { cursor: page.cursor } : {}) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post', path: '/orgs/{orgId}/webhooks/deliveries/{deliveryId}/redeliver', ...bearer, request: { params: deliveryParams },
        description: 'Queues a failed (or gone) delivery again: a new series of attempts with the same `webhook-id`.',
        responses: { 202: json(DeliverySchema, 'Queued'), ...webhookErrors },
      }),
      async (c) => {
        const { orgId, deliveryId } = c.req.valid('param');
        const delivery = await c.get('audit').change({ orgId, action: 'webhook.redelivered', target: { type: 'delivery', id: deliveryId } }, async () => ({
          result: await service().redeliver(orgId, deliveryId),
          changes: [],
        }));
        return c.json(view<Delivery>(delivery), 202);
      },
    );
}
