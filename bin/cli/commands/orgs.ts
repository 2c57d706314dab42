import type { Command } from 'commander';
import { type Org, type Plan, PLANS } from '../../../lambda/core/model';
import { PLAN_LIMIT_NAMES, type PlanLimits } from '../../../lambda/core/plans';
import { seg } from '../client';
import { CliContext, type CliIo } from '../context';
import { usageError } from '../errors';
import { orgBlock, orgTable, type OrgView } from '../format';
import { choiceParser, parsePlanOverride } from '../parse';

interface CreateOpts {
  plan?: Plan;
  ipAllow?: string[];
  planOverride?: string[];
  idempotencyKey?: string;
}

interface UpdateOpts {
  name?: string;
  plan?: Plan;
  ipAllow?: string[];
  clearIpAllow?: boolean;
  planOverride?: string[];
  clearPlanOverrides?: boolean;
}

const PLAN_OVERRIDE_FLAGS = '--plan-override <limit=value...>';
const PLAN_OVERRIDE_HELP = `override a plan limit for this org (operator): ${PLAN_LIMIT_NAMES.join('|')}=<number>, or <limit>=default to drop one`;

/** The overrides after applying `--plan-override` values to `base` (a later value for a limit wins). */
function applyOverrides(base: Partial<PlanLimits>, values: readonly string[]): Partial<PlanLimits> {
  const next: Record<string, number> = { ...base };
  for (const value of values) {
    const { name, value: n } = parsePlanOverride(value, PLAN_LIMIT_NAMES);
    if (n === null) delete next[name];
    else next[name] = n;
  }
  return next as Partial<PlanLimits>;
}

export function registerOrgCommands(program: Command, io: CliIo): void {
  const org = program.command('org').description('manage organisations (operator token)');

  org
    .command('create')
    .description('create an organisation')
    .argument('<name>', 'display name')
    .option('--plan <plan>', `plan: ${PLANS.join('|')} (server default: free)`, choiceParser(PLANS))
    .option('--ip-allow <cidr...>', 'CIDR blocks callers must come from (default: any address)')
    .option(PLAN_OVERRIDE_FLAGS, PLAN_OVERRIDE_HELP)
    .option('--idempotency-key <key>', 'makes a retried create return the same organisation')
    .action(async (name: string, opts: CreateOpts, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const body: Record<string, unknown> = { name };
      if (opts.plan) body.plan = opts.plan;
      if (opts.ipAllow) body.ipAllowlist = opts.ipAllow;
      if (opts.planOverride) body.planOverrides = applyOverrides({}, opts.planOverride);
      const client = await ctx.client();
      const headers = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : undefined;
      const created = await client.post<OrgView>('/orgs', body, headers);
      if (ctx.json) return ctx.printJson(created);
      ctx.out(`Created organisation ${created.orgId}.\n\n${orgBlock(created)}`);
    });

  org
    .command('list')
    .description('list organisations')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const items = await (await ctx.client()).listAll<Org>('/orgs');
      if (ctx.json) return ctx.printJson({ items });
      ctx.out(items.length === 0 ? 'No organisations.' : orgTable(items));
    });

  org
    .command('get')
    .description('show one organisation')
    .argument('<orgId>')
    .action(async (orgId: string, _opts: unknown, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const found = await (await ctx.client()).get<OrgView>(`/orgs/${seg(orgId)}`);
      if (ctx.json) return ctx.printJson(found);
      ctx.out(orgBlock(found));
    });

  org
    .command('update')
    .description('change an organisation')
    .argument('<orgId>')
    .option('--name <name>', 'new display name')
    .option('--plan <plan>', `new plan: ${PLANS.join('|')}`, choiceParser(PLANS))
    .option('--ip-allow <cidr...>', 'replace the IP allowlist')
    .option('--clear-ip-allow', 'remove the IP allowlist (allow any address)')
    .option(PLAN_OVERRIDE_FLAGS, `${PLAN_OVERRIDE_HELP}; merged into the current overrides`)
    .option('--clear-plan-overrides', 'remove every override (the plan applies as it is); combine with --plan-override to start over')
    .action(async (orgId: string, opts: UpdateOpts, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      if (opts.ipAllow && opts.clearIpAllow) throw usageError('use either --ip-allow or --clear-ip-allow, not both');
      const body: Record<string, unknown> = {};
      if (opts.name !== undefined) body.name = opts.name;
      if (opts.plan !== undefined) body.plan = opts.plan;
      if (opts.ipAllow) body.ipAllowlist = opts.ipAllow;
      if (opts.clearIpAllow) body.ipAllowlist = [];
      if (opts.planOverride) applyOverrides({}, opts.planOverride); // usage errors before any request
      if (Object.keys(body).length === 0 && !opts.planOverride && !opts.clearPlanOverrides) {
        throw usageError('nothing to update: pass --name, --plan, --ip-allow, --clear-ip-allow, --plan-override or --clear-plan-overrides');
      }
      const client = await ctx.client();
      if (opts.planOverride || opts.clearPlanOverrides) {
        // The API replaces the overrides as a whole; the CLI merges into the current ones.
        const base = opts.clearPlanOverrides ? {} : ((await client.get<Org>(`/orgs/${seg(orgId)}`)).planOverrides ?? {});
        body.planOverrides = applyOverrides(base, opts.planOverride ?? []);
      }
      const updated = await client.patch<OrgView>(`/orgs/${seg(orgId)}`, body);
      if (ctx.json) return ctx.printJson(updated);
      ctx.out(`Updated organisation ${updated.orgId}.\n\n${orgBlock(updated)}`);
    });
}
