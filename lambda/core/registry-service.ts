import { createHash } from 'node:crypto';
import { generateApiKey, publicKey } from './api-keys';
import { upstreamSecretContext, type EnvelopeCipher } from './envelope';
import { ApiError, badRequest, conflict, notFound, type FieldProblem } from './errors';
import { idempotentId, randomId } from './ids';
import {
  DEFAULT_TIMEOUTS,
  type ApiKey,
  type Endpoint,
  type FeaturePolicy,
  type McpPricing,
  type McpServer,
  type Org,
  type Page,
  type StoredMcpServer,
  type UpstreamAuth,
} from './model';
import { effectivePlan, type PlanLimits } from './plans';
import { InvalidCursorError, type OrgUsage, type PageRequest, type RegistryStore } from './registry-store';
import { checkEndpointUrl, type UrlPolicy } from './url-policy';
import type {
  CreateKeyInput,
  CreateMcpInput,
  CreateOrgInput,
  PricingInput,
  UpdateMcpInput,
  UpdateOrgInput,
  UpstreamAuthInput,
} from './admin/schemas';

export interface RegistryServiceDeps {
  readonly store: RegistryStore;
  readonly cipher: EnvelopeCipher;
  readonly urlPolicy: UrlPolicy;
  readonly now?: () => Date;
}

/**
 * Who asks. The operator may set a key's rate limit above the plan's; an org admin may not.
 * Callers inside the deployment (the local demo, benchmarks) act as the operator.
 */
export type Actor = 'operator' | 'org-admin';

/** The limit a request ran into, named as in `PlanLimits`. */
export type PlanLimitName = keyof PlanLimits;

/** 403 `plan_limit_reached`: the org's effective plan does not allow this; `limit` names the cap. */
export class PlanLimitError extends ApiError {
  constructor(
    readonly limit: PlanLimitName,
    readonly value: number,
    message: string,
    details?: FieldProblem[],
  ) {
    super(403, 'plan_limit_reached', message, details);
  }
}

/** A create's result: `created` is false for an idempotent replay that returns the first result. */
export interface Created<T> {
  readonly created: boolean;
  readonly item: T;
}

/**
 * The registry's use cases: validation beyond the schemas (URLs, dates), encryption of upstream
 * credentials, idempotent creates and the mapping of store outcomes to API errors.
 */
export class RegistryService {
  private readonly store: RegistryStore;
  private readonly now: () => Date;

  constructor(private readonly deps: RegistryServiceDeps) {
    this.store = deps.store;
    this.now = deps.now ?? (() => new Date());
  }

  // ---- organisations ----

  /** The id createOrg will give a new org: the same for every retry with one Idempotency-Key. */
  newOrgId(idempotencyKey?: string): string {
    return idempotencyKey ? idempotentId('org_', 'org', idempotencyKey) : randomId('org_');
  }

  /** `orgId` from newOrgId() when the caller needs it first (the admin API locks its audit chain). */
  async createOrg(input: CreateOrgInput, idempotencyKey?: string, orgId = this.newOrgId(idempotencyKey)): Promise<Created<Org>> {
    const at = this.now().toISOString();
    const planOverrides = normalizeOverrides(input.planOverrides);
    const org: Org = {
      orgId, name: input.name, plan: input.plan, ipAllowlist: input.ipAllowlist, ...(planOverrides ? { planOverrides } : {}), createdAt: at, updatedAt: at,
    };
    const result = await this.store.createOrg(org, idempotencyKey ? fingerprint(input) : undefined);
    if (result.created) return { created: true, item: result.item };
    if (result.existingRequestHash === fingerprint(input)) return { created: false, item: result.existing };
    throw idempotencyKeyReused();
  }

  async getOrg(orgId: string): Promise<Org> {
    const org = await this.store.getOrg(orgId);
    if (!org) throw notFound('Organisation');
    return org;
  }

  listOrgs(page: PageRequest): Promise<Page<Org>> {
    return withCursor(() => this.store.listOrgs(page));
  }

  /** What counts against the org's `maxMcpServers` and `maxApiKeys`. */
  getUsage(orgId: string): Promise<OrgUsage> {
    return this.store.getUsage(orgId);
  }

  /** `planOverrides` replaces the org's overrides; null or {} removes them. */
  async updateOrg(orgId: string, input: UpdateOrgInput): Promise<Org> {
    const { planOverrides, ...rest } = input;
    const patch = planOverrides === undefined ? rest : { ...rest, planOverrides: normalizeOverrides(planOverrides) ?? null };
    const org = await this.store.updateOrg(orgId, patch, this.now().toISOString());
    if (!org) throw notFound('Organisation');
    return org;
  }

