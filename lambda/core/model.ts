/**
 * The registry's domain types. Pure data: no AWS, no HTTP.
 */
import type { PlanLimits } from './plans';

export const PLANS = ['free', 'pro', 'team', 'enterprise'] as const;
export type Plan = (typeof PLANS)[number];

export const KEY_ROLES = ['member', 'admin'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

export const UPSTREAM_AUTH_TYPES = ['none', 'bearer', 'header', 'basic'] as const;
export type UpstreamAuthType = (typeof UPSTREAM_AUTH_TYPES)[number];

export interface Org {
  readonly orgId: string;
  readonly name: string;
  readonly plan: Plan;
  /** CIDR blocks callers must come from; empty means any address. */
  readonly ipAllowlist: string[];
  /** Per-org overrides of the plan's limits, set by the operator only. @default none */
  readonly planOverrides?: Partial<PlanLimits>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface Endpoint {
  /** Stable id used in routing, health status and sealed session ids; never the URL. */
  readonly id: string;
  readonly url: string;
  readonly weight: number;
}

/** An encrypted secret: envelope-encrypted, bound to its org and MCP by the encryption context. */
export interface EncryptedSecret {
  /** Which key wrapped the data key: `kms` or `local`. */
  readonly provider: 'kms' | 'local';
  /** The wrapped (encrypted) data key, base64. */
  readonly wrappedKey: string;
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
}

/** How the gateway authenticates to the upstream. The secret part is write-only. */
export type UpstreamAuth =
  | { readonly type: 'none' }
  | { readonly type: 'bearer' }
  | { readonly type: 'header'; readonly headerName: string }
  | { readonly type: 'basic'; readonly username: string };

/**
 * Glob patterns (`*` wildcard) over tool names, prompt names or resource URIs (the same shape for
 * all three features).
 */
export interface ToolPolicy {
  /** Patterns that may be used; empty means all. */
  readonly allow: string[];
  /** Patterns that may never be used; wins over `allow`. */
  readonly deny: string[];
}
/** The same glob policy, named for what it governs where that reads better. */
export type FeaturePolicy = ToolPolicy;

export interface Timeouts {
  readonly connectMs: number;
  readonly firstByteMs: number;
  readonly idleMs: number;
}

/**
 * What the upstream charges for calls through the gateway, in USD (docs/gateway.md, "Cost"). Each
 * charged JSON-RPC request costs `tools[name]` when it is a `tools/call` of a tool listed here,
 * otherwise `perCallUsd`; usage records carry the sum in micro-USD.
 */
export interface McpPricing {
  /** USD per charged request that no tool price covers. @default 0 */
  readonly perCallUsd?: number;
  /** USD per `tools/call` of each named tool, instead of `perCallUsd`. @default none */
  readonly tools?: Readonly<Record<string, number>>;
}

export interface McpServer {
  readonly orgId: string;
  readonly slug: string;
  readonly displayName: string;
  readonly endpoints: Endpoint[];
  readonly upstreamAuth: UpstreamAuth;
  /** Only whether a secret is set is ever exposed, never the secret. */
  readonly hasUpstreamSecret: boolean;
  readonly toolPolicy: ToolPolicy;
  /** Resource URI patterns (applied to `resources/read`, `resources/subscribe`, lists, completions). @default allow all */
  readonly resourcePolicy?: FeaturePolicy;
  /** Prompt name patterns (applied to `prompts/get`, `prompts/list`, completions). @default allow all */
  readonly promptPolicy?: FeaturePolicy;
  readonly timeouts: Timeouts;
  /** What the upstream charges; absent when it charges nothing (or nobody said). @default none */
  readonly pricing?: McpPricing;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** What the store holds for an MCP server: the public record plus the encrypted credential. */
export interface StoredMcpServer extends McpServer {
  readonly upstreamSecret?: EncryptedSecret;
}

export interface KeyScopes {
  /** `*` for every MCP of the org, or a list of MCP slugs. */
  readonly mcps: '*' | string[];
  /** Per-MCP tool patterns, keyed by slug (`*` applies to every MCP). */
  readonly tools: Record<string, ToolPolicy>;
  /** Per-MCP resource URI patterns, keyed by slug (`*` applies to every MCP). @default none */
  readonly resources?: Record<string, FeaturePolicy>;
  /** Per-MCP prompt name patterns, keyed by slug (`*` applies to every MCP). @default none */
  readonly prompts?: Record<string, FeaturePolicy>;
}

export interface ApiKey {
  readonly keyId: string;
  readonly orgId: string;
  readonly name: string;
  readonly role: KeyRole;
  readonly scopes: KeyScopes;
  /** Requests per minute for this key: lower than the plan's, or higher only when the operator set it (see plans.ts keyRateLimit). */
  readonly rateLimitPerMinute?: number;
  /** True when the operator set `rateLimitPerMinute` (it may then exceed the plan's). @default false */
  readonly rateLimitSetByOperator?: boolean;
  readonly expiresAt?: string;
  readonly revokedAt?: string;
  readonly createdAt: string;
  readonly lastUsedAt?: string;
  /**
   * Set on the backing key of an OAuth grant (a grant is a key, so every key rule applies): the client it
   * was approved for and the grant. Such a key has no presentable secret; access tokens of that
   * grant act as it.
   */
  readonly oauth?: { readonly clientId: string; readonly clientName: string; readonly grantId: string };
}

/** What the store holds for a key: the public record plus the Argon2id hash of its secret. */
export interface StoredApiKey extends ApiKey {
  readonly secretHash: string;
}

export interface Page<T> {
  readonly items: T[];
  /** Opaque cursor for the next page; absent on the last page. */
  readonly nextCursor?: string;
}

export const DEFAULT_TIMEOUTS: Timeouts = { connectMs: 5_000, firstByteMs: 60_000, idleMs: 300_000 };
