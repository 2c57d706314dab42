import type { Command } from 'commander';
import type { InferRequestType } from 'hono/client';
import { type KeyRole, KEY_ROLES } from '../../../lambda/core/model';
import type { AdminApi } from '../client';
import { CliContext, type CliIo } from '../context';
import { usageError } from '../errors';
import { keyBlock, keyTable } from '../format';
import { choiceParser, intParser, parseExpires, parseScopeRule, type ScopeFeature } from '../parse';

interface ScopeOpts {
  mcp?: string[];
  allowTool?: string[];
  denyTool?: string[];
  allowResource?: string[];
  denyResource?: string[];
  allowPrompt?: string[];
  denyPrompt?: string[];
}

interface CreateOpts extends ScopeOpts {
  org?: string;
  role?: KeyRole;
  expires?: string;
  rateLimit?: number;
}

const orgOption = ['--org <orgId>', 'organisation (default: the org of an org admin key)'] as const;

type CreateKeyBody = InferRequestType<AdminApi['orgs'][':orgId']['keys']['$post']>['json'];
type Scopes = NonNullable<CreateKeyBody['scopes']>;
type PerMcp = NonNullable<Scopes['tools']>;

/**
 * The `scopes` of a new key from --mcp and the --allow-/--deny- rules for tools, resources and
 * prompts (`slug:pattern`, split at the first colon). A feature without rules is left out.
 */
export function buildScopes(opts: ScopeOpts): Scopes {
  const mcps: '*' | string[] = !opts.mcp || opts.mcp.includes('*') ? '*' : [...new Set(opts.mcp)];
  const collect = (feature: ScopeFeature, allow: string[] | undefined, deny: string[] | undefined): PerMcp | undefined => {
    const policies: Record<string, { allow: string[]; deny: string[] }> = {};
    const add = (rules: string[] | undefined, list: 'allow' | 'deny') => {
      const flag = `--${list}-${feature}`;
      for (const rule of rules ?? []) {
        const { slug, pattern } = parseScopeRule(rule, flag, feature);
        if (mcps !== '*' && slug !== '*' && !mcps.includes(slug)) {
          throw usageError(`${flag} ${rule}: MCP ${JSON.stringify(slug)} is not in --mcp (${mcps.join(', ')})`);
        }
        policies[slug] ??= { allow: [], deny: [] };
        policies[slug][list].push(pattern);
      }
    };
    add(allow, 'allow');
    add(deny, 'deny');
    return Object.keys(policies).length > 0 ? policies : undefined;
  };
  const tools = collect('tool', opts.allowTool, opts.denyTool);
  const resources = collect('resource', opts.allowResource, opts.denyResource);
  const prompts = collect('prompt', opts.allowPrompt, opts.denyPrompt);
  return { mcps, ...(tools ? { tools } : {}), ...(resources ? { resources } : {}), ...(prompts ? { prompts } : {}) };
}

export function registerKeyCommands(program: Command, io: CliIo): void {
  const key = program.command('key').description('manage the API keys of an organisation');

  key
    .command('create')
    .description('create an API key (its secret is shown once)')
    .argument('<name>', 'what the key is for, e.g. "claude-desktop alice"')
    .option(...orgOption)
    .option('--role <role>', `${KEY_ROLES.join('|')} (server default: member); admin keys manage their org`, choiceParser(KEY_ROLES))
    .option('--mcp <slug...>', 'MCP servers the key may use (default: all, also future ones)')
    .option('--allow-tool <slug:pattern...>', 'only these tools of that MCP (slug * = every MCP), e.g. github:search_*')
    .option('--deny-tool <slug:pattern...>', 'never these tools of that MCP, e.g. github:delete_*')
    .option('--allow-resource <slug:uri-pattern...>', "only these resource URIs of that MCP, e.g. 'docs:file:///docs/*' (split at the first colon)")
    .option('--deny-resource <slug:uri-pattern...>', "never these resource URIs of that MCP, e.g. 'docs:file:///docs/private/*'")
    .option('--allow-prompt <slug:pattern...>', 'only these prompts of that MCP, e.g. github:summarize*')
    .option('--deny-prompt <slug:pattern...>', 'never these prompts of that MCP')
    .option('--expires <when>', 'ISO date/time (2027-01-31) or duration from now (90m, 12h, 30d, 8w)')
    .option('--rate-limit <perMinute>', "requests per minute for this key (default: the plan's; at most the plan's unless the operator sets it)", intParser(1))
    .action(async (name: string, opts: CreateOpts, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const json: CreateKeyBody = { name };
      if (opts.role) json.role = opts.role;
      json.scopes = buildScopes(opts);
      if (opts.expires !== undefined) json.expiresAt = parseExpires(opts.expires, ctx.now());
      if (opts.rateLimit !== undefined) json.rateLimitPerMinute = opts.rateLimit;
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const created = await client.answer(client.typed().orgs[':orgId'].keys.$post({ param: { orgId }, header: {}, json }));
      if (ctx.json) return ctx.printJson(created);
      ctx.out(
        `Created API key ${created.key.keyId} in org ${created.key.orgId}.\n\n${keyBlock(created.key, ctx.now())}\n` +
          `API key (store it now, it will not be shown again):\n\n  ${created.secret}\n`,
      );
    });

  key
    .command('list')
    .description('list API keys (never their secrets)')
    .option(...orgOption)
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const keys = client.typed().orgs[':orgId'].keys;
      const items = await client.all((query) => keys.$get({ param: { orgId }, query }));
      if (ctx.json) return ctx.printJson({ items });
      ctx.out(items.length === 0 ? `No API keys in org ${orgId}.` : keyTable(items, ctx.now()));
    });

  key
    .command('get')
    .description('show one API key')
    .argument('<keyId>')
    .option(...orgOption)
    .action(async (keyId: string, opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const found = await client.answer(client.typed().orgs[':orgId'].keys[':keyId'].$get({ param: { orgId, keyId } }));
      if (ctx.json) return ctx.printJson(found);
      ctx.out(keyBlock(found, ctx.now()));
    });

  key
    .command('revoke')
    .description('revoke an API key (takes effect within the gateway cache bound)')
    .argument('<keyId>')
    .option(...orgOption)
    .action(async (keyId: string, opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const revoked = await client.answer(client.typed().orgs[':orgId'].keys[':keyId'].revoke.$post({ param: { orgId, keyId } }));
      if (ctx.json) return ctx.printJson(revoked);
      ctx.out(`Revoked API key ${revoked.keyId}.\n\n${keyBlock(revoked, ctx.now())}`);
    });
}
