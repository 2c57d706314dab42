/**
 * Audit recording for the admin API. Every mutating route makes its change through
 * `c.get('audit').change(...)`, which holds the org's change lock around it (AuditJournal), so the
 * entry's old values are the ones the change replaced and no committed change lacks its entry.
 * The middleware checks after each mutating request that the route recorded something: in strict
 * mode (tests) a route that forgot fails its request; otherwise it is logged as `audit_missing`.
 */
import type { MiddlewareHandler } from 'hono';
import { type AuditActor, type AuditChange, type AuditValue, canonicalJson, SYSTEM_AUDIT_SCOPE } from '../audit/entry';
import type { AuditJournal } from '../audit/journal';
import { ApiError } from '../errors';
import type { PlexEvent, PlexEventPublisher } from '../events/model';
import type { AdminEnv, Principal } from './openapi';

export interface ChangeSpec {
  readonly orgId: string;
  /** `<resource>.<verb>`, e.g. 'mcp.updated'. */
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string };
}

export interface ChangeResult<T> {
  readonly result: T;
  readonly changes: readonly AuditChange[];
  /** False when nothing was changed (an idempotent replay): no entry, no event. @default true */
  readonly changed?: boolean;
  /** The target as it is known after the change (an id the change made). @default the spec's */
  readonly target?: { readonly type: string; readonly id: string };
  /** Published on the bus after the entry is recorded. */
  readonly events?: readonly PlexEvent[];
}

export interface AuditRecorder {
  /**
   * Makes a change under the org's audit lock and records it. A change refused with a 4xx
   * ApiError wrote nothing: the lock is released without an entry. Any other failure may have
   * happened after the write, so the entry is recorded with outcome 'unknown'.
   */
  change<T>(spec: ChangeSpec, apply: () => Promise<ChangeResult<T>>): Promise<T>;
  /** Entries this request recorded (or deliberately skipped, for a replay). */
  readonly recorded: number;
}

export interface AuditTrailOptions {
  readonly journal: AuditJournal;
  readonly events?: PlexEventPublisher;
  /** Epoch ms. */
  readonly now: () => number;
  /** A mutating request that answers below 400 without recording fails with 500 (tests). @default false */
  readonly strict?: boolean;
  /** For what goes wrong beside the answer (an event not published, a route that recorded nothing). */
  readonly warn: (message: string, fields: Record<string, unknown>) => void;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function actorOf(principal: Principal | undefined): AuditActor {
  if (!principal) return { kind: 'anonymous' };
  return principal.kind === 'operator' ? { kind: 'operator' } : { kind: 'key', keyId: principal.key.keyId, name: principal.key.name };
}

/** Who makes a change, from where, in which request: what every entry of it records. */
export interface ChangeContext {
  readonly actor: AuditActor;
  readonly sourceIp: string;
  readonly requestId: string;
}

/**
 * Makes a change under the org's audit lock and records it (the admin API's routes through
 * `c.get('audit').change`, and the OAuth consent page for the grants it makes). A change refused
 * with a 4xx ApiError wrote nothing: the lock is released without an entry. Any other failure may
 * have happened after the write, so the entry is recorded with outcome 'unknown'.
 */
export async function recordChange<T>(
  options: Pick<AuditTrailOptions, 'journal' | 'events' | 'now' | 'warn'>,
  context: ChangeContext,
  spec: ChangeSpec,
  apply: () => Promise<ChangeResult<T>>,
): Promise<T> {
  const intent = { time: new Date(options.now()).toISOString(), ...context, action: spec.action, target: spec.target };
  const lock = await options.journal.begin(spec.orgId, intent);
  let outcome: ChangeResult<T>;
  try {
    outcome = await apply();
  } catch (error) {
    if (error instanceof ApiError && error.status < 500) await options.journal.release(lock);
    else await options.journal.commit(lock, { ...intent, time: new Date(options.now()).toISOString(), changes: [], outcome: 'unknown' });
    throw error;
  }
  if (outcome.changed === false) {
    await options.journal.release(lock);
    return outcome.result;
  }
  await options.journal.commit(lock, { ...intent, time: new Date(options.now()).toISOString(), target: outcome.target ?? intent.target, changes: outcome.changes });
  if (outcome.events?.length && options.events) {
    // The change and its entry are committed: an event that does not go out is reported, not undone.
    await options.events.publish(outcome.events).catch((error: unknown) =>
      options.warn('event not published', { requestId: context.requestId, types: outcome.events!.map((e) => e.type), error: (error as Error).name }),
    );
  }
  return outcome.result;
}

/** Installs the request's AuditRecorder and checks, after a mutating route, that it recorded. */
export function auditTrail(options: AuditTrailOptions): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    let recorded = 0;
    const recorder: AuditRecorder = {
      get recorded() {
        return recorded;
      },
      change: (spec, apply) =>
        recordChange(options, { actor: actorOf(c.get('principal')), sourceIp: c.get('sourceIp'), requestId: c.get('requestId') }, spec, async () => {
          const outcome = await apply();
          // A replay (changed: false) counts as recorded: it was deliberately skipped.
          recorded++;
          return outcome;
        }),
    };
    c.set('audit', recorder);
    await next();
    if (MUTATING.has(c.req.method) && c.res.status < 400 && recorded === 0) {
      options.warn('audit_missing: a mutating admin route answered without recording an audit entry', { route: c.req.routePath, method: c.req.method, requestId: c.get('requestId') });
      if (options.strict) throw new Error('audit_missing');
    }
  };
}

