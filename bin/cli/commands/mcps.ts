import type { Command } from 'commander';
import type { InferRequestType } from 'hono/client';
import { type UpstreamAuthType, UPSTREAM_AUTH_TYPES } from '../../../lambda/core/model';
import type { AdminApi, McpView } from '../client';
import { CliContext, type CliIo } from '../context';
import { usageError } from '../errors';
import { healthReport, mcpBlock, mcpTable, toolsReport } from '../format';
import { choiceParser, type EndpointInput, intParser, parseEndpoint, readAllStdin } from '../parse';

interface McpOpts {
  org?: string;
  endpoint?: string[];
  name?: string;
  auth?: UpstreamAuthType;
  headerName?: string;
  username?: string;
  secretEnv?: string;
  secretStdin?: boolean;
  allowTool?: string[];
  denyTool?: string[];
  clearToolPolicy?: boolean;
  allowResource?: string[];
  denyResource?: string[];
  clearResourcePolicy?: boolean;
  allowPrompt?: string[];
  denyPrompt?: string[];
  clearPromptPolicy?: boolean;
  idempotencyKey?: string;
  connectTimeoutMs?: number;
  firstByteTimeoutMs?: number;
  idleTimeoutMs?: number;
  pricePerCall?: string;
  toolPrice?: string[];
  clearPricing?: boolean;
}

type CreateMcpBody = InferRequestType<AdminApi['orgs'][':orgId']['mcps']['$post']>['json'];
type UpdateMcpBody = InferRequestType<AdminApi['orgs'][':orgId']['mcps'][':slug']['$patch']>['json'];
type UpstreamAuthInput = NonNullable<UpdateMcpBody['upstreamAuth']>;
type Policies = Pick<UpdateMcpBody, 'toolPolicy' | 'resourcePolicy' | 'promptPolicy'>;
/** Pricing as the API answers it (the body's `tools` is untyped: the schema preprocesses it). */
type Pricing = NonNullable<McpView['pricing']>;
/** The MCP server as it is now (update), read once when a change builds on it. */
type Current = () => Promise<McpView>;

const ms = intParser(1, 86_400_000);

function addMcpOptions(cmd: Command, create: boolean): Command {
  const again = create ? '' : ' (replaces the current list)';
  cmd.option('--org <orgId>', 'organisation (default: the org of an org admin key)');
  const endpointFlags = '--endpoint <url...>';
  const endpointHelp = `upstream endpoint url[=weight], weight 1-1000 (default 100), e.g. https://a.example/mcp=300${again}`;
  if (create) cmd.requiredOption(endpointFlags, endpointHelp);
  else cmd.option(endpointFlags, endpointHelp);
  cmd
    .option('--name <displayName>', 'display name')
    .option('--auth <type>', `upstream authentication: ${UPSTREAM_AUTH_TYPES.join('|')}`, choiceParser(UPSTREAM_AUTH_TYPES))
    .option('--header-name <header>', 'header name for --auth header')
    .option('--username <user>', 'user name for --auth basic')
    .option('--secret-env <VAR>', 'read the upstream secret (bearer token, header value or basic password) from this environment variable')
    .option('--secret-stdin', 'read the upstream secret from standard input')
    .option('--allow-tool <pattern...>', `tools that may be called, globs with *; default all${again}`)
    .option('--deny-tool <pattern...>', `tools that may never be called; wins over --allow-tool${again}`)
    .option('--allow-resource <uri-pattern...>', `resource URIs that may be read, e.g. 'file:///docs/*'; default all${again}`)
    .option('--deny-resource <uri-pattern...>', `resource URIs that may never be read; wins over --allow-resource${again}`)
    .option('--allow-prompt <pattern...>', `prompts that may be used; default all${again}`)
    .option('--deny-prompt <pattern...>', `prompts that may never be used; wins over --allow-prompt${again}`);
  if (create) cmd.option('--idempotency-key <key>', 'makes a retried create return the same MCP server');
  if (!create) {
    cmd
      .option('--clear-tool-policy', 'allow every tool again (combine with --allow-tool/--deny-tool to start over)')
      .option('--clear-resource-policy', 'allow every resource again (combine with --allow-resource/--deny-resource to start over)')
      .option('--clear-prompt-policy', 'allow every prompt again (combine with --allow-prompt/--deny-prompt to start over)');
  }
  cmd
    .option('--price-per-call <usd>', 'what the upstream charges per call, USD (e.g. 0.002); tools without a --tool-price cost this')
    .option('--tool-price <tool=usd...>', `what one call of a tool costs, USD, e.g. search=0.01 fetch=0${create ? '' : '; tool=default drops a tool\'s own price'}`);
  if (!create) cmd.option('--clear-pricing', 'remove the pricing (nothing is charged); combine with --price-per-call/--tool-price to start over');
  return cmd
    .option('--connect-timeout-ms <ms>', 'upstream connect timeout', ms)
    .option('--first-byte-timeout-ms <ms>', 'upstream time to first byte', ms)
    .option('--idle-timeout-ms <ms>', 'upstream idle timeout while streaming', ms);
}

