import { randomBytes, randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks signing. The HMAC scheme (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body`
 * under the base64-decoded secret) is computed by the `standardwebhooks` reference package rather
 * than by hand, so that what we send is by construction what every receiver's library verifies.
 */

export const SECRET_PREFIX = 'whsec_';
/** 32 random bytes: the HMAC-SHA256 block-size-safe key length the specification recommends (24–64). */
export const SECRET_BYTES = 32;

/** A new signing secret, `whsec_<base64 of 32 random bytes>`; shown to the org once. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** True for a secret this module can sign with: the prefix and 24–64 bytes of standard base64. */
export function isValidSecret(secret: string): boolean {
  if (!secret.startsWith(SECRET_PREFIX)) return false;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return false;
  const bytes = Buffer.from(encoded, 'base64').length;
  return bytes >= 24 && bytes <= 64;
}

/** A message id, stable across the attempts of one delivery so receivers can deduplicate. */
export function generateMessageId(): string {
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

export interface DeliveryToSign {
  /** The message id (`webhook-id`): the same on every attempt and redelivery of one event. */
  readonly id: string;
  /** When this attempt is sent; receivers reject timestamps more than 5 minutes off. */
  readonly timestamp: Date;
  /** The exact JSON text that is sent: the signature covers these bytes. */
  readonly body: string;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

// Printable ASCII without spaces or commas: the id is a header value and a signature input.
const MESSAGE_ID = /^[\x21-\x2b\x2d-\x7e]{1,256}$/;

export class WebhookSigningError extends Error {
  readonly code = 'webhook_signing_invalid';
  constructor(message: string) {
    super(message);
    this.name = 'WebhookSigningError';
  }
}

/**
 * The three Standard Webhooks headers for one attempt. One `v1,<sig>` per secret, space
 * separated: during a rotation both the new and the old secret sign, so a receiver that has
 * either verifies. Duplicate secrets sign once.
 */
export function signDelivery(delivery: DeliveryToSign, secrets: readonly string[]): SignedHeaders {
  if (!MESSAGE_ID.test(delivery.id)) throw new WebhookSigningError('message id must be 1-256 printable characters without spaces or commas');
  if (Number.isNaN(delivery.timestamp.getTime())) throw new WebhookSigningError('timestamp is not a valid date');
  const unique = [...new Set(secrets)];
  if (unique.length === 0) throw new WebhookSigningError('at least one signing secret is needed');
  // The message never says which secret was wrong: secrets must not reach errors or logs.
  if (!unique.every(isValidSecret)) throw new WebhookSigningError('a signing secret is malformed');
  const signatures = unique.map((secret) => new Webhook(secret).sign(delivery.id, delivery.timestamp, delivery.body));
  return {
    'webhook-id': delivery.id,
    'webhook-timestamp': String(Math.floor(delivery.timestamp.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
