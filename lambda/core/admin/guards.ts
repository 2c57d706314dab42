/**
 * The admin API's guards, one per scope. Route modules install them on their path prefixes
 * (`app.use`), so no route under a prefix can be reached without its guard; they run before the
 * route's validators, so a caller that may not use a route gets 403 and learns nothing from
 * validation errors about what it would accept.
 */
import type { MiddlewareHandler } from 'hono';
import { forbidden } from '../errors';
import type { AdminEnv, Principal } from './openapi';

/** The deployment operator only. */
export const operatorOnly: MiddlewareHandler<AdminEnv> = async (c, next) => {
  requireOperator(c.get('principal'));
  await next();
};

/** The operator, or an admin key of the org in the path. Other orgs' data is never reachable. */
export const orgAdmin: MiddlewareHandler<AdminEnv> = async (c, next) => {
  requireOrgAdmin(c.get('principal'), c.req.param('orgId') ?? '');
  await next();
};

/**
 * For a body that may hold operator-only fields (`plan`, `planOverrides` of an org): an org admin
 * that sends any of them gets 403 `operator_required`, as if the whole route were the operator's.
 */
export function operatorFields(fields: readonly string[]): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    if (principal.kind === 'key' && /^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
      // Hono caches the parsed body, so the validator reads the same one; a malformed body is left
      // for the validator to report.
      const input: unknown = await c.req.json().catch(() => undefined);
      if (input !== null && typeof input === 'object' && fields.some((field) => Object.hasOwn(input, field))) requireOperator(principal);
    }
    await next();
  };
}

function requireOperator(principal: Principal): void {
  if (principal.kind !== 'operator') throw forbidden('operator_required', 'Only the operator may do this');
}

function requireOrgAdmin(principal: Principal, orgId: string): void {
  if (principal.kind === 'operator') return;
  if (principal.key.orgId !== orgId) throw forbidden('forbidden_org', 'This key belongs to another organisation');
  if (principal.key.role !== 'admin') throw forbidden('admin_role_required', 'This needs a key with the admin role');
}
