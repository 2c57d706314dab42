/**
 * Shaping upstream answers to what an API key may use: every list answer (`tools/list`,
 * `resources/list`, `resources/templates/list`, `prompts/list`) loses the entries the key's
 * `Access` refuses, in a JSON response body or in a Server-Sent Events stream, and on event
 * streams a `notifications/resources/updated` about a URI the key may not read is dropped.
 *
 * Responses are recognised by id. `ListRequests` maps the ids of the client's list requests, as
 * `idKey(id)` (`JSON.stringify`), to their method, so the number `1` ("1") and the string `"1"`
 * ("\"1\"") are different requests, as they are in JSON-RPC. On a stream whose requests the
 * gateway did not see (a GET, which may replay earlier answers after `Last-Event-ID`), pass
 * `'every'`: every response there whose result carries one of the four lists is filtered.
 *
 * A filtered message keeps every byte of its source except what is removed: arrays are spliced,
 * not re-serialized, so ids and numbers that a JavaScript number cannot hold exactly (64-bit
 * integers in a schema, say) reach the client as the upstream wrote them.
 *
 * Entries are matched on `name` (tools, prompts), `uri` (resources) and `uriTemplate` (resource
 * templates: a template is kept only when the template string itself is allowed by the resource
 * policy — a template can expand to URIs the key may not read, and the gateway cannot tell which
 * expansions a pattern would allow, so it fails closed). An entry without a string in that member
 * is removed. A 2026-07-28 list result that says `"cacheScope":"public"` is marked `"private"`
 * once a policy applies to it: what it holds now depends on the key.
 */
import type { Access } from './feature-policy';
import {
  endOfJsonValue,
  findDuplicateKey,
  idKey,
  jsonArrayElements,
  jsonObjectMembers,
  skipJsonWhitespace,
  type InspectedMessage,
  type JsonMember,
  type JsonSpan,
} from './jsonrpc';

/** Request ids (`idKey`) to their methods, or `'every'` for a stream whose requests are unknown. */
export type ListRequests = ReadonlyMap<string, string> | 'every';

/** The method recorded for an id that several list requests of one body share: all lists are filtered. */
export const ANY_LIST_METHOD = '*';

/** The default cap on one SSE event that the filter holds: 4 MiB. */
export const DEFAULT_MAX_SSE_EVENT_BYTES = 4 * 1024 * 1024;

