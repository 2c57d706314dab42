/**
 * One record per data-plane request: who called what, how it ended and how long it took. Never
 * content: no arguments, results, resource contents or headers. Bounded in size whatever the
 * request held (a batch of long method names must not become a long log line).
 */
import type { ApiKey } from '../model';
import type { InspectedMessage } from './jsonrpc';

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
  /** JSON-RPC messages in the request body (several for a batch). */
  readonly messageCount: number;
  /** Their methods: the first MAX_RECORDED_METHODS, each cut to MAX_NAME_CHARS. */
  readonly methods: string[];
  /** The tool name of the first `tools/call` (cut to MAX_NAME_CHARS). */
  readonly tool?: string;
  /** The resource URI of the first `resources/read` (cut to MAX_NAME_CHARS). */
  readonly resource?: string;
  /** The prompt name of the first `prompts/get` (cut to MAX_NAME_CHARS). */
  readonly prompt?: string;
  readonly status: number;
  /** `2xx`, `4xx`, `5xx`, ... of `status`. */
  readonly statusClass?: string;
  /** What the upstream charges for this request by the MCP's pricing, in micro-USD (integer). */
  readonly costMicroUsd?: number;
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

export const MAX_RECORDED_METHODS = 16;
export const MAX_NAME_CHARS = 128;

/** What the request phases learned, as far as they got. */
export interface RequestFacts {
  readonly httpMethod: string;
  readonly key?: Pick<ApiKey, 'orgId' | 'keyId'>;
  readonly messages?: readonly InspectedMessage[];
  readonly bytesIn: number;
}

export type Outcome = Pick<UsageRecord, 'status' | 'totalMs' | 'bytesOut' | 'endpointId' | 'errorCode' | 'gatewayMs' | 'upstreamFirstByteMs'>;

export function usageRecord(
  info: { readonly slug: string; readonly requestId: string },
  region: string,
  facts: RequestFacts,
  startedMs: number,
  outcome: Outcome,
): UsageRecord {
  const messages = facts.messages ?? [];
  const methods: string[] = [];
  for (const message of messages) {
    if (methods.length >= MAX_RECORDED_METHODS) break;
    if (message.method !== undefined) methods.push(message.method.slice(0, MAX_NAME_CHARS));
  }
  return {
    type: 'usage',
    timestamp: new Date(startedMs).toISOString(),
    requestId: info.requestId,
    region,
    orgId: facts.key?.orgId,
    keyId: facts.key?.keyId,
    mcp: info.slug.slice(0, MAX_NAME_CHARS),
    httpMethod: facts.httpMethod.slice(0, 16),
    messageCount: messages.length,
    methods,
    tool: messages.find((m) => m.method === 'tools/call')?.toolName?.slice(0, MAX_NAME_CHARS),
    bytesIn: facts.bytesIn,
    ...outcome,
  };
}
