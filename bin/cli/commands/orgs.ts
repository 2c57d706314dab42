import type { Command } from 'commander';
import { type Org, type Plan, PLANS } from '../../../lambda/core/model';
import { seg } from '../client';
import { CliContext, type CliIo } from '../context';
import { usageError } from '../errors';
import { orgBlock, orgTable } from '../format';
import { choiceParser } from '../parse';

interface CreateOpts {
  plan?: Plan;
  ipAllow?: string[];
  idempotencyKey?: string;
}

interface UpdateOpts {
  name?: string;
  plan?: Plan;
  ipAllow?: string[];
  clearIpAllow?: boolean;
}

export function registerOrgCommands(program: Command, io: CliIo): void {
  const org = program.command('org').description('manage organisations (operator token)');

  org
    .command('create')
    .description('create an organisation')
    .argument('<name>', 'display name')
    .option('--plan <plan>', `plan: ${PLANS.join('|')} (server default: free)`, choiceParser(PLANS))
    .option('--ip-allow <cidr...>', 'CIDR blocks callers must come from (default: any address)')
    .option('--idempotency-key <key>', 'makes a retried create return the same organisation')
    .action(async (name: string, opts: CreateOpts, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const client = await ctx.client();
      const body: Record<string, unknown> = { name };
      if (opts.plan) body.plan = opts.plan;
      if (opts.ipAllow) body.ipAllowlist = opts.ipAllow;
      const headers = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : undefined;
      const created = await client.post<Org>('/orgs', body, headers);
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
      const found = await (await ctx.client()).get<Org>(`/orgs/${seg(orgId)}`);
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
    .action(async (orgId: string, opts: UpdateOpts, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      if (opts.ipAllow && opts.clearIpAllow) throw usageError('use either --ip-allow or --clear-ip-allow, not both');
      const body: Record<string, unknown> = {};
      if (opts.name !== undefined) body.name = opts.name;
      if (opts.plan !== undefined) body.plan = opts.plan;
      if (opts.ipAllow) body.ipAllowlist = opts.ipAllow;
      if (opts.clearIpAllow) body.ipAllowlist = [];
      if (Object.keys(body).length === 0) {
        throw usageError('nothing to update: pass --name, --plan, --ip-allow or --clear-ip-allow');
      }
      const updated = await (await ctx.client()).patch<Org>(`/orgs/${seg(orgId)}`, body);
      if (ctx.json) return ctx.printJson(updated);
      ctx.out(`Updated organisation ${updated.orgId}.\n\n${orgBlock(updated)}`);
    });
}
