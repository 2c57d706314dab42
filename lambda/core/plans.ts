import type { ApiKey, Org, Plan } from './model';

/**
 * What an organisation's plan lets it make the gateway do. Every create and every request is
 * bounded by one of these; the operator can override any of them per organisation
 * (`Org.planOverrides`).
 */
export interface PlanLimits {
  /** Default per-key requests per minute, and the ceiling of a key's own `rateLimitPerMinute` (unless the operator set it). */
  readonly requestsPerMinute: number;
  /** Requests per org per calendar month (UTC). */
  readonly monthlyRequests: number;
  /** MCP servers per organisation. */
  readonly maxMcpServers: number;
  /** Endpoints per MCP server (each is health-checked every minute in every region). */
  readonly maxEndpointsPerMcp: number;
  /** API keys per organisation that are not revoked. */
  readonly maxApiKeys: number;
  /** Long-lived streams (GET streams, `subscriptions/listen`) open at once per key. */
  readonly maxConcurrentStreamsPerKey: number;
  /** `initialize` requests per key per minute (a separate budget from `requestsPerMinute`). */
  readonly handshakesPerKeyPerMinute: number;
  /** Webhook endpoints per organisation (0: the plan has no webhooks). */
  readonly maxWebhookEndpoints: number;
}

export const PLAN_LIMIT_NAMES = [
  'requestsPerMinute',
  'monthlyRequests',
  'maxMcpServers',
  'maxEndpointsPerMcp',
  'maxApiKeys',
  'maxConcurrentStreamsPerKey',
  'handshakesPerKeyPerMinute',
  'maxWebhookEndpoints',
] as const satisfies readonly (keyof PlanLimits)[];

/** The one table of plan defaults. "Unlimited" MCP servers (team and up) is a large finite bound. */
export const PLAN_LIMITS: Readonly<Record<Plan, PlanLimits>> = {
  free: {
    requestsPerMinute: 60,
    monthlyRequests: 10_000,
    maxMcpServers: 3,
    maxEndpointsPerMcp: 2,
    maxApiKeys: 10,
    maxConcurrentStreamsPerKey: 5,
    handshakesPerKeyPerMinute: 10,
    maxWebhookEndpoints: 0,
  },
  pro: {
    requestsPerMinute: 600,
    monthlyRequests: 1_000_000,
    maxMcpServers: 25,
    maxEndpointsPerMcp: 5,
    maxApiKeys: 100,
    maxConcurrentStreamsPerKey: 50,
    handshakesPerKeyPerMinute: 60,
    maxWebhookEndpoints: 5,
  },
  team: {
    requestsPerMinute: 3_000,
    monthlyRequests: 10_000_000,
    maxMcpServers: 10_000,
    maxEndpointsPerMcp: 10,
    maxApiKeys: 1_000,
    maxConcurrentStreamsPerKey: 200,
    handshakesPerKeyPerMinute: 300,
    maxWebhookEndpoints: 25,
  },
  enterprise: {
    requestsPerMinute: 10_000,
    monthlyRequests: 100_000_000,
    maxMcpServers: 10_000,
    maxEndpointsPerMcp: 20,
    maxApiKeys: 10_000,
    maxConcurrentStreamsPerKey: 1_000,
    handshakesPerKeyPerMinute: 1_000,
    maxWebhookEndpoints: 100,
  },
};

/** The limits that apply to `org`: its plan's, with the operator's overrides for this org on top. */
export function effectivePlan(org: Pick<Org, 'plan' | 'planOverrides'>, table: Readonly<Record<Plan, PlanLimits>> = PLAN_LIMITS): PlanLimits {
  const base = table[org.plan];
  return org.planOverrides ? { ...base, ...org.planOverrides } : base;
}

/**
 * A key's per-minute limit: its own `rateLimitPerMinute` when lower than the plan's, or when the
 * operator set it (then it may be higher); otherwise the plan's. Applied at request time too, so a
 * plan downgrade lowers existing keys at once.
 */
export function keyRateLimit(key: Pick<ApiKey, 'rateLimitPerMinute' | 'rateLimitSetByOperator'>, plan: PlanLimits): number {
  const own = key.rateLimitPerMinute;
  if (own === undefined) return plan.requestsPerMinute;
  return key.rateLimitSetByOperator ? own : Math.min(own, plan.requestsPerMinute);
}
