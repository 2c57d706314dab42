import type { Command } from 'commander';
import { join, resolve } from 'node:path';
import { AdminClient, type Whoami } from '../client';
import {
  ADMIN_PREFIX,
  type ConfigFile,
  DEFAULT_URL,
  defaultConfigPath,
  nonEmpty,
  normalizeBaseUrl,
  OPERATOR_TOKEN_FILE,
  readConfigFile,
  type Source,
  writeConfigFile,
} from '../config';
import { CliContext, type CliIo } from '../context';
import { usageError } from '../errors';
import { block, table } from '../format';
import { readAllStdin } from '../parse';

function principalText(me: Whoami): string {
  return me.principal === 'operator' ? 'operator' : `${me.role} key ${me.keyId} of org ${me.orgId}`;
}

function sourceText(source: Source | undefined, configPath: string, dataDir: string): string {
  switch (source) {
    case 'flag':
      return '--token';
    case 'env':
      return 'PLEXMCP_TOKEN';
    case 'config':
      return configPath;
    case 'operator-token-file':
      return join(dataDir, OPERATOR_TOKEN_FILE);
    default:
      return '-';
  }
}

export function registerAccountCommands(program: Command, io: CliIo): void {
  program
    .command('login')
    .description('save the admin URL and token to the config file (mode 0600)')
    .option('--token-stdin', 'read the token from standard input instead of --token / PLEXMCP_TOKEN')
    .option('--no-verify', 'save without checking the token against the server')
    .action(async (opts: { tokenStdin?: boolean; verify: boolean }, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const g = ctx.globals;
      const configPath = nonEmpty(g.config) ? resolve(ctx.cwd, g.config as string) : defaultConfigPath(io.env);
      const existing: ConfigFile = (await readConfigFile(configPath, false)) ?? {};

      const rawUrl = nonEmpty(g.url) ?? nonEmpty(io.env.PLEXMCP_URL) ?? nonEmpty(existing.url) ?? DEFAULT_URL;
      const baseUrl = normalizeBaseUrl(rawUrl, '--url');
      let token: string | undefined;
      if (opts.tokenStdin) {
        if (nonEmpty(g.token)) throw usageError('use either --token or --token-stdin, not both');
        if (!io.stdin) throw usageError('--token-stdin: no standard input');
        token = (await readAllStdin(io.stdin)).trim();
      } else {
        token = nonEmpty(g.token) ?? nonEmpty(io.env.PLEXMCP_TOKEN);
      }
      if (!token) throw usageError('login needs a token: --token <token>, --token-stdin or PLEXMCP_TOKEN');

      let me: Whoami | undefined;
      if (opts.verify) {
        const client = new AdminClient(baseUrl + ADMIN_PREFIX, token, io.fetch);
        me = await client.answer(client.typed().whoami.$get());
      }
      await writeConfigFile(configPath, { ...existing, url: baseUrl, token });
      if (ctx.json) return ctx.printJson({ url: baseUrl, configPath, ...(me ? { whoami: me } : {}) });
      ctx.out(
        `Saved ${baseUrl} and its token to ${configPath} (mode 0600)` +
          (me ? `; signed in as ${principalText(me)}.` : ' (not verified).'),
      );
    });

  program
    .command('whoami')
    .description('show which server and principal the CLI talks to')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const me = await ctx.whoami();
      if (ctx.json) return ctx.printJson(me);
      const s = await ctx.settings();
      ctx.out(
        block([
          ['URL', s.baseUrl],
          ['Principal', principalText(me)],
          ['Token from', sourceText(s.tokenSource, s.configPath, s.dataDir)],
        ]),
      );
    });

  program
    .command('plans')
    .description('list the plans and their limits')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      const client = await ctx.client();
      const res = await client.answer(client.typed().plans.$get());
      if (ctx.json) return ctx.printJson(res);
      const n = (value: number | undefined) => (value === undefined ? '-' : String(value));
      ctx.out(
        table(
          ['PLAN', 'REQUESTS/MIN', 'REQUESTS/MONTH', 'MCP SERVERS', 'ENDPOINTS/MCP', 'API KEYS', 'STREAMS/KEY', 'HANDSHAKES/MIN', 'WEBHOOKS'],
          (res.items ?? []).map((p) => [
            p.plan,
            n(p.requestsPerMinute),
            n(p.monthlyRequests),
            n(p.maxMcpServers),
            n(p.maxEndpointsPerMcp),
            n(p.maxApiKeys),
            n(p.maxConcurrentStreamsPerKey),
            n(p.handshakesPerKeyPerMinute),
            n(p.maxWebhookEndpoints),
          ]),
        ),
      );
    });
}
