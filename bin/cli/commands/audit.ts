import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import type { AuditEntry } from '../../../lambda/core/audit/entry';
import { actorText } from '../../../lambda/core/audit/actor-text';
import type { ExportVerifyReport } from '../../../lambda/core/audit/export-verify';
import { verifyAuditLog } from '../../../lambda/core/audit/log-verify';
import type { StoredDigest } from '../../../lambda/core/audit/digest-producer';
import type { AdminApi, AdminClient } from '../client';
import { CliContext, type CliIo } from '../context';
import { ApiRequestError, CliError, usageError } from '../errors';
import { table } from '../format';
import { intParser } from '../parse';

/** `--since` / `--until`: a duration before now (`90m`, `24h`, `7d`) or an ISO date-time. */
export function parseInstant(now: () => Date): (value: string) => string {
  return (value) => {
    const v = value.trim();
    const relative = /^(\d{1,6})([mhdw])$/.exec(v);
    if (relative) {
      const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[relative[2] as 'm' | 'h' | 'd' | 'w'];
      return new Date(now().getTime() - Number(relative[1]) * unit).toISOString();
    }
    if (/^\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))?$/.test(v) && !Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
    throw new InvalidArgumentError('Expected a duration (90m, 24h, 7d, 2w) or an ISO date or date-time with a zone (2026-12-01T10:00:00Z).');
  };
}

interface ScopeOptions {
  org?: string;
  system?: boolean;
}

interface DigestFile {
  readonly publicKeyPem: string;
  readonly items: readonly StoredDigest[];
}

/** Which chain: the system chain (operator), or an org's (`--org`, else the calling key's org). */
async function scopeOf(ctx: CliContext, opts: ScopeOptions): Promise<{ system: true } | { system: false; orgId: string }> {
  if (opts.system) return { system: true };
  return { system: false, orgId: await ctx.orgId(opts.org) };
}

type Scope = Awaited<ReturnType<typeof scopeOf>>;
type Filters = { from?: string; to?: string; action?: string; cursor?: string; limit?: string };

function page(api: AdminApi, scope: Scope, query: Filters) {
  return scope.system ? api.audit.$get({ query }) : api.orgs[':orgId'].audit.$get({ param: { orgId: scope.orgId }, query });
}

/** Every entry of the chain (matching the filters), following the cursor. */
async function allEntries(client: AdminClient, scope: Scope, filters: Filters = {}): Promise<AuditEntry[]> {
  const api = client.typed();
  // The answer's schema types are mutable copies of the core's readonly AuditEntry.
  return (await client.all(({ cursor }) => page(api, scope, { ...filters, limit: '500', cursor }))) as unknown as AuditEntry[];
}

/** The chain's signed digests and public key; undefined where the deployment makes none (501). */
async function fetchDigests(client: AdminClient, scope: Scope): Promise<DigestFile | undefined> {
  const api = client.typed();
  try {
    const res = await client.answer(scope.system ? api.audit.digests.$get({ query: { scope: '_system' } }) : api.orgs[':orgId'].audit.digests.$get({ param: { orgId: scope.orgId } }));
    return res as unknown as DigestFile;
  } catch (error) {
    if (error instanceof ApiRequestError && error.code === 'digests_unavailable') return undefined;
    throw error;
  }
}

async function fetchHead(client: AdminClient, scope: Scope): Promise<{ seq: number; hash: string }> {
  const api = client.typed();
  return client.answer(scope.system ? api.audit.head.$get() : api.orgs[':orgId'].audit.head.$get({ param: { orgId: scope.orgId } }));
}

const ndjson = (entries: readonly AuditEntry[]) => entries.map((e) => `${JSON.stringify(e)}\n`).join('');


function changedText(entry: AuditEntry): string {
  if (entry.outcome === 'unknown') return '(outcome unknown: the writer stopped)';
  return entry.changes.map((c) => (c.secret ? `${c.field} (secret)` : c.field)).join(', ');
}

function problemText(report: ExportVerifyReport): string {
  const p = report.firstProblem!;
  if ('line' in p) return `line ${p.line} is not an audit entry (${p.problem})`;
  if ('seq' in p) return `entry ${p.seq} was ${p.problem === 'broken-link' ? 'unlinked from the one before it' : p.problem}`;
  return `digest ${p.digest + 1}: ${p.problem}`;
}

