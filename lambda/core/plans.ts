import type { Plan } from './model';

export interface PlanLimits {
  /** Default per-key requests per minute; a key may override it. */
  readonly requestsPerMinute: number;
  /** Requests per org per calendar month (UTC). */
  readonly monthlyRequests: number;
}

/** The one table of plan defaults. Enforced by the data plane. */
export const PLAN_LIMITS: Readonly<Record<Plan, PlanLimits>> = {
  free: { requestsPerMinute: 60, monthlyRequests: 10_000 },
  pro: { requestsPerMinute: 600, monthlyRequests: 1_000_000 },
  team: { requestsPerMinute: 3_000, monthlyRequests: 10_000_000 },
  enterprise: { requestsPerMinute: 10_000, monthlyRequests: 100_000_000 },
};
