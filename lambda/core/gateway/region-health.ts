import type { GatewayAnswer } from './exchange';

/**
 * Whether this region can serve: what `GET /healthz` answers, and what Route 53's health check
 * of the region reads (a failing region drops out of the latency records). Each component is
 * checked the way requests use it:
 * - `registry`: the registry table is readable (the session key's config item);
 * - `counters`: the counters table is writable (one unconditional add on a health counter);
 * - `sessionKey`: the session-sealing key seals and opens a probe;
 * - `credentialsKey`: the credentials key (KMS in AWS) decrypts the wrapped session key.
 */
export const REGION_COMPONENTS = ['registry', 'counters', 'sessionKey', 'credentialsKey'] as const;
export type RegionComponent = (typeof REGION_COMPONENTS)[number];

export type RegionChecks = Readonly<Record<RegionComponent, () => Promise<unknown>>>;

export interface RegionHealthReport {
  readonly ok: boolean;
  /**
   * The components that failed, by name only (never an error message: it could name a table or
   * key); `startup` when the gateway could not start at all.
   */
  readonly failing: readonly (RegionComponent | 'startup')[];
  /** Epoch ms of the check this report comes from. */
  readonly checkedAt: number;
}

export interface RegionHealthOptions {
  /** A report is reused for this long: a flood of /healthz costs one check per interval. @default 5 s */
  readonly cacheMs?: number;
  /** A component that has not answered by then is failing (a hung store is an unhealthy region). @default 2 s */
  readonly timeoutMs?: number;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
}

export class RegionHealth {
  private readonly cacheMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private last?: RegionHealthReport;
  private inFlight?: Promise<RegionHealthReport>;

  constructor(
    private readonly checks: RegionChecks,
    options: RegionHealthOptions = {},
  ) {
    this.cacheMs = options.cacheMs ?? 5_000;
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  /** The latest report if it is fresh; otherwise one check, shared by every caller waiting for it. */
  report(): Promise<RegionHealthReport> {
    if (this.last && this.now() - this.last.checkedAt < this.cacheMs) return Promise.resolve(this.last);
    this.inFlight ??= this.checkAll().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async checkAll(): Promise<RegionHealthReport> {
    const checkedAt = this.now();
    const results = await Promise.all(REGION_COMPONENTS.map((component) => this.passes(this.checks[component])));
    const failing = REGION_COMPONENTS.filter((_, i) => !results[i]);
    this.last = { ok: failing.length === 0, failing, checkedAt };
    return this.last;
  }

  private async passes(check: () => Promise<unknown>): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.timeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([check().then(() => true as const, () => false as const), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The /healthz answer: 200 `{ status: 'ok', region }` or 503 `{ status: 'unavailable', region,
 * failing: [...] }`, never cached by intermediaries (Route 53 and clients must see the current state).
 */
export function healthAnswer(report: RegionHealthReport, region: string, requestId: string): GatewayAnswer {
  const body = JSON.stringify(report.ok ? { status: 'ok', region } : { status: 'unavailable', region, failing: report.failing });
  return {
    status: report.ok ? 200 : 503,
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      'x-request-id': requestId,
      ...(report.ok ? {} : { 'retry-after': '5' }),
    },
    body,
  };
}
