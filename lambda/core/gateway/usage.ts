/**
 * One record per data-plane request: who called what, how it ended, how long it took and what
 * the upstream charged for it. Never content: no arguments, results, resource contents or
 * headers. Bounded in size whatever the request held (a batch of long method names must not
 * become a long log line). Built only when the gateway records usage (not for DISCARD_USAGE).
 */
import type { ApiKey, McpPricing } from '../model';
import type { InspectedMessage } from './jsonrpc';

export interface UsageRecord {
  readonly type: 'usage';
  readonly timestamp: string;
  readonly requestId: string;
  readonly region: string;
  readonly orgId?: string;
  readonly keyId?: string;
  readonly mcp: string;
  /** The endpoint that answered, or on a failure after routing the last one tried. */
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
  /**
   * What the upstream charges for this request by the MCP's pricing, in micro-USD (integer; see
   * `chargedMicroUsd`). Present when the upstream's answer was passed on and the MCP has pricing.
   */
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

export type Outcome = Pick<UsageRecord, 'status' | 'totalMs' | 'bytesOut' | 'endpointId' | 'errorCode' | 'gatewayMs' | 'upstreamFirstByteMs' | 'costMicroUsd'>;

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx'];

/** `2xx` for 200-299 and so on. */
export function statusClass(status: number): string {
  const hundreds = Math.floor(status / 100);
  return STATUS_CLASSES[hundreds] ?? `${hundreds}xx`;
}

export function usageRecord(
  info: { readonly slug: string; readonly requestId: string },
  region: string,
  facts: RequestFacts,
  startedMs: number,
  outcome: Outcome,
): UsageRecord {
  const messages = facts.messages ?? [];
  const methods: string[] = [];
  let tool: string | undefined;
  let resource: string | undefined;
  let prompt: string | undefined;
  for (const message of messages) {
    const method = message.method;
    if (method === undefined) continue;
    if (methods.length < MAX_RECORDED_METHODS) methods.push(method.slice(0, MAX_NAME_CHARS));
    // The first of each, named as far as the message named it (a batch can hold several).
    if (method === 'tools/call') tool ??= message.toolName?.slice(0, MAX_NAME_CHARS);
    else if (method === 'resources/read') resource ??= message.resourceUri?.slice(0, MAX_NAME_CHARS);
    else if (method === 'prompts/get') prompt ??= message.promptName?.slice(0, MAX_NAME_CHARS);
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
    tool,
    resource,
    prompt,
    bytesIn: facts.bytesIn,
    statusClass: statusClass(outcome.status),
    ...outcome,
  };
}

/**
 * JSON-RPC methods never charged: the handshake and liveness checks are the protocol's own
 * housekeeping, which a client cannot avoid and an upstream does no work for.
 */
export const UNCHARGED_METHODS: ReadonlySet<string> = new Set(['initialize', 'ping']);

/** USD as whole micro-USD, rounded half up. */
export function microUsd(usd: number): number {
  // usd * 1e6 carries binary error (0.0000025 * 1e6 is 2.4999999999999996): 15 significant
  // digits drop it, so a price that is exactly half a micro-USD in decimal rounds up.
  return Math.round(Number((usd * 1e6).toPrecision(15)));
}

interface CompiledPricing {
  readonly perCall: number;
  /** A Map, not the stored object: a tool named like an Object.prototype member must not find it. */
  readonly tools: ReadonlyMap<string, number>;
}

/** Compiled once per MCP record (the registry cache keeps a record for a while), then read per message. */
const compiledPricing = new WeakMap<McpPricing, CompiledPricing>();

function compile(pricing: McpPricing): CompiledPricing {
  let compiled = compiledPricing.get(pricing);
  if (compiled) return compiled;
  // The admin API validated the prices; a value that is not a price anyway charges nothing.
  const price = (usd: unknown) => (typeof usd === 'number' && Number.isFinite(usd) && usd > 0 ? microUsd(usd) : 0);
  const tools = new Map<string, number>();
  if (pricing.tools) for (const name of Object.keys(pricing.tools)) tools.set(name, price(pricing.tools[name]));
  compiled = { perCall: price(pricing.perCallUsd), tools };
  compiledPricing.set(pricing, compiled);
  return compiled;
}

/**
 * What the upstream charges for a request it answered with `status`, in micro-USD, or undefined
 * when the MCP has no pricing. The rule (docs/gateway.md, "Cost"): only a 2xx answer is charged
 * (a 4xx means the upstream did not accept the messages, and 3xx/5xx never reach the client);
 * then each JSON-RPC request message (not notifications or responses; not `initialize` or
 * `ping`) costs its tool's price for a `tools/call` of a listed tool, otherwise `perCallUsd`,
 * each rounded half up to whole micro-USD before they are summed.
 */
export function chargedMicroUsd(pricing: McpPricing | undefined, messages: readonly InspectedMessage[], status: number): number | undefined {
  if (pricing === undefined) return undefined;
  if (status < 200 || status >= 300) return 0;
  const { perCall, tools } = compile(pricing);
  let total = 0;
  for (const message of messages) {
    if (message.kind !== 'request' || UNCHARGED_METHODS.has(message.method!)) continue;
    const toolPrice = message.method === 'tools/call' && message.toolName !== undefined ? tools.get(message.toolName) : undefined;
    total += toolPrice ?? perCall;
  }
  return total;
}
