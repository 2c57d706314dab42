/**
 * Where the CLI finds the admin URL and token: flag > environment > config file, and for the
 * token, as a last resort, the operator token file that `plexmcp serve` writes into its data
 * directory (only for a loopback URL, so a local token never travels to another machine).
 */
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CliError, EXIT_USAGE, usageError } from './errors';

export const DEFAULT_URL = 'http://127.0.0.1:8787';
export const DEFAULT_DATA_DIR = '.plexmcp';
export const OPERATOR_TOKEN_FILE = 'operator-token';
export const ADMIN_PREFIX = '/admin/v1';

export type Env = Readonly<Record<string, string | undefined>>;

/** The JSON stored in the config file. Unknown fields are kept when the file is rewritten. */
export interface ConfigFile {
  url?: string;
  token?: string;
  [field: string]: unknown;
}

export type Source = 'flag' | 'env' | 'config' | 'default' | 'operator-token-file';

export interface GlobalFlags {
  url?: string;
  token?: string;
  config?: string;
  dataDir?: string;
}

export interface Settings {
  /** The server's base URL, without `/admin/v1` and without a trailing slash. */
  readonly baseUrl: string;
  /** The admin API base: `baseUrl` + `/admin/v1`. */
  readonly apiUrl: string;
  readonly urlSource: Source;
  readonly token?: string;
  readonly tokenSource?: Source;
  readonly configPath: string;
  readonly dataDir: string;
  /** Why no token was taken from somewhere it could have come from (for the error message). */
  readonly tokenNotes: readonly string[];
}

/** `$XDG_CONFIG_HOME/plexmcp/config.json`, else `~/.config/plexmcp/config.json`. */
export function defaultConfigPath(env: Env): string {
  const xdg = nonEmpty(env.XDG_CONFIG_HOME);
  const base = xdg && isAbsolute(xdg) ? xdg : join(nonEmpty(env.HOME) ?? homedir(), '.config');
  return join(base, 'plexmcp', 'config.json');
}

export function resolveDataDir(flag: string | undefined, env: Env, cwd: string): string {
  return resolve(cwd, nonEmpty(flag) ?? nonEmpty(env.PLEXMCP_DATA_DIR) ?? DEFAULT_DATA_DIR);
}

/**
 * Parses an admin URL given by the user into the server base URL. Accepts the server root
 * (`http://host:8787`) or the admin API base (`http://host:8787/admin/v1`).
 */
export function normalizeBaseUrl(raw: string, what = 'URL'): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw usageError(`${what} is not a valid URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`${what} must use http or https: ${JSON.stringify(raw)}`);
  }
  if (url.username || url.password) throw usageError(`${what} must not contain credentials`);
  if (url.search || url.hash) throw usageError(`${what} must not have a query or fragment`);
  let path = url.pathname.replace(/\/+$/, '');
  if (path.endsWith(ADMIN_PREFIX)) path = path.slice(0, -ADMIN_PREFIX.length);
  return `${url.protocol}//${url.host}${path}`;
}

export function isLoopbackUrl(baseUrl: string): boolean {
  const host = new URL(baseUrl).hostname;
  return host === 'localhost' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

export async function readConfigFile(path: string, mustExist: boolean): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!mustExist && (err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError('config', `cannot read config file ${path}: ${(err as Error).message}`, EXIT_USAGE);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError('config', `config file ${path} is not valid JSON`, EXIT_USAGE);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliError('config', `config file ${path} must hold a JSON object`, EXIT_USAGE);
  }
  const config = parsed as ConfigFile;
  for (const field of ['url', 'token'] as const) {
    if (config[field] !== undefined && typeof config[field] !== 'string') {
      throw new CliError('config', `config file ${path}: "${field}" must be a string`, EXIT_USAGE);
    }
  }
  return config;
}

/**
 * Writes the config file with mode 0600 (creating its directory with mode 0700), through a
 * temporary file and a rename so that a crash never leaves a half-written file.
 */
export async function writeConfigFile(path: string, config: ConfigFile): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(config, null, 2)}\n`, 'utf8');
    await handle.chmod(0o600); // in case the umask was stricter than asked or the fs ignores it
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await chmod(path, 0o600);
}

async function readOperatorToken(dataDir: string): Promise<string | undefined> {
  try {
    return nonEmpty((await readFile(join(dataDir, OPERATOR_TOKEN_FILE), 'utf8')).trim());
  } catch {
    return undefined;
  }
}

/** Resolves URL and token: flag > env > config file > (token only) local operator token file. */
export async function resolveSettings(flags: GlobalFlags, env: Env, cwd: string): Promise<Settings> {
  const configPath = nonEmpty(flags.config) ? resolve(cwd, flags.config as string) : defaultConfigPath(env);
  const config = (await readConfigFile(configPath, nonEmpty(flags.config) !== undefined)) ?? {};
  const dataDir = resolveDataDir(flags.dataDir, env, cwd);

  let rawUrl: string;
  let urlSource: Source;
  if (nonEmpty(flags.url)) [rawUrl, urlSource] = [flags.url as string, 'flag'];
  else if (nonEmpty(env.PLEXMCP_URL)) [rawUrl, urlSource] = [env.PLEXMCP_URL as string, 'env'];
  else if (nonEmpty(config.url)) [rawUrl, urlSource] = [config.url as string, 'config'];
  else [rawUrl, urlSource] = [DEFAULT_URL, 'default'];
  const what = { flag: '--url', env: 'PLEXMCP_URL', config: `"url" in ${configPath}` }[urlSource as string] ?? 'URL';
  const baseUrl = normalizeBaseUrl(rawUrl, what);

  const tokenNotes: string[] = [];
  let token: string | undefined;
  let tokenSource: Source | undefined;
  if (nonEmpty(flags.token)) [token, tokenSource] = [flags.token, 'flag'];
  else if (nonEmpty(env.PLEXMCP_TOKEN)) [token, tokenSource] = [env.PLEXMCP_TOKEN, 'env'];
  else if (nonEmpty(config.token)) {
    // A saved token belongs to the URL it was saved with: never send it to another server.
    const savedFor = config.url ? safeNormalize(config.url) : undefined;
    if (savedFor === undefined || savedFor === baseUrl) [token, tokenSource] = [config.token, 'config'];
    else tokenNotes.push(`the token in ${configPath} is for ${savedFor}, not ${baseUrl}`);
  }
  if (token === undefined) {
    if (isLoopbackUrl(baseUrl)) {
      token = await readOperatorToken(dataDir);
      if (token !== undefined) tokenSource = 'operator-token-file';
      else tokenNotes.push(`no operator token file at ${join(dataDir, OPERATOR_TOKEN_FILE)}`);
    }
  }
  return { baseUrl, apiUrl: baseUrl + ADMIN_PREFIX, urlSource, token, tokenSource, configPath, dataDir, tokenNotes };
}

function safeNormalize(raw: string): string | undefined {
  try {
    return normalizeBaseUrl(raw);
  } catch {
    return undefined;
  }
}

export function nonEmpty(value: string | undefined | null): string | undefined {
  return value === undefined || value === null || value.trim() === '' ? undefined : value;
}
