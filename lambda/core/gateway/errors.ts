/**
 * The data plane's error codes: each has one HTTP status. The body is always a JSON-RPC error
 * carrying the request's id (null when there was none) with `data.code` set to the code, so MCP
 * clients surface it and scripts can match on it.
 */
export const GATEWAY_ERRORS = {
  malformed_json: { status: 400, message: 'The request body is not valid JSON' },
  invalid_request: { status: 400, message: 'The request is not a valid MCP JSON-RPC message' },
  invalid_api_key: { status: 401, message: 'The API key is missing, malformed, unknown, expired or revoked' },
  invalid_token: { status: 401, message: 'The access token is unknown, expired, revoked or not for this MCP server' },
  insufficient_scope: { status: 403, message: 'The access token lacks a scope this request needs' },
  forbidden_mcp: { status: 403, message: 'This API key may not use this MCP server' },
  forbidden_tool: { status: 403, message: 'This API key may not call this tool' },
  ip_not_allowed: { status: 403, message: "The caller's address is not in the organisation's IP allowlist" },
  forbidden_resource: { status: 403, message: 'This API key may not use this resource' },
  forbidden_prompt: { status: 403, message: 'This API key may not use this prompt' },
  origin_not_allowed: { status: 403, message: 'Requests from this Origin are not allowed' },
  unknown_mcp: { status: 404, message: 'No MCP server with this slug in your organisation' },
  session_not_found: { status: 404, message: 'The MCP session is unknown or expired; start a new session' },
  method_not_allowed: { status: 405, message: 'Use POST, GET or DELETE' },
  body_too_large: { status: 413, message: 'The request body is too large' },
  batch_too_large: { status: 400, message: 'The batch holds more messages than the gateway accepts (50 by default)' },
  header_mismatch: { status: 400, message: 'An Mcp-* header does not match the request body' },
  unsupported_media_type: { status: 415, message: 'Send JSON-RPC messages as application/json' },
  rate_limited: { status: 429, message: 'Too many requests for this API key; retry after the indicated time' },
  quota_exceeded: { status: 429, message: "The organisation's monthly request quota is used up" },
  handshake_limited: { status: 429, message: 'Too many initialize handshakes for this API key; retry after the indicated time' },
  too_many_streams: { status: 429, message: 'This API key has as many open streams as its plan allows; close one first' },
  client_closed_request: { status: 499, message: 'The client went away before the answer started' },
  internal_error: { status: 500, message: 'The gateway failed; quote the request id when reporting it' },
  mcp_unhealthy: { status: 502, message: 'No healthy endpoint of this MCP server is available' },
  upstream_unavailable: { status: 502, message: 'The MCP server could not be reached' },
  upstream_auth_failed: { status: 502, message: "The MCP server refused the gateway's credentials" },
  upstream_error: { status: 502, message: 'The MCP server answered with an invalid response' },
  store_unavailable: { status: 503, message: 'The gateway cannot reach its store; retry shortly' },
  authentication_busy: { status: 503, message: 'Too many API keys are being verified at once; retry shortly' },
  upstream_timeout: { status: 504, message: 'The MCP server did not answer in time' },
} as const;

export type GatewayErrorCode = keyof typeof GATEWAY_ERRORS;

/** A data-plane failure; turned into a response by the gateway, never shown with internals. */
export class GatewayError extends Error {
  constructor(
    readonly code: GatewayErrorCode,
    readonly headers: Record<string, string> = {},
    message?: string,
  ) {
    super(message ?? GATEWAY_ERRORS[code].message);
    this.name = 'GatewayError';
  }

  get status(): number {
    return GATEWAY_ERRORS[this.code].status;
  }
}

/**
 * The store (registry, counters) failed, timed out or is unreachable. Adapters throw it (or any
 * unexpected error from a store call is wrapped in it) so the gateway answers 503, never 500 and
 * never proxies unchecked.
 */
export class StoreUnavailableError extends Error {
  constructor(reason: string) {
    super(`store unavailable: ${reason}`);
    this.name = 'StoreUnavailableError';
  }
}
