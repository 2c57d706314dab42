import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** What a gateway session id seals: where the session lives and whose it is. */
export interface SessionClaims {
  /** The API key that opened the session: no other key (of the same org or not) may use it. */
  readonly keyId: string;
  /** Endpoint id the upstream session lives on. */
  readonly endpointId: string;
  /** The upstream's own `Mcp-Session-Id`. */
  readonly upstreamSessionId: string;
  readonly orgId: string;
  readonly mcp: string;
  /** Issue time, epoch seconds. */
  readonly issuedAt: number;
}

const PREFIX = 'pms2.';
const AAD = Buffer.from('plexmcp-session-v2');

/**
 * Session ids without a session store: the id the client sees is the sealed (AES-256-GCM)
 * endpoint and upstream session id, bound to the org, the MCP and the API key. Any gateway instance holding the
 * key can route the next request of the session to the same endpoint. Tampered, foreign or
 * expired ids do not open.
 */
export class SessionSealer {
  constructor(
    private readonly key: Uint8Array,
    /** Sessions older than this are refused, so a leaked id does not live forever. */
    private readonly maxAgeSeconds = 24 * 3600,
  ) {
    if (key.length !== 32) throw new Error('session key must be 32 bytes');
  }

  seal(claims: SessionClaims): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(AAD);
    const payload = JSON.stringify([claims.endpointId, claims.upstreamSessionId, claims.orgId, claims.mcp, claims.keyId, claims.issuedAt]);
    const sealed = Buffer.concat([iv, cipher.update(payload, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return PREFIX + sealed.toString('base64url');
  }

  /** The claims, or undefined when the id is not ours, was altered, is for another org/MCP/key, or expired. */
  open(sessionId: string, expect: { orgId: string; mcp: string; keyId: string }, nowSeconds: number): SessionClaims | undefined {
    if (!sessionId.startsWith(PREFIX) || sessionId.length > 2048) return undefined;
    const encoded = sessionId.slice(PREFIX.length);
    const bytes = Buffer.from(encoded, 'base64url');
    // Node's decoder skips characters outside the alphabet and ignores the unused bits of the last
    // one: only the canonical spelling of the sealed bytes is the id (an altered one is refused).
    if (bytes.length < 12 + 16 + 2 || bytes.toString('base64url') !== encoded) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, bytes.subarray(0, 12), { authTagLength: 16 });
      decipher.setAAD(AAD);
      decipher.setAuthTag(bytes.subarray(bytes.length - 16));
      const plain = Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString('utf8');
      const [endpointId, upstreamSessionId, orgId, mcp, keyId, issuedAt] = JSON.parse(plain) as [string, string, string, string, string, number];
      if (orgId !== expect.orgId || mcp !== expect.mcp || keyId !== expect.keyId) return undefined;
      if (!(nowSeconds - issuedAt <= this.maxAgeSeconds && issuedAt <= nowSeconds + 60)) return undefined;
      return { endpointId, upstreamSessionId, orgId, mcp, keyId, issuedAt };
    } catch {
      return undefined;
    }
  }
}