  // ---- MCP servers ----

  async createMcp(orgId: string, input: CreateMcpInput, idempotencyKey?: string): Promise<Created<PublicMcpServer>> {
    const plan = effectivePlan(await this.getOrg(orgId));
    checkEndpointCap(input.endpoints.length, plan);
    const at = this.now().toISOString();
    const endpoints = await this.checkEndpoints(input.endpoints, []);
    const auth = await this.sealUpstreamAuth(orgId, input.slug, input.upstreamAuth);
    const pricing = normalizePricing(input.pricing);
    const mcp: StoredMcpServer = {
      orgId,
      slug: input.slug,
      displayName: input.displayName ?? input.slug,
      endpoints,
      ...auth,
      toolPolicy: input.toolPolicy,
      resourcePolicy: input.resourcePolicy ?? ALLOW_ALL,
      promptPolicy: input.promptPolicy ?? ALLOW_ALL,
      timeouts: { ...DEFAULT_TIMEOUTS, ...input.timeouts },
      ...(pricing ? { pricing } : {}),
      createdAt: at,
      updatedAt: at,
    };
    const requestHash = idempotencyKey ? fingerprint({ idempotencyKey, input: withoutSecrets(input) }) : undefined;
    const result = await this.store.createMcp(mcp, requestHash, plan.maxMcpServers);
    if ('limitReached' in result) {
      throw new PlanLimitError(
        'maxMcpServers',
        plan.maxMcpServers,
        `This organisation's plan allows at most ${plan.maxMcpServers} MCP servers (maxMcpServers); delete one, or ask the operator for a higher limit`,
      );
    }
    if (result.created) return { created: true, item: publicMcp(result.item) };
    if (requestHash !== undefined && result.existingRequestHash === requestHash) {
      return { created: false, item: publicMcp(result.existing) };
    }
    throw conflict('slug_taken', `An MCP server with slug "${input.slug}" already exists in this organisation`);
  }

  async getMcp(orgId: string, slug: string): Promise<PublicMcpServer> {
    return publicMcp(await this.getStoredMcp(orgId, slug));
  }

  async listMcps(orgId: string, page: PageRequest): Promise<Page<PublicMcpServer>> {
    await this.getOrg(orgId);
    const result = await withCursor(() => this.store.listMcps(orgId, page));
    return { ...result, items: result.items.map(publicMcp) };
  }

  async updateMcp(orgId: string, slug: string, input: UpdateMcpInput): Promise<PublicMcpServer> {
    const current = await this.getStoredMcp(orgId, slug);
    if (input.endpoints) checkEndpointCap(input.endpoints.length, effectivePlan(await this.getOrg(orgId)));
    const endpoints = input.endpoints ? await this.checkEndpoints(input.endpoints, current.endpoints) : current.endpoints;
    const auth = input.upstreamAuth
      ? await this.sealUpstreamAuth(orgId, slug, input.upstreamAuth)
      : { upstreamAuth: current.upstreamAuth, hasUpstreamSecret: current.hasUpstreamSecret, upstreamSecret: current.upstreamSecret };
    const { pricing: currentPricing, ...unpriced } = current;
    const pricing = input.pricing === undefined ? currentPricing : normalizePricing(input.pricing);
    const next: StoredMcpServer = {
      ...unpriced,
      ...(pricing ? { pricing } : {}),
      displayName: input.displayName ?? current.displayName,
      endpoints,
      ...auth,
      toolPolicy: input.toolPolicy ?? current.toolPolicy,
      resourcePolicy: input.resourcePolicy ?? current.resourcePolicy ?? ALLOW_ALL,
      promptPolicy: input.promptPolicy ?? current.promptPolicy ?? ALLOW_ALL,
      timeouts: { ...current.timeouts, ...input.timeouts },
      updatedAt: laterThan(this.now(), current.updatedAt),
    };
    const outcome = await this.store.replaceMcp(next, current.updatedAt);
    if (outcome === 'missing') throw notFound('MCP server');
    if (outcome === 'conflict') throw conflict('concurrent_update', 'The MCP server changed while updating it; retry');
    return publicMcp(next);
  }

  async deleteMcp(orgId: string, slug: string): Promise<void> {
    if (!(await this.store.deleteMcp(orgId, slug))) throw notFound('MCP server');
  }

  // ---- API keys ----

