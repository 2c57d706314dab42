import type { Command } from 'commander';
import { type ApiKey, type KeyRole, KEY_ROLES, type ToolPolicy } from '../../../lambda/core/model';
import { seg } from '../client';
import { CliContext, type CliIo } from '../context';
import { usageError } from '../errors';
import { keyBlock, keyTable } from '../format';
import { choiceParser, intParser, parseExpires, parseToolRule } from '../parse';

interface CreateOpts {
  org?: string;
  role?: KeyRole;
  mcp?: string[];
  allowTool?: string[];
  denyTool?: string[];
  expires?: string;
  rateLimit?: number;
}

export interface CreatedKey {
  key: ApiKey;
  secret: string;
}

const orgOption = ['--org <orgId>', 'organisation (default: the org of an org admin key)'] as const;

/** The `scopes` of a new key from --mcp, --allow-tool and --deny-tool. */
export function buildScopes(opts: Pick<CreateOpts, 'mcp' | 'allowTool' | 'denyTool'>): {
  mcps: '*' | string[];
  tools?: Record<string, ToolPolicy>;
} {
  const mcps: '*' | string[] = !opts.mcp || opts.mcp.includes('*') ? '*' : [...new Set(opts.mcp)];
  const tools: Record<string, { allow: string[]; deny: string[] }> = {};
  const add = (rules: string[] | undefined, flag: string, list: 'allow' | 'deny') => {
    for (const rule of rules ?? []) {
      const { slug, pattern } = parseToolRule(rule, flag);
      if (mcps !== '*' && slug !== '*' && !mcps.includes(slug)) {
        throw usageError(`${flag} ${rule}: MCP ${JSON.stringify(slug)} is not in --mcp (${mcps.join(', ')})`);
      }
      tools[slug] ??= { allow: [], deny: [] };
      tools[slug][list].push(pattern);
    }
  };
  add(opts.allowTool, '--allow-tool', 'allow');
  add(opts.denyTool, '--deny-tool', 'deny');
  return Object.keys(tools).length > 0 ? { mcps, tools } : { mcps };
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
    .option('--expires <when>', 'ISO date/time (2027-01-31) or duration from now (90m, 12h, 30d, 8w)')
    .option('--rate-limit <perMinute>', 'requests per minute for this key (default: the plan limit)', intParser(1))
    .action(async (name: string, opts: CreateOpts, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const body: Record<string, unknown> = { name };
      if (opts.role) body.role = opts.role;
      body.scopes = buildScopes(opts);
      if (opts.expires !== undefined) body.expiresAt = parseExpires(opts.expires, ctx.now());
      if (opts.rateLimit !== undefined) body.rateLimitPerMinute = opts.rateLimit;
      const orgId = await ctx.orgId(opts.org);
      const created = await (await ctx.client()).post<CreatedKey>(`/orgs/${seg(orgId)}/keys`, body);
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
      const items = await (await ctx.client()).listAll<ApiKey>(`/orgs/${seg(orgId)}/keys`);
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
      const found = await (await ctx.client()).get<ApiKey>(`/orgs/${seg(orgId)}/keys/${seg(keyId)}`);
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
      const revoked = await (await ctx.client()).post<ApiKey>(`/orgs/${seg(orgId)}/keys/${seg(keyId)}/revoke`);
      if (ctx.json) return ctx.printJson(revoked);
      ctx.out(`Revoked API key ${revoked.keyId}.\n\n${keyBlock(revoked, ctx.now())}`);
    });
}
