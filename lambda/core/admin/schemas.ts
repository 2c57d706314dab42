import { z } from '@hono/zod-openapi';
import { ALERT_EVENT_TYPES, MAX_ALERT_SUBSCRIPTIONS_PER_ORG } from '../alert-service';
import { HEALTH_STATUSES } from '../health/model';
import { KEY_ROLES, PLANS } from '../model';
import { PLAN_LIMIT_NAMES } from '../plans';
import { isValidCidr } from '../url-policy';
import { MAX_POLICY_PATTERNS, NAME_PATTERN, RESOURCE_PATTERN } from '../policy-patterns';

/**
 * The admin API's schemas: they validate requests and generate the OpenAPI document, so the
 * document cannot drift from what the API accepts.
 */

/** True when `s` has no C0 control character or DEL (CR/LF would allow header injection). */
const noControlChars = (s: string) => ![...s].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);

export const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const SlugSchema = z
  .string()
  .regex(SLUG_PATTERN, 'must be 1-63 lower-case letters, digits or inner hyphens')
  .openapi({ example: 'github-tools' });

export const OrgIdSchema = z.string().regex(/^org_[a-z2-7]{16}$/, 'is not an organisation id');
export const KeyIdSchema = z.string().regex(/^[a-z2-7]{16}$/, 'is not a key id');

const DisplayName = z.string().trim().min(1).max(200).refine(noControlChars, 'must not contain control characters');

const NamePattern = z.string().regex(NAME_PATTERN, 'must be a name pattern (letters, digits, _ . - / : and *)');
const ResourcePattern = z
  .string()
  .regex(RESOURCE_PATTERN, 'must be a URI pattern of 1-512 URI characters, * as the wildcard, e.g. file:///docs/*')
  .openapi({ example: 'file:///docs/*' });

const policyOf = (pattern: z.ZodString, name: string, what: string) =>
  z
    .object({
      allow: z.array(pattern).max(MAX_POLICY_PATTERNS).default([]).openapi({ description: `${what} that may be used; empty means all` }),
      deny: z.array(pattern).max(MAX_POLICY_PATTERNS).default([]).openapi({ description: `${what} that may never be used; wins over allow` }),
    })
    .strict()
    .openapi(name);

export const ToolPolicySchema = policyOf(NamePattern, 'ToolPolicy', 'Tool name patterns');
export const ResourcePolicySchema = policyOf(ResourcePattern, 'ResourcePolicy', 'Resource URI patterns');
export const PromptPolicySchema = policyOf(NamePattern, 'PromptPolicy', 'Prompt name patterns');
const PolicyView = z.object({ allow: z.array(z.string()), deny: z.array(z.string()) });

const Cidr = z.string().max(64).refine(isValidCidr, 'must be an IP address or CIDR block');
export const IpAllowlistSchema = z.array(Cidr).max(100);

/** A header value or credential: no CR/LF or other control characters (header injection). */
const SecretValue = z.string().min(1).max(4096).refine(noControlChars, 'must not contain control characters');

/** Headers the gateway owns; an upstream credential may not set them. */
const RESERVED_HEADERS = new Set([
  'host', 'connection', 'content-length', 'content-type', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'keep-alive', 'proxy-authorization', 'proxy-connection', 'cookie', 'accept', 'mcp-session-id',
  'mcp-protocol-version', 'last-event-id', 'x-request-id', 'x-forwarded-for',
]);
const HeaderName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'must be an HTTP header name')
  .refine((h) => !RESERVED_HEADERS.has(h.toLowerCase()), 'is a header the gateway manages');

export const UpstreamAuthInputSchema = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('none') }).strict(),
    z.object({ type: z.literal('bearer'), token: SecretValue }).strict(),
    z.object({ type: z.literal('header'), headerName: HeaderName, value: SecretValue }).strict(),
    z
      .object({
        type: z.literal('basic'),
        username: z.string().min(1).max(256).refine((u) => noControlChars(u) && !u.includes(':'), 'must not contain ":" or control characters'),
        password: SecretValue,
      })
      .strict(),
  ])
  .openapi('UpstreamAuthInput', { description: 'Write-only: the secret part is never returned.' });