async function readSecret(opts: McpOpts, ctx: CliContext): Promise<string | undefined> {
  if (opts.secretEnv !== undefined && opts.secretStdin) throw usageError('use either --secret-env or --secret-stdin, not both');
  if (opts.secretEnv !== undefined) {
    const value = ctx.io.env[opts.secretEnv];
    if (value === undefined || value === '') {
      throw usageError(`--secret-env ${opts.secretEnv}: that environment variable is not set or empty`);
    }
    return value;
  }
  if (opts.secretStdin) {
    if (!ctx.io.stdin) throw usageError('--secret-stdin: no standard input');
    if (ctx.io.stdin.isTTY) ctx.io.stderr.write('Reading the upstream secret from standard input (end with Ctrl-D)...\n');
    const value = await readAllStdin(ctx.io.stdin);
    if (value === '') throw usageError('--secret-stdin: standard input was empty');
    return value;
  }
  return undefined;
}

/**
 * The `upstreamAuth` to send, or undefined to leave it alone. The secret is write-only, so any
 * change to the upstream auth sends the whole object. On update (`current` given), a new secret
 * without --auth keeps the current type (and header name / user name): it rotates the secret.
 */
async function buildUpstreamAuth(
  opts: McpOpts,
  ctx: CliContext,
  current?: Current,
): Promise<UpstreamAuthInput | undefined> {
  const secretGiven = opts.secretEnv !== undefined || opts.secretStdin === true;
  let type = opts.auth;
  let headerName = opts.headerName;
  let username = opts.username;
  if (type === undefined) {
    if (!secretGiven && headerName === undefined && username === undefined) return undefined;
    const auth = current ? (await current()).upstreamAuth : undefined;
    if (!auth || auth.type === 'none') {
      throw usageError('pass --auth bearer|header|basic together with the secret and its options');
    }
    type = auth.type;
    if (auth.type === 'header') headerName ??= auth.headerName;
    if (auth.type === 'basic') username ??= auth.username;
  }
  if (type === 'none') {
    if (secretGiven || opts.headerName !== undefined || opts.username !== undefined) {
      throw usageError('--auth none takes no secret, --header-name or --username');
    }
    return { type: 'none' };
  }
  if (type !== 'header' && opts.headerName !== undefined) throw usageError('--header-name only goes with --auth header');
  if (type !== 'basic' && opts.username !== undefined) throw usageError('--username only goes with --auth basic');
  if (type === 'header' && !headerName) throw usageError('--auth header needs --header-name <header>');
  if (type === 'basic' && !username) throw usageError('--auth basic needs --username <user>');
  if (!secretGiven) {
    throw usageError(
      `upstream auth ${type} needs its secret: --secret-env <VAR> or --secret-stdin (never a flag value)`,
    );
  }
  const secret = (await readSecret(opts, ctx)) as string;
  switch (type) {
    case 'bearer':
      return { type, token: secret };
    case 'header':
      return { type, headerName: headerName as string, value: secret };
    case 'basic':
      return { type, username: username as string, password: secret };
  }
}

function timeoutsGiven(opts: McpOpts): UpdateMcpBody['timeouts'] {
  const t: NonNullable<UpdateMcpBody['timeouts']> = {};
  if (opts.connectTimeoutMs !== undefined) t.connectMs = opts.connectTimeoutMs;
  if (opts.firstByteTimeoutMs !== undefined) t.firstByteMs = opts.firstByteTimeoutMs;
  if (opts.idleTimeoutMs !== undefined) t.idleMs = opts.idleTimeoutMs;
  return Object.keys(t).length > 0 ? t : undefined;
}

const POLICIES = [
  { field: 'toolPolicy', allow: 'allowTool', deny: 'denyTool', clear: 'clearToolPolicy' },
  { field: 'resourcePolicy', allow: 'allowResource', deny: 'denyResource', clear: 'clearResourcePolicy' },
  { field: 'promptPolicy', allow: 'allowPrompt', deny: 'denyPrompt', clear: 'clearPromptPolicy' },
] as const;

