/**
 * The signing keys of the authorization server's cookies and consent forms, from the value of
 * their Secrets Manager secret: a JSON array of keys, newest first (the first signs, all verify:
 * how a key is rotated without logging anyone out mid-consent), or one plain string (the value
 * CloudFormation generates). Refused when it holds no usable key, so a mistyped rotation fails
 * the request instead of signing with an empty or guessable key.
 */

/** Shortest key accepted: 128 bits of base64 or hex text and more. */
export const MIN_COOKIE_KEY_LENGTH = 32;

/** At most this many keys verify at once (the newest signs). */
export const MAX_COOKIE_KEYS = 8;

export function parseCookieKeys(secret: string): string[] {
  const text = secret.trim();
  let keys: unknown;
  if (text.startsWith('[')) {
    try {
      keys = JSON.parse(text);
    } catch {
      throw new Error('the OAuth cookie secret starts with "[" but is not a JSON array');
    }
  } else {
    keys = [text];
  }
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_COOKIE_KEYS) {
    throw new Error(`the OAuth cookie secret must be one key or a JSON array of 1 to ${MAX_COOKIE_KEYS} keys`);
  }
  return keys.map((key, index) => {
    if (typeof key !== 'string' || key.trim().length < MIN_COOKIE_KEY_LENGTH) {
      throw new Error(`OAuth cookie key ${index} must be a string of at least ${MIN_COOKIE_KEY_LENGTH} characters`);
    }
    return key.trim();
  });
}
