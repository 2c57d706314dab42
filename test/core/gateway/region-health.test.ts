import { healthAnswer, RegionHealth, type RegionChecks } from '../../../lambda/core/gateway/region-health';

const passing = (): { [K in keyof RegionChecks]: jest.Mock } => ({
  registry: jest.fn(async () => 'ok'),
  counters: jest.fn(async () => 1),
  sessionKey: jest.fn(async () => undefined),
  credentialsKey: jest.fn(async () => new Uint8Array(32)),
});

describe('RegionHealth', () => {
  test('every component passing is ok; one failing is named, and only by name', async () => {
    const checks = passing();
    expect(await new RegionHealth(checks).report()).toMatchObject({ ok: true, failing: [] });
    checks.counters.mockRejectedValue(new Error('ResourceNotFoundException: table plexmcp-counters in 111111111111'));
    const report = await new RegionHealth(checks).report();
    expect(report).toMatchObject({ ok: false, failing: ['counters'] });
    const answer = healthAnswer(report, 'eu-west-1', 'req-1');
    expect([answer.status, JSON.parse(answer.body as string)]).toEqual([503, { status: 'unavailable', region: 'eu-west-1', failing: ['counters'] }]);
    expect(answer.body).not.toMatch(/plexmcp-counters|111111111111/);
    expect(answer.headers).toMatchObject({ 'cache-control': 'no-store', 'retry-after': '5', 'content-length': String(Buffer.byteLength(answer.body as string)) });
  });

  test('a component that hangs fails at the deadline instead of holding the check', async () => {
    const checks = passing();
    checks.registry.mockImplementation(() => new Promise(() => undefined));
    const started = Date.now();
    const report = await new RegionHealth(checks, { timeoutMs: 50 }).report();
    expect(report.failing).toEqual(['registry']);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  test('reports are reused for cacheMs, and concurrent callers share one check', async () => {
    let clock = 0;
    const checks = passing();
    const health = new RegionHealth(checks, { cacheMs: 5_000, now: () => clock });
    await Promise.all(Array.from({ length: 50 }, () => health.report()));
    expect(checks.registry).toHaveBeenCalledTimes(1);
    clock = 4_999;
    await health.report();
    expect(checks.counters).toHaveBeenCalledTimes(1);
    checks.sessionKey.mockRejectedValue(new Error('bad key'));
    clock = 5_000;
    expect((await health.report()).failing).toEqual(['sessionKey']);
    expect(checks.sessionKey).toHaveBeenCalledTimes(2);
    // A recovery shows at the next interval.
    checks.sessionKey.mockResolvedValue(undefined);
    clock = 10_000;
    expect(await health.report()).toMatchObject({ ok: true, checkedAt: 10_000 });
  });
});