export const UpstreamAuthSchema = z
  .object({
    type: z.enum(['none', 'bearer', 'header', 'basic']),
    headerName: z.string().optional(),
    username: z.string().optional(),
  })
  .openapi('UpstreamAuth');

/** The most endpoints any MCP server may have, whatever its plan says (`maxEndpointsPerMcp` is usually lower). */
export const MAX_ENDPOINTS = 100;

export const EndpointInputSchema = z
  .object({
    url: z.string().min(1).openapi({ example: 'https://mcp.example.com/mcp' }),
    weight: z.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const TimeoutsInputSchema = z
  .object({
    connectMs: z.number().int().min(100).max(30_000).optional(),
    firstByteMs: z.number().int().min(1_000).max(900_000).optional(),
    idleMs: z.number().int().min(1_000).max(900_000).optional(),
  })
  .strict();

// ---- MCP pricing ----

/** Most tool prices one MCP server may list (a record the gateway reads on every priced request). */
export const MAX_TOOL_PRICES = 200;
/** Highest price of one call, USD: a bound that keeps every request's cost a safe integer in micro-USD. */
export const MAX_PRICE_USD = 1_000;

const PriceUsd = z.number().min(0).max(MAX_PRICE_USD);

/** A tool name as MCP tools are named (and as tool policies match them), without the wildcard. */
const ToolName = z.string().regex(/^[A-Za-z0-9_.\-/:]{1,128}$/, 'must be a tool name (1-128 letters, digits, _ . - / :)');

/**
 * Tool prices by name. A JSON object may carry `__proto__` as a key, which a zod record skips
 * without checking it: refused here instead, before the record drops it silently.
 */
const ToolPrices = z.preprocess(
  (value, ctx) => {
    if (typeof value === 'object' && value !== null && Object.hasOwn(value, '__proto__')) {
      ctx.addIssue({ code: 'custom', message: 'is not a usable tool name', path: ['__proto__'], input: value });
    }
    return value;
  },
  z.record(ToolName, PriceUsd).refine((tools) => Object.keys(tools).length <= MAX_TOOL_PRICES, `must list at most ${MAX_TOOL_PRICES} tools`),
);

export const PricingSchema = z
  .object({
    perCallUsd: PriceUsd.optional().openapi({ description: 'USD per charged request that no tool price covers; default 0', example: 0.002 }),
    tools: ToolPrices.optional().openapi({ description: `USD per tools/call of each named tool (at most ${MAX_TOOL_PRICES}), instead of perCallUsd`, example: { search: 0.01, fetch: 0 } }),
  })
  .strict()
  .openapi('McpPricing', {
    description:
      'What the upstream charges, in USD. A request costs, for each of its JSON-RPC requests that the upstream answered with a 2xx status ' +
      '(initialize and ping excepted), tools[name] for a tools/call of a listed tool, otherwise perCallUsd; rounded half up to whole micro-USD per message.',
  });

// ---- plans ----

const limitField = (description: string, min = 1) => z.number().int().min(min).max(Number.MAX_SAFE_INTEGER).openapi({ description });
const LIMIT_DESCRIPTIONS: Record<(typeof PLAN_LIMIT_NAMES)[number], string> = {
  requestsPerMinute: "Default per-key requests per minute, and the ceiling of a key's own rateLimitPerMinute unless the operator set it",
  monthlyRequests: 'Requests per org per calendar month (UTC)',
  maxMcpServers: 'MCP servers per organisation',
  maxEndpointsPerMcp: `Endpoints per MCP server (never more than ${MAX_ENDPOINTS})`,
  maxApiKeys: 'API keys per organisation that are not revoked',
  maxConcurrentStreamsPerKey: 'Long-lived streams open at once per key',
  handshakesPerKeyPerMinute: 'initialize requests per key per minute',
  maxWebhookEndpoints: 'Webhook endpoints per organisation (0: the plan has no webhooks)',
};
/** Limits that may be 0 (a feature the plan does not have); the others are at least 1. */
const MAY_BE_ZERO: ReadonlySet<string> = new Set(['maxWebhookEndpoints']);

export const PlanLimitsSchema = z
  .object(Object.fromEntries(PLAN_LIMIT_NAMES.map((name) => [name, limitField(LIMIT_DESCRIPTIONS[name], MAY_BE_ZERO.has(name) ? 0 : 1)])) as Record<(typeof PLAN_LIMIT_NAMES)[number], ReturnType<typeof limitField>>)
  .openapi('PlanLimits');

/** Operator overrides: any subset of the limits, positive whole numbers; they replace the stored set. */
export const PlanOverridesSchema = PlanLimitsSchema.partial()
  .strict()
  .openapi('PlanOverrides', { description: 'Per-org overrides of the plan limits (operator only). Replaces the current overrides; null or {} removes them.' });

// ---- organisations ----

export const OrgSchema = z
  .object({
    orgId: z.string(),
    name: z.string(),
    plan: z.enum(PLANS),
    ipAllowlist: z.array(z.string()),
    planOverrides: PlanOverridesSchema.optional(),
    limits: PlanLimitsSchema.openapi({ description: 'The limits in force: the plan with the overrides on top' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Org');

export const OrgUsageSchema = z
  .object({ mcpServers: z.number(), apiKeys: z.number().openapi({ description: 'Unrevoked keys, expired ones included' }) })
  .openapi('OrgUsage', { description: 'What counts against maxMcpServers and maxApiKeys' });

export const OrgDetailSchema = OrgSchema.extend({ usage: OrgUsageSchema }).openapi('OrgDetail');

export const CreateOrgSchema = z
  .object({
    name: DisplayName,
    plan: z.enum(PLANS).default('free'),
    ipAllowlist: IpAllowlistSchema.default([]),
    planOverrides: PlanOverridesSchema.nullable().optional(),
  })
  .strict()
  .openapi('CreateOrg');

export const UpdateOrgSchema = z
  .object({
    name: DisplayName.optional(),
    plan: z.enum(PLANS).optional().openapi({ description: 'Operator only' }),
    ipAllowlist: IpAllowlistSchema.optional(),
    planOverrides: PlanOverridesSchema.nullable().optional(),
  })
  .strict()
  .openapi('UpdateOrg');

// ---- MCP servers ----

export const McpServerSchema = z
  .object({
    orgId: z.string(),
    slug: z.string(),
    displayName: z.string(),
    endpoints: z.array(z.object({ id: z.string(), url: z.string(), weight: z.number() })),
    upstreamAuth: UpstreamAuthSchema,
    hasUpstreamSecret: z.boolean(),
    toolPolicy: PolicyView,
    resourcePolicy: PolicyView,
    promptPolicy: PolicyView,
    timeouts: z.object({ connectMs: z.number(), firstByteMs: z.number(), idleMs: z.number() }),
    pricing: PricingSchema.optional().openapi({ description: 'What the upstream charges; absent when nothing is priced' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('McpServer');

export const CreateMcpSchema = z
  .object({
    slug: SlugSchema,
    displayName: DisplayName.optional(),
    endpoints: z.array(EndpointInputSchema).min(1).max(MAX_ENDPOINTS),
    upstreamAuth: UpstreamAuthInputSchema.default({ type: 'none' }),
    toolPolicy: ToolPolicySchema.default({ allow: [], deny: [] }),
    resourcePolicy: ResourcePolicySchema.optional().openapi({ description: 'Resource URI patterns; default allow all' }),
    promptPolicy: PromptPolicySchema.optional().openapi({ description: 'Prompt name patterns; default allow all' }),
    timeouts: TimeoutsInputSchema.default({}),
    pricing: PricingSchema.nullable().optional().openapi({ description: 'What the upstream charges; default none (null or {} is none)' }),
  })
  .strict()
  .openapi('CreateMcpServer');

export const UpdateMcpSchema = z
  .object({
    displayName: DisplayName.optional(),
    endpoints: z.array(EndpointInputSchema).min(1).max(MAX_ENDPOINTS).optional(),
    upstreamAuth: UpstreamAuthInputSchema.optional(),
    toolPolicy: ToolPolicySchema.optional(),
    resourcePolicy: ResourcePolicySchema.optional(),
    promptPolicy: PromptPolicySchema.optional(),
    timeouts: TimeoutsInputSchema.optional(),
    pricing: PricingSchema.nullable().optional().openapi({ description: 'Replaces the current pricing as a whole; null or {} removes it' }),
  })
  .strict()
  .openapi('UpdateMcpServer');

// ---- API keys ----

const PerMcp = <T extends z.ZodType>(policy: T) => z.record(z.union([SlugSchema, z.literal('*')]), policy);

const ScopesSchema = z
  .object({
    mcps: z.union([z.literal('*'), z.array(SlugSchema).min(1).max(100)]).default('*'),
    tools: PerMcp(ToolPolicySchema).default({}).openapi({ description: 'Tool name patterns per MCP slug (`*`: every MCP)' }),
    resources: PerMcp(ResourcePolicySchema).optional().openapi({ description: 'Resource URI patterns per MCP slug (`*`: every MCP); default none' }),
    prompts: PerMcp(PromptPolicySchema).optional().openapi({ description: 'Prompt name patterns per MCP slug (`*`: every MCP); default none' }),
  })
  .strict()
  .openapi('KeyScopes');

export const ApiKeySchema = z
  .object({
    keyId: z.string(),
    orgId: z.string(),
    name: z.string(),
    role: z.enum(KEY_ROLES),
    scopes: z.object({
      mcps: z.union([z.literal('*'), z.array(z.string())]),
      tools: z.record(z.string(), PolicyView),
      resources: z.record(z.string(), PolicyView).optional(),
      prompts: z.record(z.string(), PolicyView).optional(),
    }),
    rateLimitPerMinute: z.number().optional(),
    rateLimitSetByOperator: z.boolean().optional().openapi({ description: "True when the operator set rateLimitPerMinute (it may then exceed the plan's)" }),
    expiresAt: z.string().optional(),
    revokedAt: z.string().optional(),
    createdAt: z.string(),
    lastUsedAt: z.string().optional(),
    oauth: z
      .object({ clientId: z.string(), clientName: z.string(), grantId: z.string() })
      .optional()
      .openapi({ description: 'Set on the backing key of an OAuth grant (it counts against maxApiKeys, works only through the grant\'s tokens, and is revoked with the grant: /orgs/{orgId}/grants)' }),
  })
  .openapi('ApiKey');

export const CreateKeySchema = z
  .object({
    name: DisplayName,
    role: z.enum(KEY_ROLES).default('member'),
    scopes: ScopesSchema.default({ mcps: '*', tools: {} }),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    rateLimitPerMinute: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .openapi({ description: "At most the plan's requestsPerMinute for an org admin (403 plan_limit_reached); any value for the operator" }),
  })
  .strict()
  .openapi('CreateApiKey');

export const CreatedKeySchema = z
  .object({
    key: ApiKeySchema,
    secret: z.string().openapi({ description: 'The full API key. Shown only in this response; store it now.' }),
  })
  .openapi('CreatedApiKey');

// ---- health and discovered tools ----

const HealthStatusSchema = z.enum(HEALTH_STATUSES);
const ErrorClass = z.string().openapi({ description: 'Why the last probe failed, from a fixed vocabulary (never an upstream message)', example: 'connect_timeout' });

export const EndpointHealthSchema = z
  .object({
    orgId: z.string(),
    mcp: z.string(),
    endpointId: z.string(),
    region: z.string(),
    status: HealthStatusSchema,
    consecutiveFailures: z.number(),
    consecutiveSuccesses: z.number(),
    lastCheckAt: z.string(),
    lastChangeAt: z.string(),
    latencyMs: z.number().optional(),
    errorClass: ErrorClass.optional(),
    writtenAt: z.string(),
  })
  .openapi('EndpointHealth');

export const HealthTransitionSchema = z
  .object({
    endpointId: z.string(),
    region: z.string(),
    from: z.union([HealthStatusSchema, z.literal('unknown')]),
    to: HealthStatusSchema,
    at: z.string(),
    errorClass: ErrorClass.optional(),
    latencyMs: z.number().optional(),
  })
  .openapi('HealthTransition');

export const McpHealthSchema = z
  .object({
    endpoints: z.array(EndpointHealthSchema).openapi({ description: 'The current state of each configured endpoint in each region that checked it' }),
    history: z.array(HealthTransitionSchema).openapi({ description: 'Status changes, newest first (kept 7 days)' }),
  })
  .openapi('McpHealth');

export const HealthQuerySchema = z.object({
  history: z.coerce.number().int().min(0).max(100).default(20).openapi({ description: 'How many recent status changes to return' }),
});

const NamedItemSchema = z.object({ name: z.string(), uri: z.string().optional(), description: z.string().optional() });

export const McpToolsSchema = z
  .object({
    tools: z.array(
      z.object({ name: z.string(), title: z.string().optional(), description: z.string().optional(), inputSchema: z.unknown().optional() }),
    ),
    resources: z.array(NamedItemSchema),
    prompts: z.array(NamedItemSchema),
    hash: z.string().openapi({ description: 'SHA-256 over the canonical JSON of tools, resources and prompts' }),
    discoveredAt: z.string(),
    region: z.string().openapi({ description: 'The region whose checker discovered them' }),
  })
  .openapi('McpTools');

// ---- alert subscriptions ----

export const AlertIdSchema = z.string().regex(/^al_[a-z2-7]{16}$/, 'is not an alert subscription id');
const AlertEventTypeSchema = z.enum(ALERT_EVENT_TYPES);

export const CreateAlertSchema = z
  .object({
    type: z.literal('email'),
    address: z.email('must be an email address').max(254).openapi({ example: 'oncall@example.com' }),
    events: z
      .array(AlertEventTypeSchema)
      .min(1)
      .max(ALERT_EVENT_TYPES.length)
      .optional()
      .openapi({ description: 'Which events to send; default both' }),
  })
  .strict()
  .openapi('CreateAlertSubscription', {
    description: `Email alerts for this organisation (pro, team and enterprise plans; at most ${MAX_ALERT_SUBSCRIPTIONS_PER_ORG}). In AWS the recipient first confirms the subscription from an email.`,
  });

export const AlertSubscriptionSchema = z
  .object({
    subscriptionId: z.string(),
    orgId: z.string(),
    type: z.literal('email'),
    address: z.string(),
    events: z.array(AlertEventTypeSchema),
    createdAt: z.string(),
    deliveryRef: z.string().optional().openapi({ description: "The delivery system's id (the SNS subscription ARN), when it has one" }),
  })
  .openapi('AlertSubscription');

export const AlertListSchema = z.object({ items: z.array(AlertSubscriptionSchema) }).openapi('AlertSubscriptionList');

// ---- shared ----

export const PageQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().min(1).max(2048).optional(),
});

export const pageOf = <T extends z.ZodType>(item: T, name: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().optional() }).openapi(name);

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_failed' }),
      message: z.string(),
      requestId: z.string(),
      details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
      limit: z
        .object({ name: z.enum(PLAN_LIMIT_NAMES), value: z.number() })
        .optional()
        .openapi({ description: 'With plan_limit_reached: the limit in force that the request ran into' }),
    }),
  })
  .openapi('Error');

export const WhoAmISchema = z
  .union([
    z.object({ principal: z.literal('operator') }),
    z.object({ principal: z.literal('key'), orgId: z.string(), keyId: z.string(), role: z.enum(KEY_ROLES) }),
  ])
  .openapi('WhoAmI');

export const PlansSchema = z
  .object({ items: z.array(PlanLimitsSchema.extend({ plan: z.enum(PLANS) })) })
  .openapi('Plans');

export type CreateOrgInput = z.infer<typeof CreateOrgSchema>;
export type UpdateOrgInput = z.infer<typeof UpdateOrgSchema>;
export type CreateMcpInput = z.infer<typeof CreateMcpSchema>;
export type UpdateMcpInput = z.infer<typeof UpdateMcpSchema>;
export type CreateKeyInput = z.infer<typeof CreateKeySchema>;
export type UpstreamAuthInput = z.infer<typeof UpstreamAuthInputSchema>;
export type PricingInput = z.infer<typeof PricingSchema>;
export type CreateAlertInput = z.infer<typeof CreateAlertSchema>;
