/**
 * The public base URL of the gateway for one request: what OAuth resource URIs, the metadata URL
 * in a challenge and the issuer a token must come from are built on. Each host knows it its own
 * way (the local server from the loopback `Host` it has checked, the Lambda from API Gateway's
 * request context); both go through `checkedBaseUrl`, because the value ends up quoted inside a
 * `WWW-Authenticate` header and compared with stored issuers: anything but a plain origin (plus
 * one stage segment) is not used at all.
 */

/** `http(s)://host[:port]` and optionally one path segment (an API Gateway stage), nothing else. */
const BASE_URL = /^https?:\/\/(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::\d{1,5})?(?:\/[A-Za-z0-9_-]{1,128})?$/i;

/** `candidate` when it is a plain base URL (no trailing slash, query, quotes or spaces); else undefined. */
export function checkedBaseUrl(candidate: string | undefined): string | undefined {
  return candidate !== undefined && BASE_URL.test(candidate) ? candidate : undefined;
}

/** The local server's base URL from the request's `Host` (only meaningful once the loopback Host guard has passed it). */
export function hostBaseUrl(host: string | null): string | undefined {
  return host === null ? undefined : checkedBaseUrl(`http://${host.trim().toLowerCase()}`);
}

/** Default execute-api host names: their URLs carry the stage as the first path segment; a custom domain's do not. */
const EXECUTE_API_HOST = /\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/i;

/**
 * The base URL of an API Gateway REST request: `https://<domainName>`, plus `/<stage>` on the
 * default execute-api host name. A custom domain with a base path mapping is not told apart here
 * (the event does not say): such a deployment sets the base URL explicitly.
 */
export function apiGatewayBaseUrl(domainName: string | undefined, stage: string | undefined): string | undefined {
  if (!domainName) return undefined;
  const origin = `https://${domainName.toLowerCase()}`;
  return checkedBaseUrl(EXECUTE_API_HOST.test(domainName) && stage ? `${origin}/${stage}` : origin);
}
