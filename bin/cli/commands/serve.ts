import type { Command } from 'commander';
import { join } from 'node:path';
import { nonEmpty, OPERATOR_TOKEN_FILE, resolveDataDir } from '../config';
import { CliContext, type CliIo, type ServeFn, type ServeHandle } from '../context';
import { usageError } from '../errors';
import { intParser } from '../parse';
import { normalizeOrigin } from '../../../lambda/core/origin-policy';
import type { ConsentIdentityProvider } from '../../../lambda/core/oauth/external-sign-in';

export const DEFAULT_PORT = 8787;
const portParser = intParser(0, 65_535);

type LocalServeModule = typeof import('../../../lambda/local/serve');

/**
 * Loaded on demand: the local server pulls in the storage engine and the AWS SDK, which the
 * other commands do not need. `require`, not `import()`: under `tsx/cjs` (the package bin) a
 * dynamic import bypasses the TypeScript loader.
 */
function loadServe(): ServeFn {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require('../../../lambda/local/serve') as LocalServeModule;
  return mod.serve;
}

/**
 * The browser origins allowed to call the local gateway and admin API: `--allowed-origin` (any
 * number), else PLEXMCP_ALLOWED_ORIGINS (comma-separated), else none. Each must be an origin
 * (`scheme://host[:port]`); anything else is a usage error rather than an entry that never matches.
 */
function allowedOrigins(flag: string[] | undefined, env: string | undefined): string[] | undefined {
  const fromEnv = flag === undefined ? nonEmpty(env) : undefined;
  const origins = flag ?? fromEnv?.split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const origin of origins ?? []) {
    if (normalizeOrigin(origin) === undefined) {
      const source = fromEnv !== undefined ? 'PLEXMCP_ALLOWED_ORIGINS' : '--allowed-origin';
      throw usageError(`${source}: ${JSON.stringify(origin)} is not an origin (expected scheme://host[:port], e.g. http://localhost:3000)`);
    }
  }
  return origins;
}

