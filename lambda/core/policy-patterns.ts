/**
 * What a policy pattern may be — the same rules for an API key's policies (the admin API's
 * schemas) and for an OAuth grant's (the consent page), whichever way a policy arrives.
 */

/** Tool and prompt name patterns: name characters plus `*` as the wildcard. */
export const NAME_PATTERN = /^[A-Za-z0-9_.\-/:*]{1,128}$/;

/**
 * Resource URI patterns: the characters URIs are made of (RFC 3986 unreserved, reserved and `%`),
 * `*` as the wildcard, 1-512 of them; no whitespace or control characters.
 */
export const RESOURCE_PATTERN = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]{1,512}$/;

/** Most patterns in one allow or deny list. */
export const MAX_POLICY_PATTERNS = 100;
