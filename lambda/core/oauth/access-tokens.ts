/**
 * What the gateway knows of an OAuth access token: the record the authorization server stored
 * for it, found by the token's SHA-256 (the store never holds a token itself).
 */
export interface AccessTokenRecord {
  /** The grant's backing key (an ApiKey with `oauth` set): its scopes, policies and limits apply. */
  readonly keyId: string;
  readonly orgId: string;
  readonly clientId: string;
  readonly grantId: string;
  /** Space-separated, as granted. */
  readonly scope: string;
  /** The resource (RFC 8707 audience) the token was issued for. */
  readonly resource: string;
  /** Epoch seconds. */
  readonly expiresAt: number;
  /** The issuer that made it. */
  readonly issuer: string;
}

export interface AccessTokenReader {
  /** The record of the token whose SHA-256 (base64url) is `tokenHash`, or undefined (unknown, revoked or expired and removed). */
  find(tokenHash: string): Promise<AccessTokenRecord | undefined>;
}

/** SHA-256 of a token, base64url: what a record is found by (one definition, with the OAuth table's layout). */
export { accessTokenHash } from './table';

/**
 * Tokens from this region's replica of the OAuth table, and on a miss from the table the
 * authorization server writes (another region's): a token issued a moment ago may not have
 * replicated yet, and a client uses its token at once. A token that is in neither is unknown;
 * the authenticator remembers it as failed for a few seconds, so a flood of made-up tokens costs
 * one remote read per token, not per request.
 */
export function replicaThenWriter(replica: AccessTokenReader, writer: AccessTokenReader): AccessTokenReader {
  return { find: async (tokenHash) => (await replica.find(tokenHash)) ?? writer.find(tokenHash) };
}