export function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program
    .command('audit')
    .description('the tamper-evident audit log: every change made through the admin API, and refused requests (--system)');
  const scopeFlags = (cmd: Command) =>
    cmd
      .option('--org <orgId>', 'organisation (default: the org of an org admin key)')
      .option('--system', 'the system chain (refused requests; operator only)');

  scopeFlags(
    audit
      .command('list')
      .description('list audit entries, oldest first')
      .option('--since <time>', 'entries at or after: a duration before now (24h, 7d) or an ISO date-time', parseInstant(() => io.now?.() ?? new Date()))
      .option('--until <time>', 'entries before: a duration before now or an ISO date-time', parseInstant(() => io.now?.() ?? new Date()))
      .option('--action <action>', 'only this action, e.g. key.revoked')
      .option('--limit <n>', 'at most this many entries (default 100)', intParser(1, 100_000)),
  ).action(async (opts: ScopeOptions & { since?: string; until?: string; action?: string; limit?: number }, cmd: Command) => {
    const ctx = CliContext.of(io, cmd);
    const scope = await scopeOf(ctx, opts);
    const entries = (await allEntries(await ctx.client(), scope, { from: opts.since, to: opts.until, action: opts.action })).slice(0, opts.limit ?? 100);
    if (ctx.json) return ctx.printJson({ items: entries });
    if (entries.length === 0) return ctx.out('No audit entries.');
    ctx.out(
      table(
        ['SEQ', 'TIME', 'ACTOR', 'ACTION', 'TARGET', 'CHANGED'],
        entries.map((e) => [String(e.seq), e.time.replace(/\.\d{3}Z$/, 'Z'), actorText(e.actor), e.action, `${e.target.type} ${e.target.id}`, changedText(e)]),
      ),
    );
  });

  scopeFlags(
    audit
      .command('export')
      .description('write the whole chain as NDJSON (one entry per line), for `plexmcp audit verify --file`')
      .option('--format <format>', 'ndjson (the only format: what verify reads)', 'ndjson')
      .option('--out <file>', 'write to this file instead of standard output')
      .option('--digests <file>', 'also write the signed digests and the public key (JSON) to this file'),
  ).action(async (opts: ScopeOptions & { format: string; out?: string; digests?: string }, cmd: Command) => {
    const ctx = CliContext.of(io, cmd);
    if (opts.format !== 'ndjson') throw usageError(`unknown --format ${JSON.stringify(opts.format)}; the export is ndjson`, 'bad_format');
    const scope = await scopeOf(ctx, opts);
    const client = await ctx.client();
    const entries = await allEntries(client, scope);
    if (opts.digests) {
      const digests = await fetchDigests(client, scope);
      if (!digests) throw new CliError('digests_unavailable', 'this deployment makes no signed digests: export without --digests');
      await writeFile(resolve(ctx.cwd, opts.digests), `${JSON.stringify(digests, null, 2)}\n`, { mode: 0o600 });
    }
    if (opts.out) {
      await writeFile(resolve(ctx.cwd, opts.out), ndjson(entries), { mode: 0o600 });
      ctx.io.stderr.write(`Wrote ${entries.length} entries to ${opts.out}.\n`);
    } else {
      io.stdout.write(ndjson(entries));
    }
  });

  scopeFlags(
    audit
      .command('verify')
      .description('recompute the hash chain and check every digest signature with the public key; report the first entry altered, removed, reordered or inserted')
      .option('--file <ndjson>', 'verify this export offline instead of reading the chain from the API')
      .option('--digests <file>', 'the digests file written by `audit export --digests` (offline; default: read from the API)')
      .option('--from-digest <n>', 'the export starts at this digest (its first entry is digest n’s fromSeq)', intParser(1)),
  ).action(async (opts: ScopeOptions & { file?: string; digests?: string; fromDigest?: number }, cmd: Command) => {
    const ctx = CliContext.of(io, cmd);
    const offline = opts.file !== undefined;
    if (offline && opts.digests === undefined) throw usageError('--file needs --digests <file> (written by `audit export --digests`): offline, the signatures are what vouch for the export', 'digests_required');
    const scope = offline ? undefined : await scopeOf(ctx, opts);
    const client = offline ? undefined : await ctx.client();
    const text = offline ? await readFile(resolve(ctx.cwd, opts.file!), 'utf8') : ndjson(await allEntries(client!, scope!));
    const digests: DigestFile | undefined = opts.digests
      ? (JSON.parse(await readFile(resolve(ctx.cwd, opts.digests), 'utf8')) as DigestFile)
      : await fetchDigests(client!, scope!);

    let fromDigest: number | undefined;
    if (digests && digests.items.length > 0 && opts.fromDigest !== undefined) {
      fromDigest = digests.items.findIndex((d) => d.n === opts.fromDigest);
      if (fromDigest < 0) throw usageError(`there is no digest ${opts.fromDigest} (digests 1..${digests.items.length})`, 'bad_from_digest');
    }
    // Online, the export must also reach the store's head: a removed tail after the last digest shows there.
    const verified = await verifyAuditLog({ entriesNdjson: text, digests, fromDigest, head: offline ? undefined : () => fetchHead(client!, scope!) });
    const { report, ok, head, last } = verified;
    if (ctx.json) {
      ctx.printJson({ ...report, ok, ...(head ? { head } : {}) });
    } else if (!report.ok) {
      io.stderr.write(`FAILED: ${problemText(report)}.\n`);
    } else if (verified.headMismatch) {
      io.stderr.write(`FAILED: the chain ends at entry ${last?.seq ?? 0} but the store's head is entry ${head!.seq}: entries after ${last?.seq ?? 0} were removed.\n`);
    } else {
      const signed = report.signedThroughSeq === undefined ? 'no signed digest covers it yet' : `signed through entry ${report.signedThroughSeq} by ${report.digestsChecked} digest${report.digestsChecked === 1 ? '' : 's'}`;
      ctx.out(`OK: ${report.entries} entries, chain intact${head ? ' up to the store’s head' : ''}, ${signed}.`);
    }
    if (!ok) throw new CliError('audit_verify_failed', 'the audit log did not verify');
  });
}
