/**
 * Filtering `tools/list` results so that a client only sees the tools its API key may call, in a
 * JSON response body or in a Server-Sent Events stream.
 *
 * Responses are recognised by id. `requestIds` holds the ids of the client's `tools/list`
 * requests as `JSON.stringify(id)` (see `idKey` in jsonrpc.ts), so the number `1` ("1") and the
 * string `"1"` ("\"1\"") are different requests, as they are in JSON-RPC.
 *
 * A filtered message keeps every byte of its source except the removed tools: the tools array is
 * spliced, not re-serialized, so ids and numbers that a JavaScript number cannot hold exactly
 * (64-bit integers in a schema, say) reach the client as the upstream wrote them.
 */
import {
  endOfJsonValue,
  findDuplicateKey,
  jsonArrayElements,
  jsonObjectMembers,
  skipJsonWhitespace,
  type JsonMember,
  type JsonSpan,
} from './jsonrpc';

export type ToolNamePredicate = (toolName: string) => boolean;

/** A set of request ids that holds every id. */
class EveryId extends Set<string> {
  override has(): boolean {
    return true;
  }
}

/**
 * Stands for every request id: for a stream whose requests the gateway did not see, such as a
 * GET that resumes a POST's stream with `Last-Event-ID` (the replay can hold a `tools/list`
 * answer). Every response on it whose `result.tools` is an array is then filtered.
 */
export const EVERY_REQUEST_ID: ReadonlySet<string> = new EveryId(['*']);

/** The default cap on one SSE event: 4 MiB. */
export const DEFAULT_MAX_SSE_EVENT_BYTES = 4 * 1024 * 1024;

export interface ToolsListSseFilterOptions {
  /** Largest event (bytes, line endings included) the filter holds; beyond it the stream errors. */
  readonly maxEventBytes?: number;
}

