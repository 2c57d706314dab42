import { PassiveHealth, weightedOrder } from '../../../lambda/core/gateway/passive-health';

describe('PassiveHealth', () => {
  test('an endpoint marked down is skipped for the cool-down, then tried again', () => {
    let now = 0;
    const health = new PassiveHealth(30_000, () => now);
    expect(health.isUp('a')).toBe(true);
    health.markDown('a');
    expect(health.isUp('a')).toBe(false);
    expect(health.isUp('b')).toBe(true);
    now = 29_999;
    expect(health.isUp('a')).toBe(false);
    now = 30_000;
    expect(health.isUp('a')).toBe(true);
  });

  test('markUp clears the cool-down at once', () => {
    const health = new PassiveHealth(30_000, () => 0);
    health.markDown('a');
    health.markUp('a');
    expect(health.isUp('a')).toBe(true);
  });
});

describe('weightedOrder', () => {
  test('puts every item exactly once', () => {
    const items = [{ id: 'a', weight: 1 }, { id: 'b', weight: 5 }, { id: 'c', weight: 100 }];
    const order = weightedOrder(items, () => 0.5);
    expect(order.map((i) => i.id).sort()).toEqual(['a', 'b', 'c']);
  });

  test('first picks follow the weights (deterministic random sequence)', () => {
    const items = [{ id: 'a', weight: 100 }, { id: 'b', weight: 50 }];
    let seed = 42;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646; // Park-Miller
    const firsts = { a: 0, b: 0 };
    for (let i = 0; i < 6000; i++) firsts[weightedOrder(items, random)[0]!.id as 'a' | 'b'] += 1;
    expect(firsts.a / 6000).toBeGreaterThan(0.62);
    expect(firsts.a / 6000).toBeLessThan(0.71); // 2/3 expected
  });

  test('random at the upper edge still returns a valid order', () => {
    expect(weightedOrder([{ weight: 1 }, { weight: 1 }], () => 0.9999999999).length).toBe(2);
    expect(weightedOrder([], Math.random)).toEqual([]);
  });
});