/**
 * The tool, resource and prompt policies to send. On create, those given. On update, a list not
 * given keeps its current value (read from `current`), unless --clear-…-policy starts it empty.
 */
async function policiesGiven(opts: McpOpts, current?: Current): Promise<Policies> {
  const out: Policies = {};
  for (const p of POLICIES) {
    const allow = opts[p.allow];
    const deny = opts[p.deny];
    const clear = current ? opts[p.clear] : undefined;
    if (!clear && !allow && !deny) continue;
    const base = clear || !current ? undefined : (await current())[p.field];
    out[p.field] = { allow: allow ?? base?.allow ?? [], deny: deny ?? base?.deny ?? [] };
  }
  return out;
}

/** A price in USD: a plain non-negative decimal (`0.002`, `1e-6`), not a negative or `Infinity`. */
function parseUsd(value: string, flag: string): number {
  const v = value.trim();
  const n = Number(v);
  if (!/^(\d+(\.\d*)?|\.\d+)(e[-+]?\d+)?$/i.test(v) || !Number.isFinite(n)) {
    throw usageError(`${flag} ${JSON.stringify(value)}: expected a price in USD, a number of at least 0 (e.g. 0.002)`);
  }
  return n;
}

/** `tool=usd`, or `tool=default` (null) to drop the tool's own price. */
function parseToolPrice(value: string): { tool: string; usd: number | null } {
  const at = value.indexOf('=');
  const tool = at > 0 ? value.slice(0, at).trim() : '';
  const price = at > 0 ? value.slice(at + 1).trim() : '';
  if (tool === '' || price === '') throw usageError(`--tool-price ${JSON.stringify(value)}: expected <tool>=<usd>, e.g. search=0.01`);
  return { tool, usd: price === 'default' ? null : parseUsd(price, '--tool-price') };
}

/**
 * The `pricing` to send, or undefined to leave it alone. On create, what the flags give. On
 * update, the flags change the current pricing (read from `current`: --price-per-call replaces
 * the per-call price, each --tool-price sets or drops one tool's price) unless --clear-pricing
 * starts from none; the API replaces pricing as a whole, and null removes it.
 */
async function pricingGiven(opts: McpOpts, current?: Current): Promise<Pricing | null | undefined> {
  // Usage errors before any request.
  const changes = (opts.toolPrice ?? []).map(parseToolPrice);
  const perCall = opts.pricePerCall === undefined ? undefined : parseUsd(opts.pricePerCall, '--price-per-call');
  const clear = current ? opts.clearPricing === true : false;
  if (perCall === undefined && changes.length === 0) return clear ? null : undefined;
  const base: Pricing = clear || !current ? {} : ((await current()).pricing ?? {});
  const tools: Record<string, number> = { ...base.tools };
  for (const { tool, usd } of changes) {
    if (usd === null) delete tools[tool];
    else tools[tool] = usd;
  }
  const perCallUsd = perCall ?? base.perCallUsd;
  const pricing: Pricing = { ...(perCallUsd !== undefined ? { perCallUsd } : {}), ...(Object.keys(tools).length > 0 ? { tools } : {}) };
  if (Object.keys(pricing).length > 0) return pricing;
  return current ? null : undefined;
}

function endpoints(opts: McpOpts): EndpointInput[] | undefined {
  return opts.endpoint ? opts.endpoint.map(parseEndpoint) : undefined;
}

