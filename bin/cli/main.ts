/**
 * The `plexmcp` operator CLI. `runCli` runs one command line in-process with injected I/O and
 * returns the exit code: 0 success, 1 failure (including admin API errors), 2 usage error.
 */
import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json';
import { registerAccountCommands } from './commands/account';
import { registerAlertCommands } from './commands/alerts';
import { registerAuditCommands } from './commands/audit';
import { registerGrantCommands } from './commands/grants';
import { registerKeyCommands } from './commands/keys';
import { registerMcpCommands } from './commands/mcps';
import { registerOrgCommands } from './commands/orgs';
import { registerServeCommand } from './commands/serve';
import { registerUsageCommand } from './commands/usage';
import { registerWebhookCommands } from './commands/webhooks';
import type { CliIo } from './context';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, formatError } from './errors';

export type { CliIo } from './context';

export function buildProgram(io: CliIo): Command {
  const program = new Command('plexmcp');
  const width = io.columns ?? 80;
  program
    .description('Operate a PlexMCP gateway: organisations, MCP servers, API keys, OAuth grants, health, alerts, webhooks, usage, the audit log, and the local server.')
    .version(packageJson.version, '-V, --version')
    .option('--url <adminBaseUrl>', 'admin API base URL (env PLEXMCP_URL, config file, default http://127.0.0.1:8787)')
    .option('--token <token>', 'operator token or org admin key (env PLEXMCP_TOKEN, config file, local operator-token file)')
    .option('--config <file>', 'config file (default $XDG_CONFIG_HOME/plexmcp/config.json or ~/.config/plexmcp/config.json)')
    .option('--data-dir <dir>', 'local data directory (env PLEXMCP_DATA_DIR, default .plexmcp)')
    .option('--json', 'print the JSON response instead of text')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // commander's own messages read "error: ..."; ours read "error <code>: ...".
      outputError: (s, write) => write(s.replace(/^error: /, 'error usage: ')),
      getOutHelpWidth: () => width,
      getErrHelpWidth: () => width,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ showGlobalOptions: true })
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  plexmcp serve                                  # local gateway on :8787, data in ./.plexmcp\n' +
        '  plexmcp org create "Acme" --plan pro\n' +
        '  UPSTREAM_TOKEN=... plexmcp mcp create github --org <orgId> \\\n' +
        '      --endpoint https://mcp.example.com/mcp --auth bearer --secret-env UPSTREAM_TOKEN\n' +
        '  plexmcp key create "alice laptop" --org <orgId> --mcp github --expires 90d\n' +
        '  plexmcp mcp health github --org <orgId>        # endpoint status in every region\n' +
        '  plexmcp alert add --email oncall@example.com --events status --org <orgId>\n' +
        '  plexmcp usage --by tool --since 7d --granularity day  # requests, errors, p95, cost\n' +
        '  plexmcp audit verify --org <orgId>             # recompute the chain, check the signed digests\n' +
        '  plexmcp webhook add https://hooks.example.com/plexmcp --events key.revoked --org <orgId>\n',
    );
  registerServeCommand(program, io);
  registerAccountCommands(program, io);
  registerOrgCommands(program, io);
  registerMcpCommands(program, io);
  registerKeyCommands(program, io);
  registerGrantCommands(program, io);
  registerAlertCommands(program, io);
  registerUsageCommand(program, io);
  registerAuditCommands(program, io);
  registerWebhookCommands(program, io);
  return program;
}

/** Runs `argv` (the arguments after the program name) and returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT_OK;
  } catch (err) {
    return reportError(err, io);
  }
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // Help and version "errors" exit 0; commander has already printed any message.
    return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
  }
  if (err instanceof CliError) {
    for (const line of formatError(err)) io.stderr.write(`${line}\n`);
    return err.exitCode;
  }
  const e = err as { code?: unknown; message?: unknown; stack?: unknown };
  const code = typeof e?.code === 'string' ? e.code.toLowerCase() : 'internal';
  io.stderr.write(`error ${code}: ${typeof e?.message === 'string' ? e.message : String(err)}\n`);
  if (io.env.PLEXMCP_DEBUG && typeof e?.stack === 'string') io.stderr.write(`${e.stack}\n`);
  return EXIT_FAILURE;
}
