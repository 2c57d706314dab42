import { z } from '@hono/zod-openapi';
import { ApiKeySchema, pageOf } from './schemas';

/** Grant ids as the consent page makes them (base64url); a bound, not the exact shape. */
export const GrantIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'is not a grant id');

/**
 * An OAuth grant as the admin API shows it: what an org admin approved for a client on the consent
 * page. Its MCP servers and policies are its backing key's scopes, and its use is the key's.
 */
export const GrantSchema = z
  .object({
    grantId: z.string(),
    orgId: z.string(),
    clientId: z.string().openapi({ description: 'A registered client id, or the URL of its client ID metadata document' }),
    clientName: z.string().openapi({ description: 'What the client calls itself (its registration or metadata document): not verified' }),
    keyId: z.string().openapi({ description: 'The backing key: its limits, usage and analytics are the grant\'s' }),
    scopes: ApiKeySchema.shape.scopes.openapi({ description: 'The MCP servers and tool/resource/prompt policies approved' }),
    createdAt: z.string(),
    revokedAt: z.string().optional(),
    lastUsedAt: z.string().optional(),
  })
  .openapi('OAuthGrant');

export const GrantPageSchema = pageOf(GrantSchema, 'OAuthGrantPage');

export type GrantView = z.infer<typeof GrantSchema>;
