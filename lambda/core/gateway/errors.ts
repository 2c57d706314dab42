/**
 * The data plane's error codes: each has one HTTP status. The body is always a JSON-RPC error
 * carrying the request's id (null when there was none) with `data.code` set to the code, so MCP
 * clients surface it and scripts can match on it.
 */
export const GATEWAY_ERRORS = {
  malformed_json: { status: 400, message: 'The request body is not valid JSON' },
  invalid_request: { status: 400, message: 'The request is not a valid MCP JSON-RPC message' },
  invalid_api_key: { status: 401, message: 'The API key is missing, malformed, unknown, expired or revoked' },
  forbidden_mcp: { status: 403, message: 'This API key may not use this MCP server' },
  forbidden_tool: { status: 403, message: 'This API key may not call this tool' },
  ip_not_allowed: { status: 403, message: "The caller's address is not in the organisation's IP allowlist" },
  unknown_mcp: { status: 404, message: 'No MCP server with this slug in your organisation' },
  session_not_found: { status: 404, message: 'The MCP session is unknown or expired; start a new session' },
  method_not_allowed: { status: 405, message: 'Use POST, GET or DELETE' },
  body_too_large: { status: 413, message: 'The request body is too large' },
  unsupported_media_type: { status: 415, message: 'Send JSON-RPC messages as application/json' },
  rate_limited: { status: 429, message: 'Too many requests for this API key; retry after the indicated time' },
  quota_exceeded: { status: 429, message: "The organisation's monthly request quota is used up" },
  internal_error: { status: 500, message: 'The gateway failed; quote the request id when reporting it' },
  mcp_unhealthy: { status: 502, message: 'No healthy endpoint of this MCP server is available' },
  upstream_unavailable: { status: 502, message: 'The MCP server could not be reached' },
  upstream_auth_failed: { status: 502, message: "The MCP server refused the gateway's credentials" },
  upstream_error: { status: 502, message: 'The MCP server answered with an invalid response' },
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
