import { createHash } from 'node:crypto';

/**
 * The OAuth table: what the authorization server (oidc-provider) persists through its Adapter,
 * and where the gateway finds access tokens. Shared by the store, the local engine and the CDK
 * construct so that all create exactly the same table.
 *
 *   item  pk=<Model>#<sha256(id) base64url>   e.g. AccessToken#3q2-…, Client#…, Session#…
 *         payload    the model's payload as JSON text, with every occurrence of the id blanked out
 *         expiresAt  epoch seconds, when the model has a lifetime (DynamoDB TTL deletes it later;
 *                    readers refuse it from that second on)
 *         grantId    token-like models of a grant (AccessToken, AuthorizationCode, RefreshToken,
 *                    …): the byGrant index, which revocation of a grant walks
 *         uid        Session only: the bySessionUid index
 *         consumed   epoch seconds, once a single-use item (code, rotated refresh token) is used
 *
 * Every model is keyed by the hash of its id, not only the credential ones (tokens, codes,
 * session and interaction ids, request_uris): one rule, and the table holds no id that would
 * work as a bearer value. Client ids are public, so hashing them costs nothing but readability.
 */
export const OAUTH_TABLE = {
  partitionKey: 'pk',
  /** KEYS_ONLY index of the token-like items of a grant. */
  grantIndex: { name: 'byGrant', partitionKey: 'grantId' },
  /** KEYS_ONLY index of sessions by their uid (oidc-provider's findByUid). */
  sessionUidIndex: { name: 'bySessionUid', partitionKey: 'uid' },
  /** Epoch seconds; DynamoDB TTL removes the item some time after it. */
  ttlAttribute: 'expiresAt',
} as const;

export const DEFAULT_OAUTH_TABLE_NAME = 'plexmcp-oauth';

/**
 * SHA-256 of an id or token, base64url without padding: the key under which the OAuth table
 * stores a model's item. The gateway hashes a presented access token with it and looks the hash
 * up (AccessTokenReader.find), so the token itself is never stored or sent to the table.
 */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** The item key of `model`'s item with id `id` (or whose id hashes to `idHash`). */
export const oauthItemKey = (model: string, idHash: string): string => `${model}#${idHash}`;