/** The error an SSE filter fails with when one event outgrows the cap. */
export class SseEventTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`An event in the upstream's event stream exceeds ${limit} bytes`);
    this.name = 'SseEventTooLargeError';
  }
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const get = (o: JsonObject, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

/**
 * Removes the tools that `allowed` refuses from every response in `body` (one message or a batch)
 * whose id is in `requestIds` and whose `result.tools` is an array. A tool without a string `name`
 * is removed too (it cannot be shown to be allowed). Anything else, and a body that is not JSON,
 * comes back unchanged; the one exception is a body with a duplicated object key, which comes
 * back re-serialized (see below) while any request id is pending.
 */
export function filterToolsListJson(body: string, requestIds: ReadonlySet<string>, allowed: ToolNamePredicate): string {
  return filterJsonText(body, requestIds, allowed) ?? body;
}

/** Which tools of `message` to keep, or undefined when the message needs no change. */
function toolsToKeep(message: unknown, requestIds: ReadonlySet<string>, allowed: ToolNamePredicate): boolean[] | undefined {
  if (!isObject(message) || !Object.hasOwn(message, 'id')) return undefined;
  if (!requestIds.has(JSON.stringify(message.id))) return undefined;
  const result = get(message, 'result');
  if (!isObject(result)) return undefined;
  const tools = get(result, 'tools');
  if (!Array.isArray(tools)) return undefined;
  const keep = tools.map((tool) => {
    if (!isObject(tool)) return false;
    const name = get(tool, 'name');
    return typeof name === 'string' && allowed(name);
  });
  return keep.every(Boolean) ? undefined : keep;
}

interface Edit {
  readonly index: number;
  readonly keep: boolean[];
}

/** The filtered text, or undefined when nothing changes (including when `text` is not JSON). */
function filterJsonText(text: string, requestIds: ReadonlySet<string>, allowed: ToolNamePredicate): string | undefined {
  if (requestIds.size === 0) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const batch = Array.isArray(parsed);
  const messages: unknown[] = batch ? (parsed as unknown[]) : [parsed];
  const edits: Edit[] = [];
  messages.forEach((message, index) => {
    const keep = toolsToKeep(message, requestIds, allowed);
    if (keep) edits.push({ index, keep });
  });
  // Parsers differ on which copy of a duplicated key wins (`"id"`, `"result"`, `"tools"`): a
  // client keeping the first could see tools, or an id, that the last copy hides from this filter.
  // Such a body is re-serialized, which leaves one copy of each key: the one filtered here.
  const duplicated = findDuplicateKey(text) !== undefined;
  if (edits.length === 0 && !duplicated) return undefined;

  // What the answer must mean: the parsed messages with the refused tools removed.
  for (const { index, keep } of edits) {
    const result = (messages[index] as JsonObject).result as JsonObject;
    result.tools = (result.tools as unknown[]).filter((_, k) => keep[k]);
  }
  const expected = JSON.stringify(parsed);
  if (duplicated) return expected;
  try {
    const spliced = spliceTools(text, batch, messages.length, edits);
    // Belt and braces: the splice must mean exactly the filtered value, or it is not used.
    if (JSON.stringify(JSON.parse(spliced)) === expected) return spliced;
  } catch {
    // fall through to the re-serialized value
  }
  return expected;
}

function lastMember(members: JsonMember[], key: string): JsonMember {
  for (let k = members.length - 1; k >= 0; k--) if (members[k].key === key) return members[k];
  throw new Error(`no ${key}`);
}

/** `text` with the refused elements cut out of each edited message's `result.tools` array. */
function spliceTools(text: string, batch: boolean, count: number, edits: readonly Edit[]): string {
  const top = skipJsonWhitespace(text, 0);
  const spans: JsonSpan[] = batch ? jsonArrayElements(text, top) : [{ start: top, end: endOfJsonValue(text, top) }];
  if (spans.length !== count) throw new Error('message count mismatch');
  const pieces: string[] = [];
  let copied = 0;
  for (const { index, keep } of edits) {
    // JSON.parse keeps the last of duplicated keys, and so does this.
    const result = lastMember(jsonObjectMembers(text, spans[index].start), 'result');
    const tools = lastMember(jsonObjectMembers(text, result.start), 'tools');
    const elements = jsonArrayElements(text, tools.start);
    if (elements.length !== keep.length) throw new Error('tool count mismatch');
    pieces.push(text.slice(copied, tools.start), rebuildArray(text, tools, elements, keep));
    copied = tools.end;
  }
  pieces.push(text.slice(copied));
  return pieces.join('');
}

/** The array at `array` with only the kept elements, keeping the source's layout around them. */
function rebuildArray(text: string, array: JsonSpan, elements: JsonSpan[], keep: boolean[]): string {
  const kept: number[] = [];
  keep.forEach((k, index) => k && kept.push(index));
  if (kept.length === 0) return '[]';
  let out = text.slice(array.start, elements[0].start);
  kept.forEach((index, n) => {
    if (n > 0) out += text.slice(elements[index - 1].end, elements[index].start);
    out += text.slice(elements[index].start, elements[index].end);
  });
  return out + text.slice(elements[elements.length - 1].end, array.end);
}

const LF = 0x0a;
const CR = 0x0d;

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * A transform for a `text/event-stream` body that applies `filterToolsListJson` to the data of
 * every event. An event that needs no change is passed on byte for byte as soon as its blank line
 * arrives; one that does is re-serialized with its other lines (`id:`, `event:`, `retry:`,
 * comments) kept in order and its line endings kept. Only the current event is ever held, up to
 * `maxEventBytes`; a longer one errors the stream with `SseEventTooLargeError`. A last event with
 * no blank line after it is passed on when the stream ends, without a blank line (a conforming
 * client drops it) and as it is, unless it is a response to filter: some clients dispatch it.
 *
 * Lines end with CRLF, LF or CR. An event ends with the terminator of its blank line; when that
 * is a CR, an LF right after it is passed on by itself (it completes the CRLF), so where the
 * input is split into chunks never changes the output.
 */
export function toolsListSseFilter(
  requestIds: ReadonlySet<string>,
  allowed: ToolNamePredicate,
  options: ToolsListSseFilterOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_SSE_EVENT_BYTES;
  if (!(maxEventBytes > 0)) throw new RangeError('maxEventBytes must be positive');
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  const encoder = new TextEncoder();

  // The current event's bytes from earlier chunks, copied into one buffer that grows by doubling
  // up to the cap: however small the chunks, holding an event costs at most twice the cap.
  let held = new Uint8Array(0);
  let heldBytes = 0;
  function hold(part: Uint8Array): void {
    const needed = heldBytes + part.length;
    if (needed > held.length) {
      const grown = new Uint8Array(Math.max(needed, Math.min(maxEventBytes, Math.max(1024, held.length * 2))));
      grown.set(held.subarray(0, heldBytes));
      held = grown;
    }
    held.set(part, heldBytes);
    heldBytes = needed;
  }
  /** The held bytes, handed over (the buffer is not reused). */
  function takeHeld(): Uint8Array {
    const taken = held.subarray(0, heldBytes);
    held = new Uint8Array(0);
    heldBytes = 0;
    return taken;
  }
  let lineHasContent = false;
  /** What the last byte seen was: a CR ending a line in an event, a CR ending an event, or other. */
  let afterCr: 'none' | 'line' | 'event' = 'none';
  let streamStart = true;

  /**
   * The bytes to send for one event: `raw` itself unless its data is a response to filter. A
   * complete event ends with its blank line's terminator; an incomplete one (at the end of the
   * stream) is filtered all the same, because some clients dispatch it, and stays incomplete.
   */
  function render(raw: Uint8Array, complete: boolean): Uint8Array {
    const first = streamStart;
    streamStart = false;
    if (requestIds.size === 0) return raw;
    let text = decoder.decode(raw);
    const bom = first && text.startsWith('\uFEFF');
    if (bom) text = text.slice(1);
    const pieces = text.split(/\r\n|\r|\n/);
    // A complete event ends with a blank line and its terminator: the last two pieces are empty.
    // An incomplete one ends with a terminated line (last piece empty) or in the middle of one.
    const terminated = pieces[pieces.length - 1] === '';
    const lines = pieces.slice(0, complete ? -2 : terminated ? -1 : undefined);
    const data: string[] = [];
    const isData = lines.map((line) => {
      const value = dataValue(line);
      if (value !== undefined) data.push(value);
      return value !== undefined;
    });
    if (data.length === 0) return raw;
    const filtered = filterJsonText(data.join('\n'), requestIds, allowed);
    if (filtered === undefined) return raw;

    // The data lines are replaced where the first of them was; every other line stays as it was.
    const eol = /\r\n|\r|\n/.exec(text)?.[0] ?? '\n';
    const firstData = isData.indexOf(true);
    const out: string[] = [];
    lines.forEach((line, index) => {
      if (index === firstData) for (const value of filtered.split(/\r\n|\r|\n/)) out.push(`data: ${value}`);
      else if (!isData[index]) out.push(line);
    });
    let serialized = out.join(eol);
    if (complete) serialized += eol + (raw[raw.length - 1] === CR ? '\r' : '\n');
    else if (terminated) serialized += eol;
    return encoder.encode(`${bom ? '\uFEFF' : ''}${serialized}`);
  }

  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      const out: Uint8Array[] = [];
      let start = 0; // where the current event begins in this chunk
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i];
        if (afterCr !== 'none') {
          const previous = afterCr;
          afterCr = 'none';
          if (byte === LF) {
            // The LF of a CRLF: part of the line just ended, or sent on its own after an event.
            if (previous === 'event') {
              out.push(chunk.subarray(i, i + 1));
              start = i + 1;
            }
            continue;
          }
        }
        if (byte !== LF && byte !== CR) {
          lineHasContent = true;
          continue;
        }
        if (lineHasContent) {
          lineHasContent = false;
          if (byte === CR) afterCr = 'line';
          continue;
        }
        // A blank line: the event is complete.
        const end = i + 1;
        if (heldBytes + end - start > maxEventBytes) throw new SseEventTooLargeError(maxEventBytes);
        let raw = chunk.subarray(start, end);
        if (heldBytes > 0) {
          hold(raw);
          raw = takeHeld();
        }
        out.push(render(raw, true));
        start = end;
        if (byte === CR) afterCr = 'event';
      }
      if (start < chunk.length) {
        if (heldBytes + chunk.length - start > maxEventBytes) throw new SseEventTooLargeError(maxEventBytes);
        hold(chunk.subarray(start));
      }
      if (out.length > 0) controller.enqueue(concat(out));
    },
    flush(controller) {
      if (heldBytes > 0) controller.enqueue(render(takeHeld(), false));
    },
  });
}

/** The value of a `data` field line (one leading space removed), or undefined for other lines. */
function dataValue(line: string): string | undefined {
  if (line.startsWith(':')) return undefined; // a comment
  const colon = line.indexOf(':');
  if ((colon < 0 ? line : line.slice(0, colon)) !== 'data') return undefined;
  const value = colon < 0 ? '' : line.slice(colon + 1);
  return value.startsWith(' ') ? value.slice(1) : value;
}
