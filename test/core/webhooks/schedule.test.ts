import {
  classify,
  FAILING_DISABLE_AFTER_MS,
  MAX_RETRY_AFTER_MS,
  nextAttemptDelay,
  nextStep,
  parseRetryAfter,
  recordEndpointOutcome,
  RETRY_SCHEDULE_MS,
} from '../../../lambda/core/webhooks/schedule';

const S = 1000;
const M = 60 * S;
const H = 60 * M;

describe('retry schedule', () => {
  it('is the Standard Webhooks schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h', () => {
    expect(RETRY_SCHEDULE_MS).toEqual([0, 5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 14 * H, 20 * H, 24 * H]);
  });

  it('gives the delay after each failed attempt, and none after the tenth', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => nextAttemptDelay(n))).toEqual(RETRY_SCHEDULE_MS.slice(1));
    expect(nextAttemptDelay(10)).toBeUndefined();
    expect(() => nextAttemptDelay(0)).toThrow(RangeError);
    expect(() => nextAttemptDelay(1.5)).toThrow(RangeError);
  });

  it('honours Retry-After in seconds as a lower bound, capped at 24 h', () => {
    expect(nextAttemptDelay(1, '120')).toBe(120 * S); // longer than the 5 s step
    expect(nextAttemptDelay(3, '120')).toBe(30 * M); // shorter than the 30 min step: the schedule wins
    expect(nextAttemptDelay(1, String(7 * 24 * 3600))).toBe(MAX_RETRY_AFTER_MS);
    expect(nextAttemptDelay(1, '600', { maxRetryAfterMs: 60 * S })).toBe(60 * S);
  });

  it('honours Retry-After as an HTTP date', () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(nextAttemptDelay(1, 'Tue, 01 Dec 2026 12:10:00 GMT', { now })).toBe(10 * M);
    expect(nextAttemptDelay(1, 'Tue, 01 Dec 2026 11:00:00 GMT', { now })).toBe(5 * S); // past: schedule
    expect(parseRetryAfter('Tue, 01 Dec 2026 11:00:00 GMT', now)).toBe(0);
  });

  it('ignores unreadable Retry-After values', () => {
    for (const value of ['', 'soon', '-5', '1.5', '+3', '  ']) {
      expect(parseRetryAfter(value)).toBeUndefined();
      expect(nextAttemptDelay(1, value)).toBe(5 * S);
    }
    expect(nextAttemptDelay(1, null)).toBe(5 * S);
  });

  it('a shortened schedule decides the number of attempts', () => {
    expect(nextAttemptDelay(1, undefined, { schedule: [0, 10, 20] })).toBe(10);
    expect(nextAttemptDelay(2, undefined, { schedule: [0, 10, 20] })).toBe(20);
    expect(nextAttemptDelay(3, undefined, { schedule: [0, 10, 20] })).toBeUndefined();
  });
});

describe('classify', () => {
  it('2xx is delivered, 410 is gone, everything else is retried', () => {
    expect(classify(200)).toBe('delivered');
    expect(classify(204)).toBe('delivered');
    expect(classify(299)).toBe('delivered');
    expect(classify(410)).toBe('gone');
    for (const status of [100, 301, 302, 307, 400, 404, 429, 500, 503]) expect(classify(status)).toBe('retry');
  });

  it('results without a status (timeouts, refused addresses) are retried', () => {
    expect(classify({ errorClass: 'timeout' })).toBe('retry');
    expect(classify({ errorClass: 'forbidden_url' })).toBe('retry');
    expect(classify({ status: 410, errorClass: 'http_status' })).toBe('gone');
    expect(classify({ status: 302, errorClass: 'redirect' })).toBe('retry');
    expect(classify({ status: 200 })).toBe('delivered');
  });

  it('nextStep combines the outcome with the schedule', () => {
    expect(nextStep(1, { status: 200 })).toEqual({ kind: 'delivered' });
    expect(nextStep(4, { status: 410 })).toEqual({ kind: 'gone' });
    expect(nextStep(1, { status: 503, retryAfter: '60' })).toEqual({ kind: 'retry', delayMs: 60 * S });
    expect(nextStep(10, { errorClass: 'timeout' })).toEqual({ kind: 'exhausted' });
  });
});

describe('the 5-day failing rule', () => {
  const t0 = Date.parse('2026-12-01T00:00:00Z');

  it('disables an endpoint whose attempts have failed for 5 days with no success between', () => {
    let { state, disable } = recordEndpointOutcome({}, 'retry', t0);
    expect(state).toEqual({ failingSince: t0 });
    expect(disable).toBeUndefined();
    ({ state, disable } = recordEndpointOutcome(state, 'retry', t0 + FAILING_DISABLE_AFTER_MS - 1));
    expect(disable).toBeUndefined();
    expect(state.failingSince).toBe(t0);
    expect(recordEndpointOutcome(state, 'retry', t0 + FAILING_DISABLE_AFTER_MS).disable).toBe('failing');
  });

  it('a success resets the run', () => {
    let { state } = recordEndpointOutcome({}, 'retry', t0);
    ({ state } = recordEndpointOutcome(state, 'delivered', t0 + 4 * 24 * H));
    expect(state).toEqual({});
    const later = recordEndpointOutcome(state, 'retry', t0 + 6 * 24 * H);
    expect(later.disable).toBeUndefined();
    expect(later.state.failingSince).toBe(t0 + 6 * 24 * H);
  });

  it('410 disables at once', () => {
    expect(recordEndpointOutcome({}, 'gone', t0).disable).toBe('gone');
  });

  it('5 days is the documented value', () => {
    expect(FAILING_DISABLE_AFTER_MS).toBe(5 * 24 * H);
  });
});
