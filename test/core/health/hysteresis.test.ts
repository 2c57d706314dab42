import { nextHealth } from '../../../lambda/core/health/hysteresis';
import type { EndpointHealth, ProbeResult } from '../../../lambda/core/health/model';

const id = { orgId: 'org_a', mcp: 'tools', endpointId: 'ep_1', region: 'eu-west-1' };
const ok = (latencyMs = 50): ProbeResult => ({ ok: true, latencyMs });
const fail: ProbeResult = { ok: false, latencyMs: 5, errorClass: 'connect_refused' };
const t = (s: number) => new Date(Date.UTC(2026, 10, 25, 10, 0, s));

/** Runs probes in order, one a second, and returns the statuses and which steps wrote. */
function run(probes: ProbeResult[], start?: EndpointHealth) {
  let state = start;
  return probes.map((probe, i) => {
    const update = nextHealth(state, probe, id, t(i));
    state = update.state;
    return { status: update.state.status, write: update.write, from: update.transition?.from };
  });
}

test('the first probe sets the status directly (a dead new endpoint is unhealthy at once)', () => {
  expect(run([fail])[0]).toEqual({ status: 'unhealthy', write: true, from: 'unknown' });
  expect(run([ok()])[0]).toEqual({ status: 'healthy', write: true, from: 'unknown' });
});

test('two failures in a row take a healthy endpoint down; one lost probe does not', () => {
  expect(run([ok(), fail, ok(), fail, fail]).map((s) => s.status)).toEqual(['healthy', 'healthy', 'healthy', 'healthy', 'unhealthy']);
});

test('two good probes in a row bring it back; writes happen only on changes', () => {
  const steps = run([fail, ok(), fail, ok(), ok(), ok()]);
  expect(steps.map((s) => s.status)).toEqual(['unhealthy', 'unhealthy', 'unhealthy', 'unhealthy', 'healthy', 'healthy']);
  expect(steps.map((s) => s.write)).toEqual([true, false, false, false, true, false]);
});

test('slow or partial probes make an endpoint degraded, and it switches back on one good probe', () => {
  const steps = run([ok(), ok(2_500), { ok: true, latencyMs: 10, errorClass: 'partial' }, ok()]);
  expect(steps.map((s) => s.status)).toEqual(['healthy', 'degraded', 'degraded', 'healthy']);
  expect(steps.map((s) => s.write)).toEqual([true, true, false, true]);
});

test('a heartbeat rewrites an unchanged state after heartbeatMs', () => {
  const first = nextHealth(undefined, ok(), id, t(0)).state;
  expect(nextHealth(first, ok(), id, new Date(t(0).getTime() + 599_000)).write).toBe(false);
  const beat = nextHealth(first, ok(), id, new Date(t(0).getTime() + 600_000));
  expect(beat.write).toBe(true);
  expect(beat.transition).toBeUndefined();
  expect(beat.state.writtenAt).toBe(new Date(t(0).getTime() + 600_000).toISOString());
  expect(beat.state.lastChangeAt).toBe(t(0).toISOString());
});

test('the state records the error class, never more, and the latency only of good probes', () => {
  const down = nextHealth(undefined, fail, id, t(0));
  expect(down.state).toEqual({
    ...id,
    status: 'unhealthy',
    consecutiveFailures: 1,
    consecutiveSuccesses: 0,
    lastCheckAt: t(0).toISOString(),
    lastChangeAt: t(0).toISOString(),
    latencyMs: undefined,
    errorClass: 'connect_refused',
    writtenAt: t(0).toISOString(),
  });
  expect(down.transition).toEqual({ endpointId: 'ep_1', region: 'eu-west-1', from: 'unknown', to: 'unhealthy', at: t(0).toISOString(), errorClass: 'connect_refused', latencyMs: undefined });
});

test('thresholds are configurable', () => {
  let state: EndpointHealth | undefined;
  const statuses = [ok(), fail, fail, fail].map((p, i) => (state = nextHealth(state, p, id, t(i), { failuresToUnhealthy: 3 }).state).status);
  expect(statuses).toEqual(['healthy', 'healthy', 'healthy', 'unhealthy']);
});