  /**
   * Issues a key. An org admin's key may not have a `rateLimitPerMinute` above the plan's (403
   * `plan_limit_reached`); the operator's may, and is marked `rateLimitSetByOperator`.
   */
  /**
   * Issues a key. `oauth` makes it the backing key of an OAuth grant (lambda/core/oauth/grants.ts):
   * the consent page passes it, never the admin API.
   */
  async createKey(orgId: string, input: CreateKeyInput, idempotencyKey?: string, actor: Actor = 'operator', oauth?: ApiKey['oauth']): Promise<{ key: ApiKey; secret: string }> {
    const plan = effectivePlan(await this.getOrg(orgId));
    const rate = input.rateLimitPerMinute;
    if (rate !== undefined && actor !== 'operator' && rate > plan.requestsPerMinute) {
      throw new PlanLimitError(
        'requestsPerMinute',
        plan.requestsPerMinute,
        `This organisation's plan allows keys at most ${plan.requestsPerMinute} requests per minute (requestsPerMinute); only the operator may set more`,
        [{ path: 'rateLimitPerMinute', message: `must be at most ${plan.requestsPerMinute} on this plan` }],
      );
    }
    const now = this.now();
    if (input.expiresAt !== undefined && Date.parse(input.expiresAt) <= now.getTime()) {
      throw badRequest('validation_failed', 'Request validation failed', [{ path: 'expiresAt', message: 'must be in the future' }]);
    }
    const keyId = idempotencyKey ? idempotentId('', `key\n${orgId}`, idempotencyKey) : undefined;
    const generated = await generateApiKey(keyId);
    const requestHash = idempotencyKey ? fingerprint(input) : undefined;
    const result = await this.store.createKey(
      {
        keyId: generated.keyId,
        orgId,
        name: input.name,
        role: input.role,
        scopes: input.scopes,
        rateLimitPerMinute: rate,
        rateLimitSetByOperator: rate !== undefined && actor === 'operator' ? true : undefined,
        expiresAt: input.expiresAt === undefined ? undefined : new Date(input.expiresAt).toISOString(),
        createdAt: now.toISOString(),
        ...(oauth ? { oauth } : {}),
        secretHash: generated.secretHash,
      },
      requestHash,
      plan.maxApiKeys,
    );
    if ('limitReached' in result) {
      throw new PlanLimitError(
        'maxApiKeys',
        plan.maxApiKeys,
        `This organisation's plan allows at most ${plan.maxApiKeys} unrevoked API keys (maxApiKeys); revoke one, or ask the operator for a higher limit`,
      );
    }
    if (result.created) return { key: publicKey(result.item), secret: generated.fullKey };
    if (result.existing.orgId === orgId && result.existingRequestHash === requestHash) {
      // The secret exists only in the first response; a replay cannot show it again.
      throw conflict(
        'key_already_issued',
        `A key was already issued for this Idempotency-Key (key id ${result.existing.keyId}); its secret cannot be shown again. Revoke it and create a new one if it was lost.`,
      );
    }
    throw idempotencyKeyReused();
  }

  async listKeys(orgId: string, page: PageRequest): Promise<Page<ApiKey>> {
    await this.getOrg(orgId);
    const result = await withCursor(() => this.store.listKeys(orgId, page));
    return { ...result, items: result.items.map(publicKey) };
  }

  async getKey(orgId: string, keyId: string): Promise<ApiKey> {
    const key = await this.store.getKey(keyId);
    if (!key || key.orgId !== orgId) throw notFound('API key');
    return publicKey(key);
  }

  async revokeKey(orgId: string, keyId: string): Promise<ApiKey> {
    const key = await this.store.revokeKey(orgId, keyId, this.now().toISOString());
    if (!key) throw notFound('API key');
    return publicKey(key);
  }

  // ---- helpers ----

  private async getStoredMcp(orgId: string, slug: string): Promise<StoredMcpServer> {
    const mcp = await this.store.getMcp(orgId, slug);
    if (!mcp) throw notFound('MCP server');
    return mcp;
  }

  /** Checks every URL (all problems reported at once); an unchanged URL keeps its endpoint id. */
  private async checkEndpoints(input: { url: string; weight: number }[], previous: Endpoint[]): Promise<Endpoint[]> {
    const problems: FieldProblem[] = [];
    const endpoints: Endpoint[] = [];
    const checked = await Promise.all(
      input.map((e, i) => checkEndpointUrl(e.url, `endpoints.${i}.url`, this.deps.urlPolicy)),
    );
    const seen = new Set<string>();
    checked.forEach((result, i) => {
      if ('problem' in result) return void problems.push(result.problem);
      if (seen.has(result.url)) return void problems.push({ path: `endpoints.${i}.url`, message: 'is listed twice' });
      seen.add(result.url);
      const id = previous.find((p) => p.url === result.url)?.id ?? randomId('ep_');
      endpoints.push({ id, url: result.url, weight: input[i]!.weight });
    });
    if (problems.length > 0) throw badRequest('validation_failed', 'Request validation failed', problems);
    return endpoints;
  }

