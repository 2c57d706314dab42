/**
 * store-guard.ts: every store call on the request path has a deadline and maps what is not a
 * domain answer to StoreUnavailableError (503 store_unavailable); bounded() caps concurrent work
 * (Argon2id verifications) with a bounded FIFO queue and refuses beyond it at once.
 */
import { ApiError } from '../../../lambda/core/errors';
import { GatewayError, StoreUnavailableError } from '../../../lambda/core/gateway/errors';
import { bounded, DEFAULT_STORE_DEADLINE_MS, guardStore } from '../../../lambda/core/gateway/store-guard';

/** A promise and its settle functions, to decide from the test when a call finishes. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending microtask and immediate run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('guardStore', () => {
  test('the default deadline is 1.5 s, well under the timeouts of MCP clients', () => {
    expect(DEFAULT_STORE_DEADLINE_MS).toBe(1_500);
  });

  test('passes the answer and the arguments through', async () => {
    const guarded = guardStore(async (a: number, b: string) => `${a}:${b}`, 1_000);
    await expect(guarded(7, 'x')).resolves.toBe('7:x');
  });

  test('a call that never settles is StoreUnavailableError at its deadline, not later and not before', async () => {
    const guarded = guardStore(() => new Promise<never>(() => undefined), 200);
    const started = Date.now();
    const error = await guarded().catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toBe('store unavailable: deadline');
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1_000);
  });

  test('a call that answers after the deadline changes nothing (its late rejection is handled)', async () => {
    const late = deferred<string>();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const guarded = guardStore(() => late.promise, 50);
      await expect(guarded()).rejects.toBeInstanceOf(StoreUnavailableError);
      late.reject(new Error('socket hang up'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('domain answers pass unchanged: ApiError (401), GatewayError, StoreUnavailableError', async () => {
    const apiError = new ApiError(401, 'invalid_api_key', 'nope');
    const gatewayError = new GatewayError('authentication_busy', { 'Retry-After': '1' });
    const storeError = new StoreUnavailableError('ThrottlingException');
    for (const error of [apiError, gatewayError, storeError]) {
      await expect(guardStore(async () => Promise.reject(error), 1_000)()).rejects.toBe(error);
    }
  });

  test('anything else (SDK errors, refused connections, non-Error rejections) is StoreUnavailableError named by the error name only', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:8000'), { name: 'ECONNREFUSED' });
    const error = await guardStore(async () => Promise.reject(refused), 1_000)().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    // The address in the original message must not travel on.
    expect((error as Error).message).toBe('store unavailable: ECONNREFUSED');
    const odd = await guardStore(async () => Promise.reject('a string'), 1_000)().catch((e: unknown) => e);
    expect(odd).toBeInstanceOf(StoreUnavailableError);
    const nothing = await guardStore(async () => Promise.reject(undefined), 1_000)().catch((e: unknown) => e);
    expect(nothing).toBeInstanceOf(StoreUnavailableError);
  });

  test('a call that throws synchronously is mapped like an asynchronous failure, and its deadline never fires unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const throwsAtOnce = ((): Promise<number> => {
        throw new TypeError('cannot read properties of undefined');
      }) as () => Promise<number>;
      const guarded = guardStore(throwsAtOnce, 50);
      let outcome: unknown;
      try {
        outcome = await guarded().catch((e: unknown) => e);
      } catch (error) {
        outcome = { thrownSynchronously: error };
      }
      expect(outcome).toBeInstanceOf(StoreUnavailableError);
      await new Promise((resolve) => setTimeout(resolve, 100)); // past the deadline
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('bounded', () => {
  const busy = () => new GatewayError('authentication_busy', { 'Retry-After': '1' });

  test('at most `concurrency` run and `queue` wait; every call beyond is refused at once; waiters start in arrival order', async () => {
    const gates = Array.from({ length: 10 }, () => deferred());
    const started: number[] = [];
    const run = bounded(
      async (i: number) => {
        started.push(i);
        if (gates[i]) await gates[i].promise; // later calls (20, 21) finish at once
        return i * 10;
      },
      2,
      3,
      busy,
    );
    const outcomes = Array.from({ length: 10 }, (_, i) => run(i).then((value) => ({ value }), (error: unknown) => ({ error })));
    await settle();
    expect(started).toEqual([0, 1]);
    // Calls 5..9 found 2 running and 3 waiting: refused without waiting for anything.
    const refused = await Promise.all(outcomes.slice(5));
    for (const outcome of refused) {
      expect(outcome).toEqual({ error: expect.any(GatewayError) });
      expect((outcome as { error: GatewayError }).error.code).toBe('authentication_busy');
    }

    gates[1]!.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2]); // the freed slot went to the first waiter
    gates[0]!.reject(new Error('verification failed')); // a failure frees its slot too
    await settle();
    expect(started).toEqual([0, 1, 2, 3]);
    // Still 2 running (2, 3) and 1 waiting (4): there is room for 2 more waiters, not 3.
    const more = [run(20), run(21), run(22)].map((p) => p.then(() => 'ran', (error: GatewayError) => error.code));
    await settle();
    expect(await more[2]).toBe('authentication_busy');
    for (const i of [2, 3, 4]) gates[i]!.resolve();
    await settle();
    expect(started).toEqual([0, 1, 2, 3, 4, 20, 21]);
    expect(await Promise.all(more.slice(0, 2))).toEqual(['ran', 'ran']);

    expect(await outcomes[0]).toEqual({ error: new Error('verification failed') });
    expect(await Promise.all(outcomes.slice(1, 5))).toEqual([1, 2, 3, 4].map((i) => ({ value: i * 10 })));
  });

  test('when everything finished the full concurrency is available again (no slot leaked)', async () => {
    let running = 0;
    let most = 0;
    const run = bounded(
      async (ms: number) => {
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, ms));
        running--;
        if (ms === 0) throw new Error('fails fast');
        return ms;
      },
      3,
      100,
      busy,
    );
    for (let round = 0; round < 3; round++) {
      const results = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => run(i % 4)));
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(10); // the ms === 0 ones, none refused
      expect(most).toBe(3);
    }
    const gates = Array.from({ length: 3 }, () => deferred());
    const started: number[] = [];
    const again = bounded(async (i: number) => {
      started.push(i);
      await gates[i]!.promise;
    }, 3, 0, busy);
    const three = [0, 1, 2].map((i) => again(i));
    await settle();
    expect(started).toEqual([0, 1, 2]);
    await expect(again(3)).rejects.toMatchObject({ code: 'authentication_busy' }); // queue 0: no waiting at all
    gates.forEach((g) => g.resolve());
    await Promise.all(three);
  });
});
