import { z } from '@hono/zod-openapi';

/** The admin API's audit log schemas (entries as the store holds them; docs/audit.md). */

// Any JSON value. Not a recursive (z.lazy) schema: the OpenAPI generator cannot walk one, and
// these schemas only describe answers, never validate input.
const AuditValueSchema = z.unknown().openapi({ description: 'The field’s value (any JSON)' });

export const AuditEntrySchema = z
  .object({
    orgId: z.string(),
    seq: z.number().int().positive(),
    time: z.string().openapi({ example: '2026-12-02T10:00:00.000Z' }),
    actor: z.union([
      z.object({ kind: z.literal('operator') }),
      z.object({ kind: z.literal('key'), keyId: z.string(), name: z.string() }),
      z.object({ kind: z.literal('user'), issuer: z.string(), subject: z.string(), name: z.string() }).openapi({ description: 'An org admin signed in at the identity provider (OAuth consent)' }),
      z.object({ kind: z.literal('anonymous') }),
    ]),
    sourceIp: z.string(),
    requestId: z.string(),
    action: z.string().openapi({ example: 'key.revoked' }),
    target: z.object({ type: z.string(), id: z.string() }),
    changes: z.array(
      z.object({ field: z.string(), old: AuditValueSchema.optional(), new: AuditValueSchema.optional(), secret: z.literal(true).optional() }).openapi({
        description: 'One changed field; a secret field has `secret: true` and no values.',
      }),
    ),
    outcome: z.literal('unknown').optional().openapi({ description: "Only when the writer stopped before recording whether its change was committed" }),
    prevHash: z.string().regex(/^[0-9a-f]{64}$/),
    hash: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .openapi('AuditEntry');

export const AuditPageSchema = z
  .object({
    items: z.array(AuditEntrySchema),
    nextCursor: z.string().optional().openapi({ description: 'Pass as `cursor` for the next page; absent on the last page' }),
  })
  .openapi('AuditPage');

export const AuditHeadSchema = z
  .object({ seq: z.number().int().nonnegative(), hash: z.string() })
  .openapi('AuditHead', { description: 'The last sequence number and hash of the chain (seq 0 and the genesis hash before the first entry)' });

const Instant = z.string().datetime({ offset: true }).openapi({ example: '2026-12-01T00:00:00Z' });

export const AuditQuerySchema = z.object({
  from: Instant.optional().openapi({ description: 'Entries at or after this instant' }),
  to: Instant.optional().openapi({ description: 'Entries before this instant' }),
  action: z.string().regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'must be an action such as key.revoked').optional(),
  cursor: z.string().regex(/^[1-9][0-9]{0,15}$/, 'is not a cursor from this API').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const AuditDigestSchema = z
  .object({
    n: z.number().int().positive(),
    digest: z.object({
      scope: z.string(),
      fromSeq: z.number().int(),
      toSeq: z.number().int(),
      lastHash: z.string(),
      previousDigestHash: z.string(),
      createdAt: z.string(),
    }),
    signature: z.string().openapi({ description: 'Base64 DER ECDSA P-256 / SHA-256 signature over the canonical JSON of `digest`' }),
    digestHash: z.string(),
    covers: z.array(z.object({ scope: z.string(), n: z.number().int(), digestHash: z.string() })).optional(),
  })
  .openapi('AuditDigest');

export const AuditDigestListSchema = z
  .object({
    publicKeyPem: z.string().openapi({ description: 'SPKI PEM of the signing key (the KMS key in AWS)' }),
    items: z.array(AuditDigestSchema),
  })
  .openapi('AuditDigestList');

const ChainPointSchema = z.object({ seq: z.number().int().nonnegative(), hash: z.string() });

export const AuditVerificationSchema = z
  .object({
    ok: z.boolean().openapi({ description: 'The whole chain verified: every entry intact and linked, every digest valid, and the walk ends at the store’s head' }),
    entries: z.number().int().nonnegative().openapi({ description: 'Entries walked' }),
    lastSeq: z.number().int().nonnegative().openapi({ description: 'The seq of the last entry walked (0 for an empty chain)' }),
    head: ChainPointSchema.openapi({ description: 'The store’s head, read after the walk' }),
    truncated: z.boolean().openapi({ description: 'The chain is longer than this API walks at once: only its first `entries` (and the digests within them) were checked, and `ok` is false. `plexmcp audit verify` checks the whole chain.' }),
    problem: z
      .object({
        kind: z.enum(['altered', 'removed', 'reordered', 'inserted', 'broken-link', 'bad-signature', 'hash-mismatch', 'range-gap', 'chain-break', 'malformed', 'head-mismatch']),
        seq: z.number().int().nonnegative().optional().openapi({ description: 'The entry the problem is about' }),
        digest: z.number().int().positive().optional().openapi({ description: 'The digest (its number n) the problem is about' }),
        position: z.number().int().positive().optional().openapi({ description: 'For `malformed`: the position of the unreadable item in the walk' }),
      })
      .optional()
      .openapi({ description: 'The first problem found' }),
    digests: z.union([
      z.object({ available: z.literal(false) }).openapi({ description: 'This deployment makes no signed digests: the chain was checked on its own' }),
      z.object({
        available: z.literal(true),
        checked: z.number().int().nonnegative().openapi({ description: 'Digests whose signature and link were checked against the public key' }),
        valid: z.boolean().openapi({ description: 'No digest problem' }),
        signedThroughSeq: z.number().int().nonnegative().optional().openapi({ description: 'The highest seq a valid signed digest vouches for' }),
        latest: z.object({ n: z.number().int().positive(), toSeq: z.number().int().nonnegative(), createdAt: z.string() }).optional(),
      }),
    ]),
    verifiedAt: z.string().openapi({ example: '2026-12-02T10:00:00.000Z' }),
  })
  .openapi('AuditVerification');
