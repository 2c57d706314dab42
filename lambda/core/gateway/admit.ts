/**
 * Phase 4: may the key spend what this request costs? Every JSON-RPC message counts (a batch of N
 * counts N, admitted whole or refused whole); the initialize handshake has a budget of its own;
 * long-lived streams take one of the key's stream slots. Nothing is spent unless everything it
 * needs is admitted, except that a request refused by a later check keeps what earlier ones took
 * (the quota is checked first because it costs no write).
 */
import { keyRateLimit, type PlanLimits } from '../plans';
import type { ApiKey, Org } from '../model';
import { GatewayError } from './errors';
import type { InspectedMessage } from './jsonrpc';
import type { MinuteLimiter, QuotaMeter } from './limits';
import type { HttpMethod } from './read-request';
import type { StreamSlot, StreamSlots } from './stream-slots';

/** The messages of the initialize handshake: counted against the handshake budget, not the per-minute limit. */
const HANDSHAKE_METHODS = new Set(['initialize', 'notifications/initialized']);
/** Requests whose answer is a stream held open for as long as the client wants (MCP 2026-07-28). */
const STREAM_METHODS = new Set(['subscriptions/listen']);

export interface AdmitDeps {
  /** The per-minute windows (`rpm` and `hs`); the gateway uses the leased limiter. */
  readonly limiter: MinuteLimiter;
  readonly quota: Pick<QuotaMeter, 'check' | 'record' | 'flushIfDue'>;
  readonly streamSlots: Pick<StreamSlots, 'take'>;
  readonly background: (work: Promise<unknown>) => void;
  readonly now: () => number;
}

export interface Cost {
  /** Units against the per-minute limit: one per message (one for a GET or DELETE). */
  readonly requests: number;
  /** Handshake messages (each handshake is `initialize` plus `notifications/initialized`). */
  readonly handshake: number;
  /** Whether the answer is a long-lived stream that needs a stream slot. */
  readonly stream: boolean;
}

export interface Admission {
  /** `RateLimit-*` headers for the answer (none for a handshake-only request). */
  readonly rateHeaders: Record<string, string>;
  /** The stream slot this request holds, to give back when its answer ends. */
  readonly slot?: StreamSlot;
}

export function costOf(method: HttpMethod, messages: readonly InspectedMessage[]): Cost {
  if (method !== 'POST') return { requests: 1, handshake: 0, stream: method === 'GET' };
  let handshake = 0;
  for (const message of messages) if (message.method !== undefined && HANDSHAKE_METHODS.has(message.method)) handshake++;
  const stream = messages.some((m) => m.method !== undefined && STREAM_METHODS.has(m.method));
  return { requests: messages.length - handshake, handshake, stream };
}

export async function admit(deps: AdmitDeps, key: ApiKey, org: Org, plan: PlanLimits, cost: Cost): Promise<Admission> {
  const units = cost.requests + cost.handshake;
  const quota = deps.quota.check(org.orgId, plan.monthlyRequests, units);
  if (!quota.allowed) throw new GatewayError('quota_exceeded', { 'Retry-After': String(secondsToNextMonth(deps.now())) });

  let rateHeaders: Record<string, string> = {};
  if (cost.requests > 0) {
    const decision = await deps.limiter.consume(key.keyId, keyRateLimit(key, plan), cost.requests, 'rpm');
    rateHeaders = {
      'RateLimit-Limit': String(decision.limit),
      'RateLimit-Remaining': String(decision.remaining),
      'RateLimit-Reset': String(decision.resetSeconds),
      'RateLimit-Policy': `${decision.limit};w=60`,
    };
    if (!decision.allowed) throw new GatewayError('rate_limited', { ...rateHeaders, 'Retry-After': String(decision.resetSeconds) });
  }
  if (cost.handshake > 0) {
    const decision = await deps.limiter.consume(key.keyId, 2 * plan.handshakesPerKeyPerMinute, cost.handshake, 'hs');
    if (!decision.allowed) throw new GatewayError('handshake_limited', { ...rateHeaders, 'Retry-After': String(decision.resetSeconds) });
  }
  let slot: StreamSlot | undefined;
  if (cost.stream) {
    slot = await deps.streamSlots.take(key.keyId, plan.maxConcurrentStreamsPerKey);
    if (!slot) throw new GatewayError('too_many_streams', { ...rateHeaders, 'Retry-After': '5' });
  }

  deps.quota.record(org.orgId, units);
  const flushing = deps.quota.flushIfDue();
  if (flushing) deps.background(flushing);
  return { rateHeaders, slot };
}

function secondsToNextMonth(ms: number): number {
  const d = new Date(ms);
  return Math.ceil((Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - ms) / 1000);
}
