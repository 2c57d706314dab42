/**
 * Passive health: an endpoint that refused a connection or timed out is skipped for a cool-down,
 * then tried again. Per gateway instance; the scheduled health monitor adds the shared view.
 */
export class PassiveHealth {
  private readonly downUntil = new Map<string, number>();

  constructor(
    private readonly coolDownMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}

  markDown(endpointId: string): void {
    this.downUntil.set(endpointId, this.now() + this.coolDownMs);
  }

  markUp(endpointId: string): void {
    this.downUntil.delete(endpointId);
  }

  isUp(endpointId: string): boolean {
    const until = this.downUntil.get(endpointId);
    if (until === undefined) return true;
    if (until <= this.now()) {
      this.downUntil.delete(endpointId);
      return true;
    }
    return false;
  }
}

/** Weighted random order: each draw picks among the rest in proportion to weight. */
export function weightedOrder<T extends { weight: number }>(items: readonly T[], random: () => number = Math.random): T[] {
  const rest = [...items];
  const order: T[] = [];
  while (rest.length > 0) {
    const total = rest.reduce((sum, item) => sum + item.weight, 0);
    let point = random() * total;
    let index = rest.findIndex((item) => (point -= item.weight) < 0);
    if (index < 0) index = rest.length - 1; // floating-point edge: the last one
    order.push(rest.splice(index, 1)[0]!);
  }
  return order;
}
