/**
 * OAuth grants of an org: what an org admin approved for a client on the consent page. A grant is
 * an API key behind the scenes (its *backing key*: role member, the chosen MCP servers and
 * policies, `oauth` set, a secret nobody is shown), so every rule that holds for a key — limits,
 * quota, policies, analytics, revocation — holds for the grant. Creating and revoking one is
 * recorded in the org's audit chain and announced as `grant.created` / `grant.revoked`.
 */
import { type ChangeContext, type ChangeResult, type ChangeSpec, diffFields, recordChange } from '../admin/audit-trail';
import type { AuditJournal } from '../audit/journal';
import { notFound } from '../errors';
import type { GrantCreatedEvent, GrantRevokedEvent } from '../events/catalog';
import type { PlexEventPublisher } from '../events/model';
import type { ApiKey, KeyScopes, Page } from '../model';
import type { PageRequest } from '../registry-store';
import type { RegistryService } from '../registry-service';

/** The token side of a grant: oidc-provider's tokens of it, removed on revocation. */
export interface GrantTokenStore {
  revokeByGrantId(grantId: string): Promise<void>;
}

export interface GrantServiceDeps {
  readonly service: RegistryService;
  readonly journal: AuditJournal;
  readonly tokens: GrantTokenStore;
  readonly events?: PlexEventPublisher;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
  readonly warn?: (message: string, fields: Record<string, unknown>) => void;
}

export interface NewGrant {
  readonly orgId: string;
  readonly grantId: string;
  readonly clientId: string;
  readonly clientName: string;
  /** The MCP servers and tool/resource/prompt policies approved, as an API key has them. */
  readonly scopes: KeyScopes;
}

/** Longest key name the registry takes. */
const MAX_NAME = 100;
/** Key pages one grant list page reads at most (an org with many keys and few grants). */
const MAX_KEY_PAGES = 10;

export class GrantService {
  private readonly now: () => number;
  private readonly warn: (message: string, fields: Record<string, unknown>) => void;

  constructor(private readonly deps: GrantServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.warn = deps.warn ?? ((message, fields) => console.error(JSON.stringify({ level: 'warn', msg: message, ...fields })));
  }

  /** Creates the grant's backing key (counted against the plan's keys), audited as `grant.created`. */
  create(grant: NewGrant, context: ChangeContext): Promise<ApiKey> {
    const { orgId, grantId, clientId, clientName } = grant;
    return recordChange(this.auditOptions(), context, { orgId, action: 'grant.created', target: { type: 'grant', id: grantId } }, async () => {
      const { key } = await this.deps.service.createKey(
        orgId,
        { name: `OAuth: ${clientName}`.slice(0, MAX_NAME), role: 'member', scopes: grant.scopes },
        undefined,
        'org-admin',
        { clientId, clientName, grantId },
      );
      const event: GrantCreatedEvent = { type: 'grant.created', orgId, at: key.createdAt, grantId, clientId, clientName, keyId: key.keyId };
      return { result: key, changes: diffFields(undefined, { ...key }, { ignore: ['orgId'] }), events: [event] };
    });
  }

  /**
   * The org's grants (its keys that back one), in the order keys are listed. Key pages are read
   * until `limit` grants are found (each read asks for no more keys than grants still wanted, so
   * the cursor never skips one) or MAX_KEY_PAGES reads; a page may then be short, with a cursor.
   */
  async list(orgId: string, page: PageRequest): Promise<Page<ApiKey>> {
    const { limit } = page;
    const items: ApiKey[] = [];
    let cursor = page.cursor;
    for (let reads = 0; reads < MAX_KEY_PAGES && items.length < limit; reads++) {
      const keys = await this.deps.service.listKeys(orgId, { limit: limit - items.length, cursor });
      items.push(...keys.items.filter((key) => key.oauth !== undefined));
      cursor = keys.nextCursor;
      if (!cursor) break;
    }
    return { items, ...(cursor ? { nextCursor: cursor } : {}) };
  }

  async get(orgId: string, grantId: string): Promise<ApiKey> {
    for (let cursor: string | undefined, pages = 0; pages < 100; pages++) {
      const keys = await this.deps.service.listKeys(orgId, { limit: 100, cursor });
      const found = keys.items.find((key) => key.oauth?.grantId === grantId);
      if (found) return found;
      cursor = keys.nextCursor;
      if (!cursor) break;
    }
    throw notFound('OAuth grant');
  }

  /**
   * Revokes a grant: its backing key (the gateway refuses its tokens within the key cache TTL),
   * then every token of it (no refresh either). Revoking twice records nothing the second time.
   */
  revoke(orgId: string, grantId: string, context: ChangeContext): Promise<ApiKey> {
    const { spec, apply } = this.revocation(orgId, grantId);
    return recordChange(this.auditOptions(), context, spec, apply);
  }

  /**
   * The revocation of a grant, unrecorded: for a caller that records it itself (the admin API's
   * routes, through `c.get('audit').change(spec, apply)`, which counts it as the request's entry).
   * `revoke` records the same through recordChange: one code path for both. `keyId` (the backing
   * key, when the caller has it) saves the search for the grant among the org's keys.
   */
  revocation(orgId: string, grantId: string, keyId?: string): { spec: ChangeSpec; apply: () => Promise<ChangeResult<ApiKey>> } {
    const spec: ChangeSpec = { orgId, action: 'grant.revoked', target: { type: 'grant', id: grantId } };
    const apply = async (): Promise<ChangeResult<ApiKey>> => {
      // Read under the org's audit lock: the entry's old values are the ones this change replaced.
      const before = keyId === undefined ? await this.get(orgId, grantId) : await this.deps.service.getKey(orgId, keyId);
      if (before.oauth?.grantId !== grantId) throw notFound('OAuth grant');
      const after = await this.deps.service.revokeKey(orgId, before.keyId);
      // Also when the key was already revoked: a token that outlived an earlier failure goes now.
      await this.deps.tokens.revokeByGrantId(grantId);
      const event: GrantRevokedEvent = { type: 'grant.revoked', orgId, at: after.revokedAt ?? new Date(this.now()).toISOString(), grantId, clientId: before.oauth.clientId, keyId: before.keyId };
      return {
        result: after,
        changed: before.revokedAt === undefined,
        changes: diffFields({ ...before }, { ...after }, { ignore: ['lastUsedAt'] }),
        events: [event],
      };
    };
    return { spec, apply };
  }

  private auditOptions() {
    return { journal: this.deps.journal, events: this.deps.events, now: this.now, warn: this.warn };
  }
}
