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
