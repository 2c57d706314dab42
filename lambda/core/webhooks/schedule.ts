/**
 * The Standard Webhooks retry schedule and what an attempt's outcome means for the delivery and
 * the endpoint. Pure functions: the queue (SQS in AWS, the embedded store locally) applies them.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Delay before each attempt, measured from the previous attempt (the first from the event):
 * immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h — ten attempts over
 * about three days, as the specification's reference schedule.
 */
export const RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([
  0, 5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 14 * HOUR, 20 * HOUR, 24 * HOUR,
]);

/** A receiver's Retry-After never pushes one attempt further away than this. */
export const MAX_RETRY_AFTER_MS = DAY;

/** An endpoint whose every attempt has failed for this long is disabled. */
export const FAILING_DISABLE_AFTER_MS = 5 * DAY;

export interface ScheduleOptions {
  /** Replaces RETRY_SCHEDULE_MS (tests shorten it); its length is the number of attempts. */
  readonly schedule?: readonly number[];
  /** Bound on a Retry-After delay; defaults to MAX_RETRY_AFTER_MS. */
  readonly maxRetryAfterMs?: number;
  /** Clock for HTTP-date Retry-After values (epoch ms). */
  readonly now?: number;
}

/**
 * A Retry-After header value as a delay in ms: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
 * Undefined when absent or unreadable; a date in the past is 0.
 */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (header === undefined || header === null) return undefined;
  const value = header.trim();
  if (value === '') return undefined;
  if (/^\d+$/.test(value)) return Number(value) * SECOND;
  // Only the date forms: Date.parse alone would also accept numbers with signs or decimals.
  if (!/^[A-Za-z]{3},? /.test(value) && !/^[A-Za-z]+, \d/.test(value)) return undefined;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * The delay before the attempt after `attempt` (1-based: the number of attempts made so far),
 * or undefined when the schedule is exhausted. A Retry-After from the receiver is honoured as
 * a lower bound — we never come back sooner than asked, nor sooner than the schedule says — and
 * is capped at `maxRetryAfterMs`, so a receiver cannot park a delivery for ever.
 */
export function nextAttemptDelay(
  attempt: number,
  retryAfterHeader?: string | null,
  options: ScheduleOptions = {},
): number | undefined {
  const schedule = options.schedule ?? RETRY_SCHEDULE_MS;
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError('attempt must be an integer >= 1');
  if (attempt >= schedule.length) return undefined;
  const scheduled = schedule[attempt]!;
  const asked = parseRetryAfter(retryAfterHeader, options.now);
  if (asked === undefined) return scheduled;
  return Math.max(scheduled, Math.min(asked, options.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS));
}

export type AttemptOutcome = 'delivered' | 'retry' | 'gone';

/**
 * What one attempt's result means: any 2xx is delivered; 410 Gone means the receiver has
 * retired the endpoint (it is disabled, no retries); everything else — other statuses including
 * 3xx (redirects are not followed), timeouts, refused or failed connections — is retried.
 */
export function classify(result: number | { readonly status?: number; readonly errorClass?: string }): AttemptOutcome {
  // No status means no answer (timeout, refused address, network error).
  const status = typeof result === 'number' ? result : result.status;
  if (status === undefined) return 'retry';
  if (status >= 200 && status <= 299) return 'delivered';
  if (status === 410) return 'gone';
  return 'retry';
}

export type DeliveryStep =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'gone' }
  | { readonly kind: 'retry'; readonly delayMs: number }
  | { readonly kind: 'exhausted' };

/** The next step for a delivery after its `attempt`-th attempt ended with `result`. */
export function nextStep(
  attempt: number,
  result: { readonly status?: number; readonly errorClass?: string; readonly retryAfter?: string },
  options: ScheduleOptions = {},
): DeliveryStep {
  const outcome = classify(result);
  if (outcome !== 'retry') return { kind: outcome };
  const delayMs = nextAttemptDelay(attempt, result.retryAfter, options);
  return delayMs === undefined ? { kind: 'exhausted' } : { kind: 'retry', delayMs };
}

/** Per endpoint: when its current run of failed attempts began (epoch ms), if it is failing. */
export interface EndpointFailureState {
  readonly failingSince?: number;
}

export type DisableReason = 'gone' | 'failing';

/**
 * The 5-day rule. Folds one attempt's outcome at time `at` into the endpoint's state: a
 * delivery clears it; a failure starts the run (or continues it); when the run has lasted
 * FAILING_DISABLE_AFTER_MS with no success in between, the endpoint is to be disabled. A 410
 * disables at once.
 */
export function recordEndpointOutcome(
  state: EndpointFailureState,
  outcome: AttemptOutcome,
  at: number,
  failingDisableAfterMs: number = FAILING_DISABLE_AFTER_MS,
): { state: EndpointFailureState; disable?: DisableReason } {
  if (outcome === 'delivered') return { state: {} };
  const failingSince = state.failingSince !== undefined && state.failingSince <= at ? state.failingSince : at;
  if (outcome === 'gone') return { state: { failingSince }, disable: 'gone' };
  if (at - failingSince >= failingDisableAfterMs) return { state: { failingSince }, disable: 'failing' };
  return { state: { failingSince } };
}
