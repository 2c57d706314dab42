import * as ipaddr from 'ipaddr.js';
import type { FieldProblem } from './errors';

/** Resolves a host name to every address it has (A and AAAA). */
export type Resolver = (hostname: string) => Promise<string[]>;

export interface UrlPolicy {
  /**
   * Local mode admits plain `http` and loopback addresses, so that a laptop can front MCP
   * servers running beside it. In AWS both are refused.
   */
  readonly allowLoopback: boolean;
  readonly resolve: Resolver;
}

export const MAX_URL_LENGTH = 2048;

/**
 * Why `address` may not be an upstream, or undefined when it may. Only globally routable
 * unicast is admitted: private, shared (CGNAT), link-local (incl. 169.254.169.254 and other
 * cloud metadata services), unique-local (incl. fd00:ec2::254), multicast, reserved, and the
 * IPv6 forms that embed an IPv4 address (mapped, IPv4-compatible, NAT64, 6to4, Teredo) are all
 * refused, because an attacker could otherwise reach the gateway's own network through them.
 */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

export function forbiddenAddressReason(address: string, allowLoopback: boolean): string | undefined {
  if (!ipaddr.isValid(address)) return 'is not an IP address';
  const parsed = ipaddr.process(address); // IPv4-mapped IPv6 becomes the IPv4 it carries
  let range: string = parsed.range();
  // ipaddr.js calls the deprecated IPv4-compatible form (::/96, e.g. ::127.0.0.1) unicast.
  if (range === 'unicast' && parsed.kind() === 'ipv6' && parsed.match(IPV4_COMPATIBLE)) range = 'ipv4Compatible';
  if (range === 'unicast') return undefined;
  if (range === 'loopback' && allowLoopback) return undefined;
  return `resolves to a ${range} address, which upstreams may not use`;
}

/**
 * Checks an upstream endpoint URL, resolving its host: every address it resolves to must be
 * allowed (a name with one public and one private address is refused). Returns the normalized
 * URL or the problems found. The gateway repeats the address check when it connects, since DNS
 * answers can change after registration.
 */
export async function checkEndpointUrl(
  raw: string,
  path: string,
  policy: UrlPolicy,
): Promise<{ url: string } | { problem: FieldProblem }> {
  const fail = (message: string) => ({ problem: { path, message } });
  if (raw.length > MAX_URL_LENGTH) return fail(`must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail('is not a valid URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowLoopback)) {
    return fail(policy.allowLoopback ? 'must use https (or http to a loopback address)' : 'must use https');
  }
  if (url.username || url.password) return fail('must not carry credentials; use upstreamAuth');
  if (raw.includes('#')) return fail('must not have a fragment');

  // URL keeps IPv6 literals in brackets; WHATWG parsing already turned 0x7f.1 etc. into dotted form.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (ipaddr.isValid(host)) {
    addresses = [host];
  } else {
    try {
      addresses = await policy.resolve(host);
    } catch {
      return fail('host name does not resolve');
    }
    if (addresses.length === 0) return fail('host name does not resolve');
  }
  for (const address of addresses) {
    const reason = forbiddenAddressReason(address, policy.allowLoopback);
    if (reason) return fail(`host ${reason}`);
  }
  if (url.protocol === 'http:' && !addresses.every((a) => ipaddr.process(a).range() === 'loopback')) {
    return fail('must use https (plain http is allowed only to loopback addresses)');
  }
  return { url: url.toString() };
}

/**
 * An address or CIDR block in canonical notation only: IPv4 must be four decimal parts, so
 * that `010.0.0.1` (octal) or `2130706433` cannot mean something other than what was read.
 */
export function isValidCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/');
  if (rest.length > 0 || address === undefined) return false;
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return false;
  if (ipaddr.IPv4.isValidFourPartDecimal(address) && !/(^|\.)0\d/.test(address)) {
    return prefix === undefined || Number(prefix) <= 32;
  }
  if (address.includes(':') && ipaddr.IPv6.isValid(address)) {
    return prefix === undefined || Number(prefix) <= 128;
  }
  return false;
}
