import type { Command } from 'commander';
import type { InferRequestType } from 'hono/client';
import { type Plan, PLANS } from '../../../lambda/core/model';
import { PLAN_LIMIT_NAMES } from '../../../lambda/core/plans';
import type { AdminApi } from '../client';
import { CliContext, type CliIo } from '../context';
import { usageError } from '../errors';
import { orgBlock, orgTable } from '../format';
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

type CreateOrgBody = InferRequestType<AdminApi['orgs']['$post']>['json'];
type UpdateOrgBody = InferRequestType<AdminApi['orgs'][':orgId']['$patch']>['json'];
type PlanOverrides = NonNullable<UpdateOrgBody['planOverrides']>;

const PLAN_OVERRIDE_FLAGS = '--plan-override <limit=value...>';
const PLAN_OVERRIDE_HELP = `override a plan limit for this org (operator): ${PLAN_LIMIT_NAMES.join('|')}=<number>, or <limit>=default to drop one`;

/** The overrides after applying `--plan-override` values to `base` (a later value for a limit wins). */
function applyOverrides(base: PlanOverrides, values: readonly string[]): PlanOverrides {
  const next: PlanOverrides = { ...base };
  for (const value of values) {
    const parsed = parsePlanOverride(value, PLAN_LIMIT_NAMES);
    const name = parsed.name as keyof PlanOverrides; // parsePlanOverride accepts only PLAN_LIMIT_NAMES
    if (parsed.value === null) delete next[name];
    else next[name] = parsed.value;
  }
  return next;
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
      const json: CreateOrgBody = { name };
      if (opts.plan) json.plan = opts.plan;
      if (opts.ipAllow) json.ipAllowlist = opts.ipAllow;
      if (opts.planOverride) json.planOverrides = applyOverrides({}, opts.planOverride);
      const client = await ctx.client();
      const header = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {};
      const created = await client.answer(client.typed().orgs.$post({ header, json }));
      if (ctx.json) return ctx.printJson(created);
      ctx.out(`Created organisation ${created.orgId}.\n\n${orgBlock(created)}`);
    });

  org
    .command('list')
    .description('list organisations')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const client = await ctx.client();
      const api = client.typed();
      const items = await client.all((query) => api.orgs.$get({ query }));
      if (ctx.json) return ctx.printJson({ items });
      ctx.out(items.length === 0 ? 'No organisations.' : orgTable(items));
    });

  org
    .command('get')
    .description('show one organisation')
    .argument('<orgId>')
    .action(async (orgId: string, _opts: unknown, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const client = await ctx.client();
      const found = await client.answer(client.typed().orgs[':orgId'].$get({ param: { orgId } }));
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
      const json: UpdateOrgBody = {};
      if (opts.name !== undefined) json.name = opts.name;
      if (opts.plan !== undefined) json.plan = opts.plan;
      if (opts.ipAllow) json.ipAllowlist = opts.ipAllow;
      if (opts.clearIpAllow) json.ipAllowlist = [];
      if (opts.planOverride) applyOverrides({}, opts.planOverride); // usage errors before any request
      if (Object.keys(json).length === 0 && !opts.planOverride && !opts.clearPlanOverrides) {
        throw usageError('nothing to update: pass --name, --plan, --ip-allow, --clear-ip-allow, --plan-override or --clear-plan-overrides');
      }
      const client = await ctx.client();
      const org = client.typed().orgs[':orgId'];
      if (opts.planOverride || opts.clearPlanOverrides) {
        // The API replaces the overrides as a whole; the CLI merges into the current ones.
        const base = opts.clearPlanOverrides ? {} : ((await client.answer(org.$get({ param: { orgId } }))).planOverrides ?? {});
        json.planOverrides = applyOverrides(base, opts.planOverride ?? []);
      }
      const updated = await client.answer(org.$patch({ param: { orgId }, json }));
      if (ctx.json) return ctx.printJson(updated);
      ctx.out(`Updated organisation ${updated.orgId}.\n\n${orgBlock(updated)}`);
    });
}