/**
 * The changed fields between two versions of a record, with old and new values; `secret` fields
 * are recorded as changed only (never a value), and `ignore` fields (timestamps) not at all.
 */
export function diffFields(
  before: Readonly<Record<string, unknown>> | undefined,
  after: Readonly<Record<string, unknown>> | undefined,
  options: { readonly ignore?: readonly string[]; readonly secret?: readonly string[] } = {},
): AuditChange[] {
  const ignore = new Set(['createdAt', 'updatedAt', ...(options.ignore ?? [])]);
  const secret = new Set(options.secret ?? []);
  const fields = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].filter((f) => !ignore.has(f)).sort();
  const changes: AuditChange[] = [];
  for (const field of fields) {
    const old = before?.[field];
    const next = after?.[field];
    if (canonicalJson(old ?? null) === canonicalJson(next ?? null)) continue;
    if (secret.has(field)) changes.push({ field, secret: true });
    else changes.push({ field, ...(old === undefined ? {} : { old: old as AuditValue }), ...(next === undefined ? {} : { new: next as AuditValue }) });
  }
  return changes;
}

export interface RefusalAuditOptions {
  readonly journal: AuditJournal;
  readonly now: () => number;
  /** Refusals of one kind from one address within this window are one entry with a count. @default 60 s */
  readonly windowMs?: number;
  readonly warn: (message: string, fields: Record<string, unknown>) => void;
}

const MAX_TRACKED = 10_000;

interface Burst {
  readonly firstAt: number;
  readonly actor: AuditActor;
  readonly requestId: string;
  count: number;
  lastAt: number;
}

/**
 * Security-relevant refusals (failed authentication, a key reaching into another org, an
 * org-admin route called without the admin role, a foreign Origin) into the system chain. The
 * first refusal of a kind from an address is recorded at once; the rest of its window are
 * counted and recorded as one `auth.refused.burst` entry when the window has passed (checked on
 * every admin request, and by flush()), so a flood of bad tokens is a few entries, not millions.
 * Counts still in memory when an instance stops are lost: at most one window per kind and address.
 */
export class RefusalAudit {
  private readonly bursts = new Map<string, Burst>();
  private readonly windowMs: number;

  constructor(private readonly options: RefusalAuditOptions) {
    this.windowMs = options.windowMs ?? 60_000;
  }

  async refused(code: string, sourceIp: string, actor: AuditActor, requestId: string): Promise<void> {
    // Past MAX_TRACKED addresses (a distributed flood), new ones share one count per kind.
    const address = this.bursts.size < MAX_TRACKED || this.bursts.has(`${code} ${sourceIp}`) ? sourceIp : '*';
    const key = `${code} ${address}`;
    const now = this.options.now();
    const burst = this.bursts.get(key);
    if (burst && now - burst.firstAt < this.windowMs) {
      burst.count++;
      burst.lastAt = now;
      return;
    }
    if (burst) await this.write(key, burst);
    this.bursts.set(key, { firstAt: now, lastAt: now, count: 0, actor, requestId });
    await this.record('auth.refused', code, address, actor, requestId, [{ field: 'code', new: code }], now);
  }

  /** Writes every window that has passed (all of them with `all`, on shutdown). */
  async flush(all = false): Promise<void> {
    const now = this.options.now();
    for (const [key, burst] of [...this.bursts]) {
      if (all || now - burst.firstAt >= this.windowMs) await this.write(key, burst);
    }
  }

  private async write(key: string, burst: Burst): Promise<void> {
    this.bursts.delete(key);
    if (burst.count === 0) return;
    const [code, sourceIp] = key.split(' ') as [string, string];
    await this.record('auth.refused.burst', code, sourceIp, burst.actor, burst.requestId, [
      { field: 'code', new: code },
      { field: 'count', new: burst.count },
      { field: 'from', new: new Date(burst.firstAt).toISOString() },
      { field: 'to', new: new Date(burst.lastAt).toISOString() },
    ], burst.lastAt);
  }

  private async record(action: string, code: string, sourceIp: string, actor: AuditActor, requestId: string, changes: AuditChange[], at: number): Promise<void> {
    try {
      await this.options.journal.append(SYSTEM_AUDIT_SCOPE, { time: new Date(at).toISOString(), actor, sourceIp, requestId, action, target: { type: 'admin-api', id: code }, changes });
    } catch (error) {
      // A refusal is answered whether or not it could be recorded; the failure is logged.
      this.options.warn('refusal not recorded', { code, error: (error as Error).name });
    }
  }
}
