import { z } from '@hono/zod-openapi';
import {
  DEFAULT_ROTATION_OVERLAP_SECONDS,
  ENDPOINT_ID_PATTERN,
  MAX_DELIVERY_PAGE,
  MAX_DESCRIPTION_LENGTH,
  MAX_EVENT_TYPES,
  MAX_ROTATION_OVERLAP_SECONDS,
} from '../webhooks/endpoints';

/** The admin API's webhook schemas. The service (webhooks/endpoints.ts) checks URLs and event types again, with its own codes. */

export const WebhookIdSchema = z.string().regex(ENDPOINT_ID_PATTERN, 'is not a webhook endpoint id');
export const DeliveryIdSchema = z.string().regex(/^msg_[a-z0-9]{32}$/, 'is not a delivery id');

const Url = z.string().min(1).max(2048).openapi({ example: 'https://hooks.example.com/plexmcp' });
const EventTypes = z
  .array(z.string().min(1).max(128))
  .max(MAX_EVENT_TYPES)
  .openapi({ description: 'Event types to deliver (exact, or `prefix.*`); empty or absent: every type', example: ['key.revoked', 'mcp.*'] });
const Description = z.string().max(MAX_DESCRIPTION_LENGTH);

export const CreateWebhookSchema = z
  .object({ url: Url, eventTypes: EventTypes.optional(), enabled: z.boolean().optional(), description: Description.optional() })
  .strict()
  .openapi('CreateWebhook', {
    description: 'A webhook endpoint (plans with `maxWebhookEndpoints` > 0). https only, a public address (checked again at every delivery), no redirects followed.',
  });

export const UpdateWebhookSchema = z
  .object({ url: Url.optional(), eventTypes: EventTypes.optional(), enabled: z.boolean().optional(), description: Description.nullable().optional() })
  .strict()
  .openapi('UpdateWebhook', { description: 'Changes; `enabled: true` re-enables an endpoint delivery disabled. `description: null` removes it.' });

export const RotateSecretSchema = z
  .object({
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(MAX_ROTATION_OVERLAP_SECONDS)
      .optional()
      .openapi({ description: `How long the previous secret keeps signing too (two signatures); default ${DEFAULT_ROTATION_OVERLAP_SECONDS}` }),
  })
  .strict()
  .openapi('RotateWebhookSecret');

export const WebhookEndpointSchema = z
  .object({
    orgId: z.string(),
    endpointId: z.string(),
    url: z.string(),
    eventTypes: z.array(z.string()),
    enabled: z.boolean(),
    description: z.string().optional(),
    createdAt: z.string(),
    updatedAt: z.string(),
    disabledReason: z.enum(['gone', 'failing']).optional().openapi({ description: '410 Gone, or failing for 5 days; absent when an admin disabled it' }),
    failingSince: z.string().optional(),
  })
  .openapi('WebhookEndpoint');

export const CreatedWebhookSchema = z
  .object({ endpoint: WebhookEndpointSchema, secret: z.string().openapi({ description: 'The signing secret (`whsec_…`), shown only here' }) })
  .openapi('CreatedWebhook');

export const RotatedSecretSchema = z
  .object({ secret: z.string().openapi({ description: 'The new signing secret, shown only here' }), previousSecretExpiresAt: z.string().optional() })
  .openapi('RotatedWebhookSecret');

export const WebhookListSchema = z.object({ items: z.array(WebhookEndpointSchema) }).openapi('WebhookEndpointList');

export const DeliverySchema = z
  .object({
    deliveryId: z.string().openapi({ description: 'The `webhook-id` header of every attempt' }),
    endpointId: z.string(),
    eventType: z.string(),
    state: z.enum(['pending', 'delivered', 'failed', 'gone']),
    attempts: z.number().int(),
    nextAttemptAt: z.string().optional(),
    enqueuedAt: z.string(),
    redeliveries: z.number().int(),
    attemptLog: z.array(z.object({ at: z.string(), status: z.number().int().optional(), latencyMs: z.number(), errorClass: z.string().optional() })),
  })
  .openapi('WebhookDelivery', { description: 'A delivery and its attempts (time, status, latency, error class); never its body' });

export const DeliveryPageSchema = z.object({ items: z.array(DeliverySchema), cursor: z.string().optional() }).openapi('WebhookDeliveryPage');

export const DeliveryQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_DELIVERY_PAGE).optional(),
  cursor: z.string().max(512).optional(),
});
