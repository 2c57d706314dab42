/**
 * OAuth grants of an org: what an org admin approved for a client on the consent page. A grant is
 * an API key behind the scenes (its *backing key*: role member, the chosen MCP servers and
 * policies, `oauth` set, a secret nobody is shown), so every rule that holds for a key — limits,
 * quota, policies, analytics, revocation — holds for the grant. Creating and revoking one is
 * recorded in the org's audit chain and announced as `grant.created` / `grant.revoked`.
 */
import { type ChangeContext, diffFields, recordChange } from '../admin/audit-trail';
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

  /** The org's grants (its keys that back one), newest first as keys are listed. */
  async list(orgId: string, page: PageRequest): Promise<Page<ApiKey>> {
    const keys = await this.deps.service.listKeys(orgId, page);
    return { ...keys, items: keys.items.filter((key) => key.oauth !== undefined) };
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
  async revoke(orgId: string, grantId: string, context: ChangeContext): Promise<ApiKey> {
    const before = await this.get(orgId, grantId);
    return recordChange(this.auditOptions(), context, { orgId, action: 'grant.revoked', target: { type: 'grant', id: grantId } }, async () => {
      const after = await this.deps.service.revokeKey(orgId, before.keyId);
      await this.deps.tokens.revokeByGrantId(grantId);
      const event: GrantRevokedEvent = { type: 'grant.revoked', orgId, at: after.revokedAt ?? new Date(this.now()).toISOString(), grantId, clientId: before.oauth!.clientId, keyId: before.keyId };
      return {
        result: after,
        changed: before.revokedAt === undefined,
        changes: diffFields({ ...before }, { ...after }, { ignore: ['lastUsedAt'] }),
        events: [event],
      };
    });
  }

  private auditOptions() {
    return { journal: this.deps.journal, events: this.deps.events, now: this.now, warn: this.warn };
  }
}
