import { createHash } from 'node:crypto';
import { generateApiKey, publicKey } from './api-keys';
import { upstreamSecretContext, type EnvelopeCipher } from './envelope';
import { badRequest, conflict, notFound, type FieldProblem } from './errors';
import { idempotentId, randomId } from './ids';
import {
  DEFAULT_TIMEOUTS,
  type ApiKey,
  type Endpoint,
  type McpServer,
  type Org,
  type Page,
  type StoredMcpServer,
  type UpstreamAuth,
} from './model';
import { InvalidCursorError, type PageRequest, type RegistryStore } from './registry-store';
import { checkEndpointUrl, type UrlPolicy } from './url-policy';
import type {
  CreateKeyInput,
  CreateMcpInput,
  CreateOrgInput,
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

  async createOrg(input: CreateOrgInput, idempotencyKey?: string): Promise<Created<Org>> {
    const at = this.now().toISOString();
    const orgId = idempotencyKey ? idempotentId('org_', 'org', idempotencyKey) : randomId('org_');
    const org: Org = { orgId, name: input.name, plan: input.plan, ipAllowlist: input.ipAllowlist, createdAt: at, updatedAt: at };
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

  async updateOrg(orgId: string, input: UpdateOrgInput): Promise<Org> {
    const org = await this.store.updateOrg(orgId, input, this.now().toISOString());
    if (!org) throw notFound('Organisation');
    return org;
  }

  // ---- MCP servers ----

  async createMcp(orgId: string, input: CreateMcpInput, idempotencyKey?: string): Promise<Created<McpServer>> {
    await this.getOrg(orgId);
    const at = this.now().toISOString();
    const endpoints = await this.checkEndpoints(input.endpoints, []);
    const auth = await this.sealUpstreamAuth(orgId, input.slug, input.upstreamAuth);
    const mcp: StoredMcpServer = {
      orgId,
      slug: input.slug,
      displayName: input.displayName ?? input.slug,
      endpoints,
      ...auth,
      toolPolicy: input.toolPolicy,
      timeouts: { ...DEFAULT_TIMEOUTS, ...input.timeouts },
      createdAt: at,
      updatedAt: at,
    };
    const requestHash = idempotencyKey ? fingerprint({ idempotencyKey, input: withoutSecrets(input) }) : undefined;
    const result = await this.store.createMcp(mcp, requestHash);
    if (result.created) return { created: true, item: publicMcp(result.item) };
    if (requestHash !== undefined && result.existingRequestHash === requestHash) {
      return { created: false, item: publicMcp(result.existing) };
    }
    throw conflict('slug_taken', `An MCP server with slug "${input.slug}" already exists in this organisation`);
  }

  async getMcp(orgId: string, slug: string): Promise<McpServer> {
    return publicMcp(await this.getStoredMcp(orgId, slug));
  }

  async listMcps(orgId: string, page: PageRequest): Promise<Page<McpServer>> {
    await this.getOrg(orgId);
    const result = await withCursor(() => this.store.listMcps(orgId, page));
    return { ...result, items: result.items.map(publicMcp) };
  }

  async updateMcp(orgId: string, slug: string, input: UpdateMcpInput): Promise<McpServer> {
    const current = await this.getStoredMcp(orgId, slug);
    const endpoints = input.endpoints ? await this.checkEndpoints(input.endpoints, current.endpoints) : current.endpoints;
    const auth = input.upstreamAuth
      ? await this.sealUpstreamAuth(orgId, slug, input.upstreamAuth)
      : { upstreamAuth: current.upstreamAuth, hasUpstreamSecret: current.hasUpstreamSecret, upstreamSecret: current.upstreamSecret };
    const next: StoredMcpServer = {
      ...current,
      displayName: input.displayName ?? current.displayName,
      endpoints,
      ...auth,
      toolPolicy: input.toolPolicy ?? current.toolPolicy,
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

  /** The upstream credential in plaintext, for the data plane only. Never returned by the API. */
  async revealUpstreamSecret(mcp: StoredMcpServer): Promise<string | undefined> {
    if (!mcp.upstreamSecret) return undefined;
    return this.deps.cipher.decrypt(mcp.upstreamSecret, upstreamSecretContext(mcp.orgId, mcp.slug));
  }

  // ---- API keys ----

  async createKey(orgId: string, input: CreateKeyInput, idempotencyKey?: string): Promise<{ key: ApiKey; secret: string }> {
    await this.getOrg(orgId);
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
        rateLimitPerMinute: input.rateLimitPerMinute,
        expiresAt: input.expiresAt === undefined ? undefined : new Date(input.expiresAt).toISOString(),
        createdAt: now.toISOString(),
        secretHash: generated.secretHash,
      },
      requestHash,
    );
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

/** The public view of an MCP server: everything but the encrypted credential. */
export function publicMcp(mcp: StoredMcpServer): McpServer {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { upstreamSecret, ...rest } = mcp;
  return rest;
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