/** `--otlp-endpoint`: an http(s) URL, or a usage error rather than an exporter that never connects. */
function otlpUrl(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usageError(`--otlp-endpoint: ${JSON.stringify(value)} is not a URL (expected e.g. http://127.0.0.1:4318/v1/metrics)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`--otlp-endpoint: ${JSON.stringify(value)} is not an http(s) URL`);
  return url.href;
}

interface IdpFlags {
  readonly idpIssuer?: string;
  readonly idpClientId?: string;
  readonly idpOrgClaim?: string;
  readonly idpOrg?: string[];
  readonly idpName?: string;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * `--idp-*`: the OpenID Provider of the consent page, or undefined without `--idp-issuer`. Its
 * client secret comes from PLEXMCP_IDP_CLIENT_SECRET only (a flag would show in the process list).
 */
function identityProvider(flags: IdpFlags, clientSecret: string | undefined): ConsentIdentityProvider | undefined {
  const { idpIssuer: issuer, idpClientId: clientId, idpOrgClaim: orgClaim } = flags;
  if (issuer === undefined) {
    if (clientId !== undefined || orgClaim !== undefined || flags.idpOrg !== undefined || flags.idpName !== undefined) throw usageError('--idp-client-id, --idp-org-claim, --idp-org and --idp-name need --idp-issuer');
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw usageError(`--idp-issuer: ${JSON.stringify(issuer)} is not a URL (expected e.g. https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123)`);
  }
  if (!(url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) || url.search !== '' || url.hash !== '') {
    throw usageError(`--idp-issuer: ${JSON.stringify(issuer)} must be an https URL without query or fragment (http only on a loopback address)`);
  }
  if (!clientId || !orgClaim) throw usageError('--idp-issuer needs --idp-client-id and --idp-org-claim');
  const orgs: Record<string, string> = {};
  for (const entry of flags.idpOrg ?? []) {
    const at = entry.lastIndexOf('=');
    if (at <= 0 || at === entry.length - 1) throw usageError(`--idp-org: ${JSON.stringify(entry)} is not <claim value>=<org id>`);
    orgs[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return {
    issuer,
    clientId,
    orgClaim,
    ...(clientSecret ? { clientSecret } : {}),
    ...(flags.idpName ? { displayName: flags.idpName } : {}),
    ...(flags.idpOrg ? { orgs } : {}),
  };
}

/** The first SIGINT or SIGTERM (a second one then kills the process as usual). */
function untilSignal(cancel: AbortSignal): Promise<NodeJS.Signals | undefined> {
  return new Promise((resolve) => {
    const done = (signal?: NodeJS.Signals) => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve(signal);
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    cancel.addEventListener('abort', () => done(), { once: true });
  });
}

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command('serve')
    .description('run the gateway and admin API locally (what `npm start` runs)')
    .option('--port <port>', `port (default: PLEXMCP_PORT or ${DEFAULT_PORT}; 0 picks a free one)`, portParser)
    .option('--host <host>', 'address to listen on (default: the server default, loopback; bound to loopback, only loopback Host names are served)')
    .option('--demo', 'seed a demo org, MCP server and key')
    .option('--dynamodb-endpoint <url>', 'use a running DynamoDB-compatible engine (env PLEXMCP_DYNAMODB_ENDPOINT) instead of the embedded one')
    .option('--log-requests', 'print one JSON line per request (admin requests and gateway usage records)')
    .option('--otlp-endpoint <url>', 'export the gateway metrics over OTLP/HTTP to this URL, e.g. http://127.0.0.1:4318/v1/metrics (env PLEXMCP_OTLP_ENDPOINT)')
    .option('--region <name>', 'the name this server reports as its region (/healthz, usage records, health checks); default local')
    .option('--allowed-origin <origin...>', 'browser origins allowed to call the gateway and admin API (env PLEXMCP_ALLOWED_ORIGINS, comma-separated; default none)')
    .option('--idp-issuer <url>', 'an OpenID Provider org admins may sign in with on the OAuth consent page (its redirect URI: <base URL>/oauth/signin/callback)')
    .option('--idp-client-id <id>', "the gateway's client id at that provider (a confidential client's secret: env PLEXMCP_IDP_CLIENT_SECRET)")
    .option('--idp-org-claim <claim>', 'the ID token claim that names the org the user administers (a string, or an array such as a groups claim)')
    .option('--idp-org <value=orgId...>', 'map a claim value to an org id (without any, the claim value is the org id)')
    .option('--idp-name <label>', 'the name on the consent page\'s "Sign in with …" button (default: the issuer\'s host)')
    .action(async (opts: { port?: number; host?: string; demo?: boolean; dynamodbEndpoint?: string; logRequests?: boolean; allowedOrigin?: string[]; otlpEndpoint?: string; region?: string } & IdpFlags, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      let port = opts.port;
      if (port === undefined && nonEmpty(io.env.PLEXMCP_PORT)) {
        try {
          port = portParser(io.env.PLEXMCP_PORT as string);
        } catch {
          throw usageError(`PLEXMCP_PORT must be a port number, not ${JSON.stringify(io.env.PLEXMCP_PORT)}`);
        }
      }
      port ??= DEFAULT_PORT;
      const origins = allowedOrigins(opts.allowedOrigin, io.env.PLEXMCP_ALLOWED_ORIGINS);
      const otlpEndpoint = otlpUrl(opts.otlpEndpoint ?? nonEmpty(io.env.PLEXMCP_OTLP_ENDPOINT));
      const idp = identityProvider(opts, nonEmpty(io.env.PLEXMCP_IDP_CLIENT_SECRET));
      const dataDir = resolveDataDir(ctx.globals.dataDir, io.env, ctx.cwd);
      const serve = io.serve ?? loadServe();
      // Listen for Ctrl-C before starting, so an early one is not lost.
      const cancel = new AbortController();
      const stopped = io.untilShutdown ? io.untilShutdown() : untilSignal(cancel.signal);
      let handle: ServeHandle;
      try {
        handle = await serve({
          port,
          host: opts.host,
          dataDir,
          demo: opts.demo === true,
          dynamodbEndpoint: opts.dynamodbEndpoint ?? (nonEmpty(io.env.PLEXMCP_DYNAMODB_ENDPOINT) ? io.env.PLEXMCP_DYNAMODB_ENDPOINT : undefined),
          log: (line) => io.stdout.write(line.endsWith('\n') ? line : `${line}\n`),
          logRequest: opts.logRequests ? (record) => io.stdout.write(`${JSON.stringify(record)}\n`) : undefined,
          allowedOrigins: origins,
          otlpEndpoint,
          ...(opts.region === undefined ? {} : { region: regionName(opts.region) }),
          ...(idp ? { identityProvider: idp } : {}),
        });
      } catch (err) {
        cancel.abort();
        throw err;
      }
      ctx.out(
        `Without --token, \`plexmcp\` commands run with this data directory use ${join(dataDir, OPERATOR_TOKEN_FILE)}.\n` +
          'Press Ctrl-C to stop.',
      );
      await stopped;
      ctx.out('Stopping...');
      await handle.close();
      ctx.out('Stopped.');
    });
}

/** `--region`: a name such as `eu-west-1` or `lab-a` (it appears in answers and records). */
function regionName(value: string): string {
  if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(value)) throw usageError(`--region must be 1-32 lower-case letters, digits or hyphens, not ${JSON.stringify(value)}`);
  return value;
}