export interface ListSseFilterOptions {
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

interface ListField {
  /** The member of `result` that holds the list. */
  readonly list: string;
  /** The member of each entry that the policy is asked about. */
  readonly key: string;
  readonly feature: 'tools' | 'resources' | 'prompts';
}

const TOOLS: ListField = { list: 'tools', key: 'name', feature: 'tools' };
const RESOURCES: ListField = { list: 'resources', key: 'uri', feature: 'resources' };
const TEMPLATES: ListField = { list: 'resourceTemplates', key: 'uriTemplate', feature: 'resources' };
const PROMPTS: ListField = { list: 'prompts', key: 'name', feature: 'prompts' };
const ALL_LISTS: readonly ListField[] = [TOOLS, RESOURCES, TEMPLATES, PROMPTS];

const LIST_METHODS: ReadonlyMap<string, readonly ListField[]> = new Map([
  ['tools/list', [TOOLS]],
  ['resources/list', [RESOURCES]],
  ['resources/templates/list', [TEMPLATES]],
  ['prompts/list', [PROMPTS]],
  [ANY_LIST_METHOD, ALL_LISTS],
]);

/** Whether `method` is one whose answers this module filters. */
export function isListMethod(method: string | undefined): boolean {
  return method !== undefined && method !== ANY_LIST_METHOD && LIST_METHODS.has(method);
}

/**
 * The list requests among `messages` (a POST body's messages), by `idKey`. An id that several of
 * them share (JSON-RPC says it must not happen; a client may try) maps to `ANY_LIST_METHOD`, so
 * that every answer with that id is filtered on every list.
 */
export function listRequestsOf(messages: readonly InspectedMessage[]): Map<string, string> {
  const requests = new Map<string, string>();
  for (const message of messages) {
    if (message.kind !== 'request' || message.id === undefined || !isListMethod(message.method)) continue;
    const key = idKey(message.id);
    const seen = requests.get(key);
    requests.set(key, seen === undefined || seen === message.method ? message.method! : ANY_LIST_METHOD);
  }
  return requests;
}

function fieldsFor(requests: ListRequests, key: string): readonly ListField[] {
  if (requests === 'every') return ALL_LISTS;
  const method = requests.get(key);
  return method === undefined ? [] : (LIST_METHODS.get(method) ?? []);
}

/** Whether any list answer to `requests` can lose an entry under `access`. */
export function listFilterNeeded(requests: ListRequests, access: Access): boolean {
  const { restricts } = access;
  if (requests === 'every') return restricts.tools || restricts.resources || restricts.prompts;
  for (const method of requests.values()) {
    if ((LIST_METHODS.get(method) ?? []).some((field) => restricts[field.feature])) return true;
  }
  return false;
}

/**
 * What the answer-shaping phase needs for one request. `messages` is the POST body's messages, or
 * `'every'` for a GET stream. `json`: run `filterListJson` on a JSON answer; `sse`: pipe an event
 * stream through `listSseFilter`. `notifications/resources/updated` is filtered where servers send
 * it: on GET streams and on the streams of POSTs that subscribe (`resources/subscribe`,
 * `subscriptions/listen`); other POST streams are not held event by event for it.
 */
export interface AnswerShaping {
  readonly requests: ListRequests;
  readonly json: boolean;
  readonly sse: boolean;
}

const UNSHAPED: AnswerShaping = { requests: new Map(), json: false, sse: false };
const UNSHAPED_STREAM: AnswerShaping = { requests: 'every', json: false, sse: false };

export function answerShaping(messages: readonly InspectedMessage[] | 'every', access: Access): AnswerShaping {
  // Nothing restricted (the usual key): no answer can lose anything.
  if (!access.restricts.tools && !access.restricts.resources && !access.restricts.prompts) return messages === 'every' ? UNSHAPED_STREAM : UNSHAPED;
  const requests = messages === 'every' ? 'every' : listRequestsOf(messages);
  const lists = listFilterNeeded(requests, access);
  const subscribes =
    messages === 'every' || messages.some((m) => m.method === 'resources/subscribe' || m.method === 'subscriptions/listen');
  return { requests, json: lists, sse: lists || (access.restricts.resources && subscribes) };
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const get = (o: JsonObject, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

const UPDATED = 'notifications/resources/updated';

/** Which entries of one list to keep. */
interface ListEdit {
  readonly field: ListField;
  readonly keep: boolean[];
}

/** The changes to one message of the body. */
interface MessageEdit {
  readonly index: number;
  readonly lists: ListEdit[];
  readonly privateScope: boolean;
}

interface Plan {
  readonly edits: MessageEdit[];
  /** Indexes of messages to remove (denied resource update notifications). */
  readonly drops: Set<number>;
}

function planMessage(message: unknown, index: number, requests: ListRequests, access: Access, notifications: boolean, plan: Plan): void {
  if (!isObject(message)) return;
  if (notifications && get(message, 'method') === UPDATED) {
    const params = get(message, 'params');
    const uri = isObject(params) ? get(params, 'uri') : undefined;
    if (typeof uri !== 'string' || !access.resource(uri)) plan.drops.add(index);
    return;
  }
  if (!Object.hasOwn(message, 'id')) return;
  const result = get(message, 'result');
  if (!isObject(result)) return;
  const lists: ListEdit[] = [];
  let applies = false;
  for (const field of fieldsFor(requests, JSON.stringify(message.id))) {
    if (!access.restricts[field.feature]) continue;
    const entries = get(result, field.list);
    if (!Array.isArray(entries)) continue;
    applies = true;
    const allowed =
      field.feature === 'tools'
        ? (value: string) => access.tool(value)
        : field.feature === 'prompts'
          ? (value: string) => access.prompt(value)
          : (value: string) => access.resource(value);
    let removed = false;
    const keep = entries.map((entry) => {
      const value = isObject(entry) ? get(entry, field.key) : undefined;
      const ok = typeof value === 'string' && allowed(value);
      if (!ok) removed = true;
      return ok;
    });
    if (removed) lists.push({ field, keep });
  }
  const privateScope = applies && get(result, 'cacheScope') === 'public';
  if (lists.length > 0 || privateScope) plan.edits.push({ index, lists, privateScope });
}

/** The outcome for one JSON text: unchanged, replaced, or (SSE only) to be dropped whole. */
type Outcome = { readonly text: string } | 'drop' | undefined;

/**
 * Parses `text` (one message or a batch) and decides. Texts that are not JSON come back
 * unchanged. With `notifications`, denied resource update notifications are removed (a batch
 * left empty, or a single such message, gives 'drop').
 */
function filterJsonText(text: string, requests: ListRequests, access: Access, notifications: boolean): Outcome {
  const lists = requests === 'every' || requests.size > 0;
  if (!lists && !notifications) return undefined;
  // Without a backslash the method can only be spelled literally: a text that does not contain
  // it holds no update notification, and (no list being asked for) nothing else to change.
  if (!lists && !text.includes('\\') && !text.includes(UPDATED)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const batch = Array.isArray(parsed);
  const messages: unknown[] = batch ? (parsed as unknown[]) : [parsed];
  const plan: Plan = { edits: [], drops: new Set() };
  messages.forEach((message, index) => planMessage(message, index, requests, access, notifications, plan));
  if (plan.drops.size > 0 && plan.drops.size === messages.length) return 'drop';
  // Parsers differ on which copy of a duplicated key wins (`"id"`, `"result"`, `"tools"`,
  // `"method"`): a client keeping the first could see entries, or an id, that the last copy hides
  // from this filter. Such a text is re-serialized, which leaves one copy of each key: the one
  // filtered here.
  const duplicated = findDuplicateKey(text) !== undefined;
  if (plan.edits.length === 0 && plan.drops.size === 0 && !duplicated) return undefined;

  // What the answer must mean: the parsed messages with the refused entries removed.
  for (const { index, lists: listEdits, privateScope } of plan.edits) {
    const result = (messages[index] as JsonObject).result as JsonObject;
    for (const { field, keep } of listEdits) result[field.list] = (result[field.list] as unknown[]).filter((_, k) => keep[k]);
    if (privateScope) result.cacheScope = 'private';
  }
  const meant = batch ? messages.filter((_, index) => !plan.drops.has(index)) : parsed;
  const expected = JSON.stringify(meant);
  if (duplicated) return { text: expected };
  try {
    const spliced = splice(text, batch, messages.length, plan);
    // Belt and braces: the splice must mean exactly the filtered value, or it is not used.
    if (JSON.stringify(JSON.parse(spliced)) === expected) return { text: spliced };
  } catch {
    // fall through to the re-serialized value
  }
  return { text: expected };
}

function lastMember(members: JsonMember[], key: string): JsonMember {
  for (let k = members.length - 1; k >= 0; k--) if (members[k].key === key) return members[k];
  throw new Error(`no ${key}`);
}

/** The source of the message at `span` with its edits applied. */
function editedMessage(text: string, span: JsonSpan, edit: MessageEdit | undefined): string {
  if (!edit) return text.slice(span.start, span.end);
  const result = lastMember(jsonObjectMembers(text, span.start), 'result');
  const members = jsonObjectMembers(text, result.start);
  const replacements: { start: number; end: number; text: string }[] = [];
  for (const { field, keep } of edit.lists) {
    const list = lastMember(members, field.list);
    const elements = jsonArrayElements(text, list.start);
    if (elements.length !== keep.length) throw new Error('entry count mismatch');
    replacements.push({ start: list.start, end: list.end, text: rebuildArray(text, list, elements, (k) => (keep[k] ? text.slice(elements[k].start, elements[k].end) : undefined)) });
  }
  if (edit.privateScope) {
    const scope = lastMember(members, 'cacheScope');
    replacements.push({ start: scope.start, end: scope.end, text: '"private"' });
  }
  replacements.sort((a, b) => a.start - b.start);
  let out = '';
  let copied = span.start;
  for (const r of replacements) {
    out += text.slice(copied, r.start) + r.text;
    copied = r.end;
  }
  return out + text.slice(copied, span.end);
}

/** `text` with the plan applied: lists spliced inside their messages, dropped messages cut out. */
function splice(text: string, batch: boolean, count: number, plan: Plan): string {
  const top = skipJsonWhitespace(text, 0);
  const spans: JsonSpan[] = batch ? jsonArrayElements(text, top) : [{ start: top, end: endOfJsonValue(text, top) }];
  if (spans.length !== count) throw new Error('message count mismatch');
  const edits = new Map(plan.edits.map((edit) => [edit.index, edit]));
  if (!batch) return text.slice(0, top) + editedMessage(text, spans[0], edits.get(0)) + text.slice(spans[0].end);
  const array = { start: top, end: endOfJsonValue(text, top) };
  const rebuilt = rebuildArray(text, array, spans, (k) => (plan.drops.has(k) ? undefined : editedMessage(text, spans[k], edits.get(k))));
  return text.slice(0, array.start) + rebuilt + text.slice(array.end);
}

/**
 * The array at `array` with each element replaced by `render(index)` or left out where that is
 * undefined, keeping the source's layout (whitespace, separators) around the kept elements.
 */
function rebuildArray(text: string, array: JsonSpan, elements: JsonSpan[], render: (index: number) => string | undefined): string {
  const kept: [number, string][] = [];
  elements.forEach((_, index) => {
    const value = render(index);
    if (value !== undefined) kept.push([index, value]);
  });
  if (kept.length === 0) return '[]';
  let out = text.slice(array.start, elements[0].start);
  kept.forEach(([index, value], n) => {
    if (n > 0) out += text.slice(elements[index - 1].end, elements[index].start);
    out += value;
  });
  return out + text.slice(elements[elements.length - 1].end, array.end);
}

/**
 * Removes the entries that `access` refuses from every list answer in the JSON `body` (one
 * message or a batch) whose id `requests` names as a list request. Anything else, and a body that
 * is not JSON, comes back unchanged; the one exception is a body with a duplicated object key,
 * which comes back re-serialized while any request is pending. Notifications are not looked at:
 * a JSON answer carries the responses to the POST's requests, and servers send notifications on
 * event streams.
 */
export function filterListJson(body: string, requests: ListRequests, access: Access): string {
  const outcome = filterJsonText(body, requests, access, false);
  return outcome === undefined || outcome === 'drop' ? body : outcome.text;
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
 * A transform for a `text/event-stream` body that filters the data of every event: list answers
 * as `filterListJson` does, and, while a resource policy applies, `notifications/resources/updated`
 * messages whose `params.uri` the key may not read (or that have none) are removed — an event
 * left without data keeps its other lines (an `id:` still moves the client's Last-Event-ID on;
 * an event without data is not dispatched) or disappears when it has none.
 *
 * An event that needs no change is passed on byte for byte as soon as its blank line arrives; one
 * that does is re-serialized with its other lines (`id:`, `event:`, `retry:`, comments) kept in
 * order and its line endings kept. Only the current event is ever held, up to `maxEventBytes`; a
 * longer one errors the stream with `SseEventTooLargeError`. A last event with no blank line after
 * it is passed on when the stream ends, without a blank line (a conforming client drops it) and as
 * it is, unless it is one to filter: some clients dispatch it.
 *
 * Lines end with CRLF, LF or CR. An event ends with the terminator of its blank line; when that
 * is a CR, an LF right after it is passed on by itself (it completes the CRLF), so where the
 * input is split into chunks never changes the output.
 */
export function listSseFilter(requests: ListRequests, access: Access, options: ListSseFilterOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_SSE_EVENT_BYTES;
  if (!(maxEventBytes > 0)) throw new RangeError('maxEventBytes must be positive');
  const notifications = access.restricts.resources;
  const active = notifications || listFilterNeeded(requests, access);
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
  const NOTHING = new Uint8Array(0);

  /**
   * The bytes to send for one event: `raw` itself unless its data needs filtering. A complete
   * event ends with its blank line's terminator; an incomplete one (at the end of the stream) is
   * filtered all the same, because some clients dispatch it, and stays incomplete.
   */
  function render(raw: Uint8Array, complete: boolean): Uint8Array {
    const first = streamStart;
    streamStart = false;
    if (!active) return raw;
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
    const outcome = filterJsonText(data.join('\n'), requests, access, notifications);
    if (outcome === undefined) return raw;

    // The data lines are replaced where the first of them was (or removed); every other line stays.
    const eol = /\r\n|\r|\n/.exec(text)?.[0] ?? '\n';
    const firstData = isData.indexOf(true);
    const out: string[] = [];
    lines.forEach((line, index) => {
      if (index === firstData && outcome !== 'drop') for (const value of outcome.text.split(/\r\n|\r|\n/)) out.push(`data: ${value}`);
      else if (!isData[index]) out.push(line);
    });
    if (out.length === 0) return bom ? encoder.encode('\uFEFF') : NOTHING;
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
        const rendered = render(raw, true);
        if (rendered.length > 0) out.push(rendered);
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
      if (heldBytes > 0) {
        const rendered = render(takeHeld(), false);
        if (rendered.length > 0) controller.enqueue(rendered);
      }
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
