/**
 * What every command gets: the I/O it may use (injected, so tests run the CLI in-process), the
 * resolved settings, an admin API client and the output helpers.
 */
import type { Command } from 'commander';
import { AdminClient, type FetchLike, type Whoami } from './client';
import { type Env, type GlobalFlags, isLoopbackUrl, resolveSettings, type Settings } from './config';
import { CliError, EXIT_USAGE, usageError } from './errors';

export interface OutStream {
  write(chunk: string): unknown;
}

export type InStream = AsyncIterable<string | Uint8Array> & { readonly isTTY?: boolean };

/** The local server's own types (type-only: the CLI loads the server only for `serve`). */
import type { LocalGateway, ServeOptions } from '../../lambda/local/serve';
export type { ServeOptions };
export type ServeHandle = Pick<LocalGateway, 'adminUrl' | 'close'>;

export type ServeFn = (options: ServeOptions) => Promise<ServeHandle>;

export interface CliIo {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly env: Env;
  readonly stdin?: InStream;
  /** Relative paths (--config, --data-dir) are resolved against this; default `process.cwd()`. */
  readonly cwd?: string;
  /** Default: the global `fetch`. */
  readonly fetch?: FetchLike;
  /** Default: the system clock. */
  readonly now?: () => Date;
  /** `serve`: resolves when the server should stop. Default: the first SIGINT or SIGTERM. */
  readonly untilShutdown?: () => Promise<unknown>;
  /** `serve`: replaces `serve()` from `lambda/local/serve` (tests). */
  readonly serve?: ServeFn;
  /** Help text wrap width; default the terminal's width or 80. */
  readonly columns?: number;
}

export interface GlobalOptions extends GlobalFlags {
  json?: boolean;
}

export class CliContext {
  private settingsPromise?: Promise<Settings>;
  private clientPromise?: Promise<AdminClient>;
  private whoamiPromise?: Promise<Whoami>;

  constructor(
    readonly io: CliIo,
    readonly globals: GlobalOptions,
  ) {}

  static of(io: CliIo, command: Command): CliContext {
    return new CliContext(io, command.optsWithGlobals<GlobalOptions>());
  }

  get json(): boolean {
    return this.globals.json === true;
  }

  get cwd(): string {
    return this.io.cwd ?? process.cwd();
  }

  now(): Date {
    return this.io.now ? this.io.now() : new Date();
  }

  settings(): Promise<Settings> {
    this.settingsPromise ??= resolveSettings(this.globals, this.io.env, this.cwd);
    return this.settingsPromise;
  }

  client(): Promise<AdminClient> {
    this.clientPromise ??= (async () => {
      const s = await this.settings();
      if (s.token === undefined) {
        const notes = s.tokenNotes.map((n) => ` (${n})`).join('');
        throw new CliError(
          'no_token',
          'no admin token: pass --token, set PLEXMCP_TOKEN, run `plexmcp login --url <url> --token <token>`, ' +
            `or run \`plexmcp serve\` in this directory first${notes}`,
          EXIT_USAGE,
        );
      }
      if (s.baseUrl.startsWith('http:') && !isLoopbackUrl(s.baseUrl)) {
        this.warn(`sending the admin token over plain HTTP to ${new URL(s.baseUrl).host}`);
      }
      return new AdminClient(s.apiUrl, s.token, this.io.fetch);
    })();
    return this.clientPromise;
  }

  whoami(): Promise<Whoami> {
    this.whoamiPromise ??= this.client().then((c) => c.answer(c.typed().whoami.$get()));
    return this.whoamiPromise;
  }

  /** `--org`, else the org of the calling key; an operator token must name the org. */
  async orgId(flag: string | undefined): Promise<string> {
    if (flag !== undefined && flag.trim() !== '') return flag.trim();
    const me = await this.whoami();
    if (me.principal === 'key' && me.orgId) return me.orgId;
    throw usageError('--org <orgId> is required with the operator token (only an org key implies its own org)', 'org_required');
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  printJson(value: unknown): void {
    this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  warn(message: string): void {
    this.io.stderr.write(`warning: ${message}\n`);
  }
}