export function registerMcpCommands(program: Command, io: CliIo): void {
  const mcp = program.command('mcp').description('manage the MCP servers of an organisation');

  addMcpOptions(mcp.command('create').description('register an MCP server').argument('<slug>', 'short name used in the gateway URL'), true).action(
    async (slug: string, opts: McpOpts, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const eps = endpoints(opts) ?? [];
      const upstreamAuth = await buildUpstreamAuth(opts, ctx);
      const json: CreateMcpBody = { slug, endpoints: eps };
      if (opts.name !== undefined) json.displayName = opts.name;
      if (upstreamAuth) json.upstreamAuth = upstreamAuth;
      Object.assign(json, await policiesGiven(opts));
      const timeouts = timeoutsGiven(opts);
      if (timeouts) json.timeouts = timeouts;
      const pricing = await pricingGiven(opts);
      if (pricing) json.pricing = pricing;
      const orgId = await ctx.orgId(opts.org);
      const header = opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {};
      const client = await ctx.client();
      const created = await client.answer(client.typed().orgs[':orgId'].mcps.$post({ param: { orgId }, header, json }));
      if (ctx.json) return ctx.printJson(created);
      ctx.out(`Created MCP server ${created.slug} in org ${created.orgId}.\n\n${mcpBlock(created)}`);
    },
  );

  mcp
    .command('list')
    .description('list MCP servers')
    .option('--org <orgId>', 'organisation (default: the org of an org admin key)')
    .action(async (opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const mcps = client.typed().orgs[':orgId'].mcps;
      const items = await client.all((query) => mcps.$get({ param: { orgId }, query }));
      if (ctx.json) return ctx.printJson({ items });
      ctx.out(items.length === 0 ? `No MCP servers in org ${orgId}.` : mcpTable(items));
    });

  mcp
    .command('get')
    .description('show one MCP server')
    .argument('<slug>')
    .option('--org <orgId>', 'organisation (default: the org of an org admin key)')
    .action(async (slug: string, opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const found = await client.answer(client.typed().orgs[':orgId'].mcps[':slug'].$get({ param: { orgId, slug } }));
      if (ctx.json) return ctx.printJson(found);
      ctx.out(mcpBlock(found));
    });

  addMcpOptions(mcp.command('update').description('change an MCP server').argument('<slug>'), false).action(
    async (slug: string, opts: McpOpts, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const mcp = client.typed().orgs[':orgId'].mcps[':slug'];
      const param = { orgId, slug };
      let currentPromise: Promise<McpView> | undefined;
      const current = () => (currentPromise ??= client.answer(mcp.$get({ param })));

      const json: UpdateMcpBody = {};
      const eps = endpoints(opts);
      if (eps) json.endpoints = eps;
      if (opts.name !== undefined) json.displayName = opts.name;
      const upstreamAuth = await buildUpstreamAuth(opts, ctx, current);
      if (upstreamAuth) json.upstreamAuth = upstreamAuth;
      Object.assign(json, await policiesGiven(opts, current));
      const timeouts = timeoutsGiven(opts);
      if (timeouts) json.timeouts = timeouts; // the server keeps the timeouts not named here
      const pricing = await pricingGiven(opts, current);
      if (pricing !== undefined) json.pricing = pricing;
      if (Object.keys(json).length === 0) throw usageError('nothing to update: pass at least one option (see --help)');

      const updated = await client.answer(mcp.$patch({ param, json }));
      if (ctx.json) return ctx.printJson(updated);
      ctx.out(`Updated MCP server ${updated.slug}.\n\n${mcpBlock(updated)}`);
    },
  );

  mcp
    .command('delete')
    .description('delete an MCP server')
    .argument('<slug>')
    .option('--org <orgId>', 'organisation (default: the org of an org admin key)')
    .action(async (slug: string, opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      await client.answer(client.typed().orgs[':orgId'].mcps[':slug'].$delete({ param: { orgId, slug } }));
      if (!ctx.json) ctx.out(`Deleted MCP server ${slug} from org ${orgId}.`);
    });

  mcp
    .command('health')
    .description('endpoint health in every region, and recent status changes')
    .argument('<slug>')
    .option('--org <orgId>', 'organisation (default: the org of an org admin key)')
    .option('--history <n>', 'how many recent status changes to show, 0-100 (server default: 20)', intParser(0, 100))
    .action(async (slug: string, opts: { org?: string; history?: number }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const query = opts.history === undefined ? {} : { history: String(opts.history) };
      const view = await client.answer(client.typed().orgs[':orgId'].mcps[':slug'].health.$get({ param: { orgId, slug }, query }));
      if (ctx.json) return ctx.printJson(view);
      ctx.out(healthReport(slug, view));
    });

  mcp
    .command('tools')
    .description('the tools, resources and prompts the MCP server last said it offers')
    .argument('<slug>')
    .option('--org <orgId>', 'organisation (default: the org of an org admin key)')
    .action(async (slug: string, opts: { org?: string }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const orgId = await ctx.orgId(opts.org);
      const client = await ctx.client();
      const metadata = await client.answer(client.typed().orgs[':orgId'].mcps[':slug'].tools.$get({ param: { orgId, slug } }));
      if (ctx.json) return ctx.printJson(metadata);
      ctx.out(toolsReport(metadata, io.columns ?? 80));
    });
}
