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

/** `slug:pattern` for key tool rules; the pattern may itself contain `:`. `*` as slug means every MCP. */
export function parseToolRule(value: string, flag: string): { slug: string; pattern: string } {
  const i = value.indexOf(':');
  if (i <= 0 || i === value.length - 1) {
    throw usageError(`${flag} ${JSON.stringify(value)}: expected <mcp-slug>:<tool-pattern>, e.g. github:search_*`);
  }
  return { slug: value.slice(0, i), pattern: value.slice(i + 1) };
}

/** Reads all of stdin and removes one trailing newline. */
export async function readAllStdin(stdin: AsyncIterable<string | Uint8Array>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