  private async sealUpstreamAuth(orgId: string, slug: string, input: UpstreamAuthInput) {
    let upstreamAuth: UpstreamAuth;
    let secret: string | undefined;
    switch (input.type) {
      case 'none':
        upstreamAuth = { type: 'none' };
        break;
      case 'bearer':
        upstreamAuth = { type: 'bearer' };
        secret = input.token;
        break;
      case 'header':
        upstreamAuth = { type: 'header', headerName: input.headerName };
        secret = input.value;
        break;
      case 'basic':
        upstreamAuth = { type: 'basic', username: input.username };
        secret = input.password;
        break;
    }
    const upstreamSecret =
      secret === undefined ? undefined : await this.deps.cipher.encrypt(secret, upstreamSecretContext(orgId, slug));
    return { upstreamAuth, hasUpstreamSecret: upstreamSecret !== undefined, upstreamSecret };
  }
}

const ALLOW_ALL: FeaturePolicy = { allow: [], deny: [] };

/** An MCP server as the API shows it: every policy present. */
export type PublicMcpServer = McpServer & { readonly resourcePolicy: FeaturePolicy; readonly promptPolicy: FeaturePolicy };

/**
 * The public view of an MCP server: everything but the encrypted credential, with the resource
 * and prompt policies of records older than them shown as what they mean (allow all).
 */
export function publicMcp(mcp: StoredMcpServer): PublicMcpServer {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { upstreamSecret, ...rest } = mcp;
  return { ...rest, resourcePolicy: rest.resourcePolicy ?? ALLOW_ALL, promptPolicy: rest.promptPolicy ?? ALLOW_ALL };
}

function checkEndpointCap(count: number, plan: PlanLimits): void {
  if (count <= plan.maxEndpointsPerMcp) return;
  throw new PlanLimitError(
    'maxEndpointsPerMcp',
    plan.maxEndpointsPerMcp,
    `This organisation's plan allows at most ${plan.maxEndpointsPerMcp} endpoints per MCP server (maxEndpointsPerMcp)`,
    [{ path: 'endpoints', message: `must list at most ${plan.maxEndpointsPerMcp} endpoints on this plan` }],
  );
}

/**
 * Pricing as stored: only the fields given, undefined for none (null, {} and an empty tool list
 * are none), so that a record without a price carries no pricing attribute at all.
 */
function normalizePricing(input: PricingInput | null | undefined): McpPricing | undefined {
  if (!input) return undefined;
  const tools = input.tools && Object.keys(input.tools).length > 0 ? { ...input.tools } : undefined;
  const pricing: McpPricing = { ...(input.perCallUsd !== undefined ? { perCallUsd: input.perCallUsd } : {}), ...(tools ? { tools } : {}) };
  return Object.keys(pricing).length > 0 ? pricing : undefined;
}

/** Overrides as stored: undefined for none (an empty object is none). */
function normalizeOverrides(overrides: Partial<PlanLimits> | null | undefined): Partial<PlanLimits> | undefined {
  if (!overrides) return undefined;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  return Object.keys(defined).length > 0 ? (defined as Partial<PlanLimits>) : undefined;
}

function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('base64url');
}

/** A create request without its credential, so that no hash of a secret is ever stored. */
function withoutSecrets(input: CreateMcpInput) {
  const { upstreamAuth, ...rest } = input;
  const { type } = upstreamAuth;
  return { ...rest, upstreamAuth: { type } };
}

/** A timestamp strictly after `previous`, so optimistic locking on updatedAt always advances. */
function laterThan(now: Date, previous: string): string {
  const previousMs = Date.parse(previous);
  return new Date(Math.max(now.getTime(), previousMs + 1)).toISOString();
}

async function withCursor<T>(list: () => Promise<T>): Promise<T> {
  try {
    return await list();
  } catch (error) {
    if (error instanceof InvalidCursorError) {
      throw badRequest('invalid_cursor', 'The cursor is not valid for this listing', [{ path: 'cursor', message: 'is not valid for this listing' }]);
    }
    throw error;
  }
}

function idempotencyKeyReused() {
  return conflict('idempotency_key_reused', 'This Idempotency-Key was already used with a different request');
}
