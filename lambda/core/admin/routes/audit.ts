import { createRoute, z } from '@hono/zod-openapi';
import type { DigestStore } from '../../audit/digest-producer';
import { GENESIS_HASH, SYSTEM_AUDIT_SCOPE } from '../../audit/entry';
import type { AuditJournal } from '../../audit/journal';
import { verifyStoredChain } from '../../audit/stored-verify';
import { ApiError } from '../../errors';
import { operatorOnly, orgAdmin } from '../guards';
import { bearer, errors, json, orgParams, routeModule } from '../openapi';
import { ErrorSchema } from '../schemas';
import { type AuditEntrySchema, AuditDigestListSchema, AuditHeadSchema, AuditPageSchema, AuditQuerySchema, AuditVerificationSchema } from '../audit-schemas';

/** The signed digests, and the public key that verifies them. */
export interface AuditDigestSource {
  readonly store: Pick<DigestStore, 'list'>;
  publicKeyPem(): Promise<string>;
}

const digestsUnavailable = { 501: json(ErrorSchema, 'Digests are not produced in this deployment (`digests_unavailable`)') };
const DIGEST_SCOPES = ['_system', '*'] as const;

/**
 * Reading the audit log: an org's chain (its admins and the operator) and the system chain
 * (refused requests; the operator). Nothing here or anywhere else updates or deletes an entry.
 */
export function auditRoutes(journal: AuditJournal, digestSource?: AuditDigestSource) {
  const digests = async (scope: string) => {
    if (!digestSource) throw new ApiError(501, 'digests_unavailable', 'Digests are not produced in this deployment');
    const [items, publicKeyPem] = await Promise.all([digestSource.store.list(scope), digestSource.publicKeyPem()]);
    // The schema's types are mutable; the digests are only read.
    return { publicKeyPem, items: items as unknown as z.infer<typeof AuditDigestListSchema>['items'] };
  };
  const page = async (scope: string, q: { from?: string; to?: string; action?: string; cursor?: string; limit: number }) => {
    const result = await journal.list(scope, {
      fromSeq: q.cursor === undefined ? 1 : Number(q.cursor),
      fromTime: q.from === undefined ? undefined : new Date(q.from).toISOString(),
      toTime: q.to === undefined ? undefined : new Date(q.to).toISOString(),
      action: q.action,
      limit: q.limit,
    });
    // The schema's types are mutable; the entries are only read.
    return { items: result.entries as unknown as z.infer<typeof AuditEntrySchema>[], ...(result.nextSeq === undefined ? {} : { nextCursor: String(result.nextSeq) }) };
  };
  const head = async (scope: string) => {
    const h = await journal.head(scope);
    return h ? { seq: h.seq, hash: h.hash } : { seq: 0, hash: GENESIS_HASH };
  };
  const verification = async (scope: string) => {
    const result = await verifyStoredChain(scope, {
      journal,
      digests: digestSource && (async () => {
        const [items, publicKeyPem] = await Promise.all([digestSource.store.list(scope), digestSource.publicKeyPem()]);
        return { items, publicKeyPem };
      }),
    });
    // The schema's types are mutable; the report is only read.
    return result as unknown as z.infer<typeof AuditVerificationSchema>;
  };
  const app = routeModule();
  app.use('/orgs/:orgId/audit', orgAdmin);
  app.use('/orgs/:orgId/audit/*', orgAdmin);
  app.use('/audit', operatorOnly);
  app.use('/audit/*', operatorOnly);
  return app
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/audit', ...bearer, request: { params: orgParams, query: AuditQuerySchema },
        description: 'The org’s audit entries in sequence order, filtered by time range and action.',
        responses: { 200: json(AuditPageSchema, 'Audit entries'), ...errors },
      }),
      async (c) => c.json(await page(c.req.valid('param').orgId, c.req.valid('query')), 200),
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/audit/head', ...bearer, request: { params: orgParams },
        description: 'Where the org’s chain ends now: `plexmcp audit verify` compares an export against it.',
        responses: { 200: json(AuditHeadSchema, 'The chain head'), ...errors },
      }),
      async (c) => c.json(await head(c.req.valid('param').orgId), 200),
    )
    .openapi(
      createRoute({
        method: 'get', path: '/audit', ...bearer, request: { query: AuditQuerySchema },
        description: `The system chain (\`${SYSTEM_AUDIT_SCOPE}\`): refused admin requests (bursts counted). Operator only.`,
        responses: { 200: json(AuditPageSchema, 'Audit entries'), ...errors },
      }),
      async (c) => c.json(await page(SYSTEM_AUDIT_SCOPE, c.req.valid('query')), 200),
    )
    .openapi(
      createRoute({
        method: 'get', path: '/audit/head', ...bearer,
        responses: { 200: json(AuditHeadSchema, 'The system chain head'), ...errors },
      }),
      async (c) => c.json(await head(SYSTEM_AUDIT_SCOPE), 200),
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/audit/verification', ...bearer, request: { params: orgParams },
        description: 'Verifies the org’s chain as stored, as `plexmcp audit verify` does: every entry’s hash and link, every signed digest against the public key, and that the chain ends at the head.',
        responses: { 200: json(AuditVerificationSchema, 'The verification result (also when it found a problem)'), ...errors },
      }),
      async (c) => c.json(await verification(c.req.valid('param').orgId), 200),
    )
    .openapi(
      createRoute({
        method: 'get', path: '/audit/verification', ...bearer,
        description: 'Verifies the system chain as stored (see `/orgs/{orgId}/audit/verification`). Operator only.',
        responses: { 200: json(AuditVerificationSchema, 'The verification result (also when it found a problem)'), ...errors },
      }),
      async (c) => c.json(await verification(SYSTEM_AUDIT_SCOPE), 200),
    )
    .openapi(
      createRoute({
        method: 'get', path: '/orgs/{orgId}/audit/digests', ...bearer, request: { params: orgParams },
        description: 'The org’s signed digests, oldest first, and the public key that verifies them (`plexmcp audit verify`).',
        responses: { 200: json(AuditDigestListSchema, 'Signed digests'), ...errors, ...digestsUnavailable },
      }),
      async (c) => c.json(await digests(c.req.valid('param').orgId), 200),
    )
    .openapi(
      createRoute({
        method: 'get', path: '/audit/digests', ...bearer,
        request: { query: z.object({ scope: z.enum(DIGEST_SCOPES).default('_system').openapi({ description: '`_system` (the system chain) or `*` (the deployment digests over every org’s)' }) }) },
        responses: { 200: json(AuditDigestListSchema, 'Signed digests'), ...errors, ...digestsUnavailable },
      }),
      async (c) => c.json(await digests(c.req.valid('query').scope), 200),
    );
}
