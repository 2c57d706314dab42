import type { Command } from 'commander';
import type { AdminApi, AnswerOf } from '../client';
import { CliContext, type CliIo } from '../context';
import { block, listOrNone, scopeLines, table } from '../format';

const orgOption = ['--org <orgId>', 'organisation (default: the org of an org admin key)'] as const;

type GrantView = AnswerOf<AdminApi['orgs'][':orgId']['grants'][':grantId']['$get']>;

const servers = (g: GrantView): string => (g.scopes.mcps === '*' ? 'all' : listOrNone(g.scopes.mcps, 'none'));
const status = (g: GrantView): string => (g.revokedAt ? 'revoked' : 'active');

/** Aligned columns: grant id, client (name and id), MCP servers, created, status. */
export function grantTable(grants: readonly GrantView[]): string {
  return table(
    ['GRANT ID', 'CLIENT', 'CLIENT ID', 'MCPS', 'CREATED', 'LAST USED', 'STATUS'],
    grants.map((g) => [g.grantId, g.clientName, g.clientId, servers(g), g.createdAt, g.lastUsedAt ?? 'never', status(g)]),
  );
}

export function grantBlock(g: GrantView): string {
  return block([
    ['Grant ID', g.grantId],
    ['Org ID', g.orgId],
    // The name is the client's own claim (its registration or metadata document): the id is what identifies it.
    ['Client', g.clientName],
    ['Client ID', g.clientId],
    ['Backing key', g.keyId],
    ['MCPs', servers(g)],
    ['Tools', scopeLines(g.scopes.tools)],
    ['Resources', scopeLines(g.scopes.resources)],
    ['Prompts', scopeLines(g.scopes.prompts)],
    ['Status', g.revokedAt ? `revoked at ${g.revokedAt}` : 'active'],
    ['Created', g.createdAt],
    ['Last used', g.lastUsedAt ?? 'never'],
  ]);
}

/** What every grant command starts with: its context, the org, the client and the org's grant routes. */
async function orgScope(io: CliIo, cmd: Command, org: string | undefined) {
  const ctx = CliContext.of(io, cmd);
  const orgId = await ctx.orgId(org);
  const client = await ctx.client();
  return { ctx, orgId, client, grants: client.typed().orgs[':orgId'].grants };
}

export function registerGrantCommands(program: Command, io: CliIo): void {
  const grant = program
    .command('grant')
    .description('OAuth grants of an organisation: the MCP clients (Claude, ChatGPT, VS Code, …) an org admin approved on the consent page');

  grant
    .command('list')
    .description('list OAuth grants, revoked ones included')
    .option(...orgOption)
    .action(async (opts: { org?: string }, cmd: Command) => {
      const { ctx, orgId, client, grants } = await orgScope(io, cmd, opts.org);
      const items = await client.all((query) => grants.$get({ param: { orgId }, query }));
      if (ctx.json) return ctx.printJson({ items });
      ctx.out(items.length === 0 ? `No OAuth grants in org ${orgId}.` : grantTable(items));
    });

  grant
    .command('get')
    .description('show one OAuth grant')
    .argument('<grantId>')
    .option(...orgOption)
    .action(async (grantId: string, opts: { org?: string }, cmd: Command) => {
      const { ctx, orgId, client, grants } = await orgScope(io, cmd, opts.org);
      const found = await client.answer(grants[':grantId'].$get({ param: { orgId, grantId } }));
      if (ctx.json) return ctx.printJson(found);
      ctx.out(grantBlock(found));
    });

  grant
    .command('revoke')
    .description('revoke an OAuth grant: its tokens stop working (within the gateway cache bound) and cannot be refreshed')
    .argument('<grantId>')
    .option(...orgOption)
    .action(async (grantId: string, opts: { org?: string }, cmd: Command) => {
      const { ctx, orgId, client, grants } = await orgScope(io, cmd, opts.org);
      const revoked = await client.answer(grants[':grantId'].revoke.$post({ param: { orgId, grantId } }));
      if (ctx.json) return ctx.printJson(revoked);
      ctx.out(`Revoked OAuth grant ${revoked.grantId} (${revoked.clientName}).\n\n${grantBlock(revoked)}`);
    });
}
