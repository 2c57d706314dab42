/**
 * Parsers for option values. They throw commander's InvalidArgumentError (reported as a usage
 * error by commander) or our own usage errors.
 */
import { InvalidArgumentError } from 'commander';
import { usageError } from './errors';

/** A commander parser for a whole number in [min, max]. */
export function intParser(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('Expected a whole number.');
    const n = Number(value.trim());
    if (n < min || n > max) throw new InvalidArgumentError(`Expected a number from ${min} to ${max}.`);
    return n;
  };
}

/** A commander parser that only accepts one of `choices` (commander's `.choices()` does the same for plain options). */
export function choiceParser<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value: string) => {
    if (!(choices as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`Allowed choices are ${choices.join(', ')}.`);
    }
    return value as T;
  };
}

export interface EndpointInput {
  url: string;
  weight?: number;
}

/**
 * `url[=weight]`. The weight is whatever follows the last `=` when that is a whole number, so a
 * URL whose query ends in `=<digits>` needs an explicit weight: `http://h/mcp?v=2=1`.
 */
export function parseEndpoint(value: string): EndpointInput {
  const m = /^(.+)=(\d+)$/.exec(value.trim());
  const url = m ? m[1] : value.trim();
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`--endpoint ${JSON.stringify(value)}: not a valid URL (expected url[=weight])`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw usageError(`--endpoint ${JSON.stringify(value)}: the URL must use http or https`);
  }
  return m ? { url, weight: Number(m[2]) } : { url };
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `--expires`: an ISO 8601 date or date-time (`2027-01-31`, `2027-01-31T12:00:00Z`) or a duration
 * from now (`90m`, `12h`, `30d`, `8w`). Returns an ISO string in the future.
 */
export function parseExpires(value: string, now: Date): string {
  const v = value.trim();
  const rel = /^(\d+)\s*([mhdw])$/i.exec(v);
  let at: number;
  if (rel) {
    at = now.getTime() + Number(rel[1]) * UNIT_MS[rel[2].toLowerCase()];
  } else if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/i.test(v)) {
    at = Date.parse(v);
  } else {
    at = Number.NaN;
  }
  if (!Number.isFinite(at)) {
    throw usageError(`--expires ${JSON.stringify(value)}: expected an ISO date (2027-01-31) or a duration (30d, 12h, 90m, 8w)`);
  }
  if (at <= now.getTime()) throw usageError(`--expires ${JSON.stringify(value)} is not in the future`);
  return new Date(at).toISOString();
}

export type ScopeFeature = 'tool' | 'resource' | 'prompt';

const RULE_EXAMPLES: Record<ScopeFeature, string> = {
  tool: '<mcp-slug>:<tool-pattern>, e.g. github:search_*',
  resource: '<mcp-slug>:<uri-pattern>, e.g. docs:file:///docs/*',
  prompt: '<mcp-slug>:<prompt-pattern>, e.g. github:summarize*',
};

/**
 * `slug:pattern` for key scope rules, split at the FIRST colon: the pattern may itself contain
 * `:` (resource URIs always do). `*` as slug means every MCP.
 */
export function parseScopeRule(value: string, flag: string, feature: ScopeFeature = 'tool'): { slug: string; pattern: string } {
  const i = value.indexOf(':');
  if (i <= 0 || i === value.length - 1) {
    throw usageError(`${flag} ${JSON.stringify(value)}: expected ${RULE_EXAMPLES[feature]}`);
  }
  const slug = value.slice(0, i);
  const pattern = value.slice(i + 1);
  // `file:///docs/*` alone would read as MCP "file" with pattern "///docs/*": almost surely a
  // forgotten slug, so say so instead of scoping a key to an MCP that is not meant.
  if (feature === 'resource' && pattern.startsWith('//')) {
    throw usageError(`${flag} ${JSON.stringify(value)}: starts with a URI, not an MCP slug; expected ${RULE_EXAMPLES.resource} (or *:<uri-pattern> for every MCP)`);
  }
  return { slug, pattern };
}

/**
 * `--plan-override name=value`: a plan limit (one of `names`) and a positive whole number, or
 * `default` to drop the override of that limit. Returns null for `default`.
 */
export function parsePlanOverride(value: string, names: readonly string[]): { name: string; value: number | null } {
  const m = /^([A-Za-z]+)=(\d+|default)$/.exec(value.trim());
  if (!m) throw usageError(`--plan-override ${JSON.stringify(value)}: expected <limit>=<number> or <limit>=default, e.g. maxApiKeys=50`);
  const name = m[1]!;
  if (!names.includes(name)) throw usageError(`--plan-override ${JSON.stringify(value)}: unknown limit ${JSON.stringify(name)} (one of ${names.join(', ')})`);
  if (m[2] === 'default') return { name, value: null };
  const n = Number(m[2]);
  if (n < 1 || !Number.isSafeInteger(n)) throw usageError(`--plan-override ${JSON.stringify(value)}: the value must be a whole number of at least 1`);
  return { name, value: n };
}

/** Reads all of stdin and removes one trailing newline. */
export async function readAllStdin(stdin: AsyncIterable<string | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
