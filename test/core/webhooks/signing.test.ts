import { createHmac } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import {
  generateMessageId,
  generateSecret,
  isValidSecret,
  signDelivery,
  WebhookSigningError,
} from '../../../lambda/core/webhooks/signing';

const body = JSON.stringify({ type: 'key.revoked', data: { keyId: 'key_1' } });

describe('webhook secrets', () => {
  it('are whsec_ plus the base64 of 32 random bytes, different every time', () => {
    const a = generateSecret();
    const b = generateSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(a.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(isValidSecret(a)).toBe(true);
  });

  it('refuses malformed secrets', () => {
    expect(isValidSecret('abc')).toBe(false);
    expect(isValidSecret('whsec_')).toBe(false);
    expect(isValidSecret('whsec_not base64!')).toBe(false);
    expect(isValidSecret(`whsec_${Buffer.alloc(8).toString('base64')}`)).toBe(false); // too short
  });

  it('message ids are unique and usable as header values', () => {
    const id = generateMessageId();
    expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(generateMessageId()).not.toBe(id);
  });
});

describe('signDelivery', () => {
  const timestamp = new Date();
  const id = 'msg_1';

  it('produces the three headers, verified by the standardwebhooks package', () => {
    const secret = generateSecret();
    const headers = signDelivery({ id, timestamp, body }, [secret]);
    expect(headers['webhook-id']).toBe(id);
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(timestamp.getTime() / 1000)));
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('is the HMAC-SHA256 of id.timestamp.body under the decoded secret (the specification, independently)', () => {
    const secret = generateSecret();
    const headers = signDelivery({ id, timestamp, body }, [secret]);
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key).update(`${id}.${headers['webhook-timestamp']}.${body}`).digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${expected}`);
  });

  it('signs with both secrets during a rotation: either one verifies, a third does not', () => {
    const next = generateSecret();
    const previous = generateSecret();
    const headers = signDelivery({ id, timestamp, body }, [next, previous]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(next).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(previous).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow(WebhookVerificationError);
  });

  it('a changed body or id no longer verifies', () => {
    const secret = generateSecret();
    const headers = signDelivery({ id, timestamp, body }, [secret]);
    expect(() => new Webhook(secret).verify(body.replace('key_1', 'key_2'), headers)).toThrow(WebhookVerificationError);
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'msg_2' })).toThrow(WebhookVerificationError);
  });

  it('signs a repeated secret once', () => {
    const secret = generateSecret();
    expect(signDelivery({ id, timestamp, body }, [secret, secret])['webhook-signature'].split(' ')).toHaveLength(1);
  });

  it('refuses no secrets, malformed secrets and unsafe ids without echoing the secret', () => {
    expect(() => signDelivery({ id, timestamp, body }, [])).toThrow(WebhookSigningError);
    const bad = 'whsec_short';
    let message = '';
    try {
      signDelivery({ id, timestamp, body }, [generateSecret(), bad]);
    } catch (error) {
      expect(error).toBeInstanceOf(WebhookSigningError);
      message = (error as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain(bad);
    expect(() => signDelivery({ id: 'msg 1', timestamp, body }, [generateSecret()])).toThrow(WebhookSigningError);
    expect(() => signDelivery({ id: 'a,b', timestamp, body }, [generateSecret()])).toThrow(WebhookSigningError);
    expect(() => signDelivery({ id, timestamp: new Date(NaN), body }, [generateSecret()])).toThrow(WebhookSigningError);
  });
});
