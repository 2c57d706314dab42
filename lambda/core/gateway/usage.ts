/**
 * One record per data-plane request: who called what, how it ended and how long it took. Never
 * content: no arguments, results, resource contents or headers.
 */
export interface UsageRecord {
  readonly type: 'usage';
  readonly timestamp: string;
  readonly requestId: string;
  readonly region: string;
  readonly orgId?: string;
  readonly keyId?: string;
  readonly mcp: string;
  readonly endpointId?: string;
  readonly httpMethod: string;
  /** JSON-RPC methods in the request body (several for a batch). */
  readonly methods: string[];
  /** The tool name of a `tools/call`. */
  readonly tool?: string;
  readonly status: number;
  readonly errorCode?: string;
  /** Whole request, until the last byte of the response was passed on. */
  readonly totalMs: number;
  /** Time spent in the gateway before the upstream request was sent. */
  readonly gatewayMs?: number;
  /** Upstream time to response headers. */
  readonly upstreamFirstByteMs?: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}
