/**
 * What every admin route module shares: the app's context variables, the OpenAPI building blocks
 * and the factory for a route module's app (with the validation hook the whole API uses).
 */
import { OpenAPIHono, z } from '@hono/zod-openapi';
import { ApiError } from '../errors';
import type { ApiKey } from '../model';
import type { AuditRecorder } from './audit-trail';
import { AlertIdSchema, ErrorSchema, KeyIdSchema, OrgIdSchema, SlugSchema } from './schemas';

export type Principal = { readonly kind: 'operator' } | { readonly kind: 'key'; readonly key: ApiKey };

/** The app's context variables. */
export type AdminEnv = {
  Variables: { requestId: string; principal: Principal; errorCode: string; sourceIp: string; audit: AuditRecorder };
};

/** Largest request body the admin API reads. */
export const ADMIN_MAX_BODY_BYTES = 64 * 1024;

/** A route module's app: validation failures answer 400 `validation_failed` with the offending fields. */
export function routeModule(): OpenAPIHono<AdminEnv> {
  return new OpenAPIHono<AdminEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(
          400,
          'validation_failed',
          'Request validation failed',
          result.error.issues.map((issue) => ({ path: issue.path.join('.') || '(body)', message: issue.message })),
        );
      }
    },
  });
}

export const bearer = { security: [{ bearer: [] }] };
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});
export const body = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
export const errors = {
  400: json(ErrorSchema, 'Invalid request; `details` lists the offending fields'),
  401: json(ErrorSchema, 'Missing or invalid credentials'),
  403: json(ErrorSchema, 'The credential may not do this (checked before the body is validated), or a foreign `Origin` (`origin_not_allowed`)'),
  404: json(ErrorSchema, 'Not found'),
  409: json(ErrorSchema, 'Conflict'),
  413: json(ErrorSchema, `Body larger than ${ADMIN_MAX_BODY_BYTES} bytes`),
  503: json(ErrorSchema, 'Another change of this organisation is still being recorded in the audit log (`audit_busy`); retry'),
};
export const idempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 visible ASCII characters')
    .optional()
    .openapi({ description: 'Retries with the same key and body return the first result instead of creating twice.' }),
});
export const orgParams = z.object({ orgId: OrgIdSchema.openapi({ param: { name: 'orgId', in: 'path' } }) });
export const mcpParams = orgParams.extend({ slug: SlugSchema.openapi({ param: { name: 'slug', in: 'path' } }) });
export const alertParams = orgParams.extend({ subscriptionId: AlertIdSchema.openapi({ param: { name: 'subscriptionId', in: 'path' } }) });
export const keyParams = orgParams.extend({ keyId: KeyIdSchema.openapi({ param: { name: 'keyId', in: 'path' } }) });
