/**
 * Resource and prompt policies end to end (issue #7, "Authorize every feature"): API keys and MCP
 * servers configured through the admin API, requests through the local gateway's `/mcp/{slug}`,
 * real MCP upstreams on loopback behind it:
 *
 * - an SDK-built upstream (stateless, once answering JSON and once SSE) that serves files the way
 *   a careless file server does: it resolves dot segments and percent-decodes the path, so a URI
 *   the gateway lets through that only *looks* public reads the secret (each such URI is shown to
 *   leak when sent to the upstream directly, so these tests fail if the gateway stops refusing);
 * - `server-everything` (stateful sessions, SSE answers with event ids) for the list filters.
 *
 * Refusals are checked as gateway errors (status, JSON-RPC body, code) and by what the upstream
 * received: a refused request must never reach it.
 */
import { posix } from 'node:path';
import { completable } from '@modelcontextprotocol/sdk/server/completable.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  ErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { GatewayErrorCode } from '../../lambda/core/gateway/errors';
import { call, expectGatewayError, openSession, PROTOCOL_VERSION, rpc, toolCall, type Answer, type RpcId } from './gateway-expect';
import { startTestGateway, type TestGateway } from './harness';
import { startEverything, startSdkUpstream, type SdkUpstream, type UpstreamProcess } from './upstreams';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// the upstream: a careless file server
// ---------------------------------------------------------------------------------------------

const SECRET_TEXT = 'TOP-SECRET-7f3a: the deploy keys';
const HIDDEN_TEXT = 'hidden-4b1c: not for agents';

/** The upstream's files by path. */
const FILES: Readonly<Record<string, string>> = {
  '/public/readme.txt': 'public readme',
  '/public/notes.txt': 'public notes',
  '/public/hidden.txt': HIDDEN_TEXT,
  '/secret/keys.txt': SECRET_TEXT,
};

const TEMPLATES = [
  { uriTemplate: 'file:///public/docs/{name}', name: 'public-docs' },
  { uriTemplate: 'file:///secret/{name}', name: 'secrets' },
  { uriTemplate: 'file:///{+path}', name: 'any-file' },
];

/**
 * Tools `count` and `delete-everything`; prompts `greeting` (with a completable argument),
 * `summary` and `admin-report`; the files above as resources, three resource templates, and
 * resource subscriptions. Reading resolves the URI the way a naive server does: `new URL` drops
 * dot segments, the path is percent-decoded and normalised again.
 */
function fileServer(server: McpServer): void {
  server.registerTool('count', { inputSchema: { to: z.number().int() } }, async ({ to }) => ({ content: [{ type: 'text', text: `counted to ${to}` }] }));
  server.registerTool('delete-everything', {}, async () => ({ content: [{ type: 'text', text: 'deleted' }] }));
  server.registerPrompt(
    'greeting',
    { argsSchema: { name: completable(z.string(), (value) => ['Alice', 'Albert', 'Bob'].filter((n) => n.startsWith(value))) } },
    ({ name }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Hello, ${name}` } }] }),
  );
  server.registerPrompt('summary', {}, () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'Summarise' } }] }));
  server.registerPrompt(
    'admin-report',
    { argsSchema: { scope: completable(z.string(), (value) => ['all-orgs', 'all-keys'].filter((n) => n.startsWith(value))) } },
    () => ({ messages: [{ role: 'user', content: { type: 'text', text: `report: ${SECRET_TEXT}` } }] }),
  );

  const low = server.server;
  low.registerCapabilities({ resources: { subscribe: true } });
  low.setRequestHandler(ListResourcesRequestSchema, async () => ({
    resources: Object.keys(FILES).map((path) => ({ uri: `file://${path}`, name: posix.basename(path), mimeType: 'text/plain' })),
  }));
  low.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({ resourceTemplates: TEMPLATES }));
  low.setRequestHandler(ReadResourceRequestSchema, async (request) => {
    const uri = request.params.uri;
    let path: string;
    try {
      path = posix.normalize(decodeURIComponent(new URL(uri).pathname));
    } catch {
      throw new McpError(ErrorCode.InvalidParams, 'Bad URI');
    }
    const text = FILES[path];
    if (text === undefined) throw new McpError(ErrorCode.InvalidParams, 'Resource not found');
    return { contents: [{ uri, mimeType: 'text/plain', text }] };
  });
  low.setRequestHandler(SubscribeRequestSchema, async () => ({}));
  low.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
}

// ---------------------------------------------------------------------------------------------
// set-up
// ---------------------------------------------------------------------------------------------

let gw: TestGateway;
let jsonUpstream: SdkUpstream;
let sseUpstream: SdkUpstream;
let everything: UpstreamProcess;

beforeAll(async () => {
  [gw, jsonUpstream, sseUpstream, everything] = await Promise.all([
    startTestGateway(),
    startSdkUpstream({ name: 'files-json', stateful: false, enableJsonResponse: true, setup: fileServer }),
    startSdkUpstream({ name: 'files-sse', stateful: false, enableJsonResponse: false, setup: fileServer }),
    startEverything(),
  ]);
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await Promise.all([jsonUpstream?.close(), sseUpstream?.close(), everything?.stop()]);
});

let counter = 0;
/** A slug no other test uses (1-63 lower-case letters, digits, inner hyphens). */
const uniqueSlug = (what: string) => `${what}-${process.pid.toString(36)}-${++counter}`;

interface Policies {
  readonly toolPolicy?: unknown;
  readonly resourcePolicy?: unknown;
  readonly promptPolicy?: unknown;
}

interface Provisioned {
  readonly orgId: string;
  readonly slug: string;
  /** Issues a member key of the org scoped to this MCP, with the given tool/resource/prompt scopes. */
  key(scopes?: { tools?: unknown; resources?: unknown; prompts?: unknown }): Promise<string>;
}

/** A new org with one MCP server at `upstreamUrl` carrying `policies`. */
async function provisionMcp(what: string, upstreamUrl: string, policies: Policies = {}): Promise<Provisioned> {
  const slug = uniqueSlug(what);
  const org = await gw.admin('POST', '/orgs', { name: `org ${slug}`, plan: 'pro', ipAllowlist: [] });
  await gw.admin('POST', `/orgs/${org.orgId}/mcps`, { slug, endpoints: [{ url: upstreamUrl }], ...policies });
  return {
    orgId: org.orgId,
    slug,
    async key(scopes = {}) {
      const issued = await gw.admin('POST', `/orgs/${org.orgId}/keys`, { name: 'agent', role: 'member', scopes: { mcps: [slug], ...scopes } });
      return issued.secret as string;
    },
  };
}

/** POSTs `body` to the MCP (stateless: the protocol version header, no session, unless given). */
function post(slug: string, key: string, body: unknown, session?: string): Promise<Answer> {
  return call(gw.mcpUrl(slug), key, body, session ? { session } : { headers: { 'mcp-protocol-version': PROTOCOL_VERSION } });
}

/** Sends `message` straight to the upstream, bypassing the gateway (to show what it would serve). */
function direct(upstream: SdkUpstream, message: unknown): Promise<Answer> {
  return call(upstream.url, undefined, message, { headers: { 'mcp-protocol-version': PROTOCOL_VERSION } });
}

/** The JSON-RPC messages the upstream received after request number `from`. */
function seenSince(upstream: SdkUpstream, from: number): Json[] {
  return upstream.requests
    .slice(from)
    .flatMap((seen) => (seen.body === undefined ? [] : Array.isArray(seen.body) ? seen.body : [seen.body])) as Json[];
}

/** The one response in a JSON or SSE answer (the SDK's SSE answers are `event: message` + one `data:` line). */
function responseOf(answer: Answer): Json {
  const type = answer.headers['content-type'] ?? '';
  if (type.startsWith('text/event-stream')) {
    const data = answer.text
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => JSON.parse(line.slice(5).trim()) as Json)
      .filter((m) => 'result' in m || 'error' in m);
    expect(data).toHaveLength(1);
    return data[0];
  }
  return JSON.parse(answer.text) as Json;
}

/** Things no refusal may carry: the upstream's address and the protected contents. */
const secretsOf = (upstream: { url: string; port: number }) => [upstream.url, `127.0.0.1:${upstream.port}`, SECRET_TEXT, HIDDEN_TEXT];

/** `message` through the gateway is refused with `code`, and the upstream receives nothing. */
async function expectRefused(upstream: SdkUpstream, slug: string, key: string, message: Json | Json[], code: GatewayErrorCode, id: RpcId = null): Promise<void> {
  const before = upstream.requests.length;
  const answer = await post(slug, key, message);
  expectGatewayError(answer, code, Array.isArray(message) ? null : (message.id ?? id), secretsOf(upstream));
  expect(seenSince(upstream, before)).toEqual([]);
}

/** `message` through the gateway is answered 200 with a result, and the upstream received it as sent. */
async function expectPassed(upstream: SdkUpstream, slug: string, key: string, message: Json): Promise<Json> {
  const before = upstream.requests.length;
  const answer = await post(slug, key, message);
  expect({ status: answer.status, text: answer.text.slice(0, 300) }).toEqual({ status: 200, text: expect.any(String) });
  const response = responseOf(answer);
  expect(response.error).toBeUndefined();
  expect(response.id).toEqual(message.id);
  expect(seenSince(upstream, before)).toEqual([message]);
  return response.result as Json;
}

const read = (id: number, uri: string) => rpc(id, 'resources/read', { uri });
const getPrompt = (id: number, name: string, args?: Record<string, string>) => rpc(id, 'prompts/get', { name, ...(args ? { arguments: args } : {}) });
const completePrompt = (id: number, name: string, argument: string, value: string) =>
  rpc(id, 'completion/complete', { ref: { type: 'ref/prompt', name }, argument: { name: argument, value } });

/**
 * URIs that `file:///public/*` with a deny of `file:///public/hidden*` must refuse, each of which
 * the careless upstream resolves to a protected file (`leaks`: the text it would serve).
 */
const SNEAKY_URIS: readonly { uri: string; leaks: string }[] = [
  { uri: 'file:///public/../secret/keys.txt', leaks: SECRET_TEXT },
  { uri: 'file:///public/%2e%2e/secret/keys.txt', leaks: SECRET_TEXT },
  { uri: 'file:///public/..%2fsecret/keys.txt', leaks: SECRET_TEXT },
  { uri: 'file:///public/./../secret/keys.txt', leaks: SECRET_TEXT },
  { uri: 'file:///public/%68idden.txt', leaks: HIDDEN_TEXT },
  { uri: 'file:///public/hidd%65n.txt', leaks: HIDDEN_TEXT },
  { uri: 'file:///public/readme.txt/../../secret/keys.txt', leaks: SECRET_TEXT },
];

const PUBLIC_ONLY = { allow: ['file:///public/*'], deny: ['file:///public/hidden*'] };

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

describe('a key allowed only tool `count`', () => {
  test('may call count, and nothing else: other tools, every resource and every prompt are 403 and never reach the upstream', async () => {
    const mcp = await provisionMcp('only-count', jsonUpstream.url);
    // Resources refused through the key's `*` entry, prompts through its entry for this MCP.
    const key = await mcp.key({
      tools: { [mcp.slug]: { allow: ['count'] } },
      resources: { '*': { deny: ['*'] } },
      prompts: { [mcp.slug]: { allow: ['no-such-prompt'] } },
    });

    const counted = await expectPassed(jsonUpstream, mcp.slug, key, toolCall(1, 'count', { to: 3 }));
    expect(counted.content).toEqual([{ type: 'text', text: 'counted to 3' }]);

    await expectRefused(jsonUpstream, mcp.slug, key, toolCall(2, 'delete-everything'), 'forbidden_tool');
    for (const [i, path] of Object.keys(FILES).entries()) {
      await expectRefused(jsonUpstream, mcp.slug, key, read(10 + i, `file://${path}`), 'forbidden_resource');
    }
    await expectRefused(jsonUpstream, mcp.slug, key, rpc(20, 'resources/subscribe', { uri: 'file:///public/readme.txt' }), 'forbidden_resource');
    for (const [i, name] of ['greeting', 'summary', 'admin-report'].entries()) {
      await expectRefused(jsonUpstream, mcp.slug, key, getPrompt(30 + i, name, name === 'greeting' ? { name: 'Bob' } : undefined), 'forbidden_prompt');
    }
    await expectRefused(jsonUpstream, mcp.slug, key, completePrompt(40, 'greeting', 'name', 'Al'), 'forbidden_prompt');
  });

  test('a key allowed only tool count gets no resource and no prompt (an allow list closes what it does not name); deny-only scopes close nothing else', async () => {
    const mcp = await provisionMcp('tools-only', jsonUpstream.url);
    const key = await mcp.key({ tools: { [mcp.slug]: { allow: ['count'] } } });
    await expectRefused(jsonUpstream, mcp.slug, key, toolCall(1, 'delete-everything'), 'forbidden_tool');
    await expectRefused(jsonUpstream, mcp.slug, key, read(2, 'file:///secret/keys.txt'), 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, key, getPrompt(3, 'admin-report', { scope: 'all' }), 'forbidden_prompt');
    const denyOnly = await mcp.key({ tools: { [mcp.slug]: { allow: [], deny: ['delete-*'] } } });
    await expectRefused(jsonUpstream, mcp.slug, denyOnly, toolCall(4, 'delete-everything'), 'forbidden_tool');
    const result = await expectPassed(jsonUpstream, mcp.slug, denyOnly, read(5, 'file:///secret/keys.txt'));
    expect(result.contents[0].text).toBe(SECRET_TEXT);
  });
});

describe('resource URI policies', () => {
  test('a key allowing file:///public/* reads public files (200 with content) and is refused the rest, whatever the spelling', async () => {
    const mcp = await provisionMcp('key-resources', jsonUpstream.url);
    const key = await mcp.key({ resources: { [mcp.slug]: PUBLIC_ONLY } });

    for (const [i, name] of ['readme', 'notes'].entries()) {
      const uri = `file:///public/${name}.txt`;
      const result = await expectPassed(jsonUpstream, mcp.slug, key, read(1 + i, uri));
      expect(result).toEqual({ contents: [{ uri, mimeType: 'text/plain', text: `public ${name}` }] });
    }

    const denied = [
      'file:///secret/keys.txt',
      'file:///public/hidden.txt',
      'FILE:///public/hidden.txt',
      'file:///public/HIDDEN.TXT',
      'file:///%70ublic/readme.txt', // another spelling of an allowed URI is not allowed either
      'file:///public/readme.txt\u0000/../../secret/keys.txt',
      'file:///public/readme.txt\n',
      `file:///public/${'a'.repeat(9000)}`,
      ...SNEAKY_URIS.map((s) => s.uri),
    ];
    for (const [i, uri] of denied.entries()) {
      await expectRefused(jsonUpstream, mcp.slug, key, read(100 + i, uri), 'forbidden_resource');
    }
  });

  test('each sneaky URI the gateway refuses does leak from the upstream when sent to it directly (the refusals above matter)', async () => {
    for (const [i, { uri, leaks }] of SNEAKY_URIS.entries()) {
      const answer = await direct(jsonUpstream, read(i + 1, uri));
      expect(answer.status).toBe(200);
      expect(responseOf(answer).result?.contents?.[0]?.text).toBe(leaks);
    }
  });

  test('resources/subscribe of a denied URI is 403; of an allowed one it is forwarded; unsubscribe is always forwarded', async () => {
    const mcp = await provisionMcp('subscribe', jsonUpstream.url);
    const key = await mcp.key({ resources: { [mcp.slug]: PUBLIC_ONLY } });
    expect(await expectPassed(jsonUpstream, mcp.slug, key, rpc(1, 'resources/subscribe', { uri: 'file:///public/readme.txt' }))).toEqual({});
    for (const [i, uri] of ['file:///secret/keys.txt', 'file:///public/hidden.txt', 'file:///public/../secret/keys.txt', 'file:///public/%68idden.txt'].entries()) {
      await expectRefused(jsonUpstream, mcp.slug, key, rpc(10 + i, 'resources/subscribe', { uri }), 'forbidden_resource');
    }
    // Unsubscribing can only reduce what the client receives.
    expect(await expectPassed(jsonUpstream, mcp.slug, key, rpc(20, 'resources/unsubscribe', { uri: 'file:///secret/keys.txt' }))).toEqual({});
  });

  test('a resources/read without a string uri is refused (fails closed) once a resource policy applies', async () => {
    const mcp = await provisionMcp('no-uri', jsonUpstream.url);
    const key = await mcp.key({ resources: { [mcp.slug]: PUBLIC_ONLY } });
    await expectRefused(jsonUpstream, mcp.slug, key, rpc(1, 'resources/read', {}), 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, key, rpc(2, 'resources/read', { uri: ['file:///public/readme.txt'] }), 'forbidden_resource');
  });
});

describe('prompt policies and completion', () => {
  test('prompts/get and completion/complete follow the prompt policy; a completion ref to a denied resource template is 403', async () => {
    const mcp = await provisionMcp('prompts', jsonUpstream.url);
    const key = await mcp.key({
      prompts: { [mcp.slug]: { allow: ['greeting', 'summ*'], deny: ['admin-*'] } },
      resources: { [mcp.slug]: PUBLIC_ONLY },
    });

    const greeting = await expectPassed(jsonUpstream, mcp.slug, key, getPrompt(1, 'greeting', { name: 'Bob' }));
    expect(greeting.messages[0].content.text).toBe('Hello, Bob');
    await expectPassed(jsonUpstream, mcp.slug, key, getPrompt(2, 'summary'));
    await expectRefused(jsonUpstream, mcp.slug, key, getPrompt(3, 'admin-report', { scope: 'all-orgs' }), 'forbidden_prompt');
    await expectRefused(jsonUpstream, mcp.slug, key, getPrompt(4, 'Greeting', { name: 'Bob' }), 'forbidden_prompt');

    const completion = await expectPassed(jsonUpstream, mcp.slug, key, completePrompt(5, 'greeting', 'name', 'Al'));
    expect(completion.completion.values).toEqual(['Alice', 'Albert']);
    await expectRefused(jsonUpstream, mcp.slug, key, completePrompt(6, 'admin-report', 'scope', 'all'), 'forbidden_prompt');
    await expectRefused(
      jsonUpstream,
      mcp.slug,
      key,
      rpc(7, 'completion/complete', { ref: { type: 'ref/resource', uri: 'file:///secret/{name}' }, argument: { name: 'name', value: 'k' } }),
      'forbidden_resource',
    );
    // A ref the gateway cannot check fails closed.
    await expectRefused(jsonUpstream, mcp.slug, key, rpc(8, 'completion/complete', { ref: { type: 'ref/other', name: 'greeting' }, argument: { name: 'name', value: '' } }), 'forbidden_prompt');
    await expectRefused(jsonUpstream, mcp.slug, key, rpc(9, 'completion/complete', { argument: { name: 'name', value: '' } }), 'forbidden_prompt');
  });

  test('a denied completion passes the upstream nothing, where the upstream would have answered it', async () => {
    const answer = await direct(jsonUpstream, completePrompt(1, 'admin-report', 'scope', 'all'));
    expect(responseOf(answer).result.completion.values).toEqual(['all-orgs', 'all-keys']);
  });
});

describe('MCP server policies', () => {
  test('apply to every key of the org, and a key\'s own scopes narrow them further (both must allow)', async () => {
    const mcp = await provisionMcp('mcp-policies', jsonUpstream.url, {
      resourcePolicy: PUBLIC_ONLY,
      promptPolicy: { allow: ['greeting', 'summary'] },
    });
    const plain = await mcp.key();
    const narrower = await mcp.key({
      resources: { [mcp.slug]: { allow: ['file:///public/readme*'] } },
      prompts: { '*': { allow: ['summary'] } },
    });
    const wider = await mcp.key({
      resources: { [mcp.slug]: { allow: ['file:///secret/*', 'file:///public/hidden*'] } },
      prompts: { [mcp.slug]: { allow: ['admin-*'] } },
    });

    // A key without scopes of its own: the MCP's policies.
    await expectPassed(jsonUpstream, mcp.slug, plain, read(1, 'file:///public/readme.txt'));
    await expectPassed(jsonUpstream, mcp.slug, plain, read(2, 'file:///public/notes.txt'));
    await expectRefused(jsonUpstream, mcp.slug, plain, read(3, 'file:///secret/keys.txt'), 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, plain, read(4, 'file:///public/hidden.txt'), 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, plain, read(5, 'file:///public/../secret/keys.txt'), 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, plain, read(6, 'file:///public/%68idden.txt'), 'forbidden_resource');
    await expectPassed(jsonUpstream, mcp.slug, plain, getPrompt(7, 'greeting', { name: 'Bob' }));
    await expectRefused(jsonUpstream, mcp.slug, plain, getPrompt(8, 'admin-report', { scope: 'all-orgs' }), 'forbidden_prompt');
    await expectRefused(jsonUpstream, mcp.slug, plain, completePrompt(9, 'admin-report', 'scope', 'a'), 'forbidden_prompt');

    // A narrower key: only what both allow.
    await expectPassed(jsonUpstream, mcp.slug, narrower, read(11, 'file:///public/readme.txt'));
    await expectRefused(jsonUpstream, mcp.slug, narrower, read(12, 'file:///public/notes.txt'), 'forbidden_resource');
    await expectPassed(jsonUpstream, mcp.slug, narrower, getPrompt(13, 'summary'));
    await expectRefused(jsonUpstream, mcp.slug, narrower, getPrompt(14, 'greeting', { name: 'Bob' }), 'forbidden_prompt');

    // A key that asks for more than the MCP allows gets nothing the MCP refuses, and nothing its own scopes leave out.
    await expectRefused(jsonUpstream, mcp.slug, wider, read(21, 'file:///secret/keys.txt'), 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, wider, read(22, 'file:///public/hidden.txt'), 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, wider, read(23, 'file:///public/readme.txt'), 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, wider, getPrompt(24, 'admin-report', { scope: 'all-orgs' }), 'forbidden_prompt');
    await expectRefused(jsonUpstream, mcp.slug, wider, getPrompt(25, 'greeting', { name: 'Bob' }), 'forbidden_prompt');

    // Lists through the plain key follow the MCP's policies.
    const before = jsonUpstream.requests.length;
    const resources = responseOf(await post(mcp.slug, plain, rpc(30, 'resources/list'))).result.resources as Json[];
    expect(resources.map((r) => r.uri)).toEqual(['file:///public/readme.txt', 'file:///public/notes.txt']);
    const prompts = responseOf(await post(mcp.slug, narrower, rpc(31, 'prompts/list'))).result.prompts as Json[];
    expect(prompts.map((p) => p.name)).toEqual(['summary']);
    expect(seenSince(jsonUpstream, before).map((m) => m.method)).toEqual(['resources/list', 'prompts/list']);
  });
});

describe('batches', () => {
  test('a batch mixing an allowed tools/call with a denied resources/read or prompts/get is refused whole; nothing reaches the upstream', async () => {
    const mcp = await provisionMcp('batches', jsonUpstream.url);
    const key = await mcp.key({
      tools: { [mcp.slug]: { allow: ['count'] } },
      resources: { [mcp.slug]: PUBLIC_ONLY },
      prompts: { [mcp.slug]: { allow: ['greeting'] } },
    });
    await expectRefused(jsonUpstream, mcp.slug, key, [toolCall(1, 'count', { to: 1 }), read(2, 'file:///secret/keys.txt')], 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, key, [read(1, 'file:///public/readme.txt'), toolCall(2, 'count', { to: 1 }), read(3, 'file:///public/../secret/keys.txt')], 'forbidden_resource');
    await expectRefused(jsonUpstream, mcp.slug, key, [toolCall(1, 'count', { to: 1 }), getPrompt(2, 'admin-report', { scope: 'x' })], 'forbidden_prompt');
    await expectRefused(jsonUpstream, mcp.slug, key, [rpc(1, 'resources/subscribe', { uri: 'file:///secret/keys.txt' }), toolCall(2, 'count', { to: 1 })], 'forbidden_resource');

    // The same batch with only allowed members goes through, whole.
    const before = jsonUpstream.requests.length;
    const batch = [toolCall(1, 'count', { to: 2 }), read(2, 'file:///public/readme.txt'), getPrompt(3, 'greeting', { name: 'Ann' })];
    const answer = await post(mcp.slug, key, batch);
    expect(answer.status).toBe(200);
    expect(seenSince(jsonUpstream, before)).toEqual(batch);
    const responses = JSON.parse(answer.text) as Json[];
    expect(responses.map((r) => [r.id, r.error])).toEqual([
      [1, undefined],
      [2, undefined],
      [3, undefined],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// list filtering
// ---------------------------------------------------------------------------------------------

/** The list member of each list method's result, and the entry member a policy judges. */
const LISTS = {
  'tools/list': { list: 'tools', key: 'name' },
  'resources/list': { list: 'resources', key: 'uri' },
  'resources/templates/list': { list: 'resourceTemplates', key: 'uriTemplate' },
  'prompts/list': { list: 'prompts', key: 'name' },
} as const;
type ListMethod = keyof typeof LISTS;
const LIST_METHODS = Object.keys(LISTS) as ListMethod[];

/**
 * `unfiltered` (a whole response message) with the entries of its list for which `keep` is false
 * removed; checks that something is removed and something kept, so the comparison shows filtering.
 */
function withoutRefused(unfiltered: Json, method: ListMethod, keep: (value: string) => boolean): Json {
  const { list, key } = LISTS[method];
  const entries = unfiltered.result[list] as Json[];
  const kept = entries.filter((entry) => keep(entry[key] as string));
  expect(kept.length).toBeGreaterThan(0);
  expect(kept.length).toBeLessThan(entries.length);
  return { ...unfiltered, result: { ...unfiltered.result, [list]: kept } };
}

/** What the restricted keys of the file-server list tests may see. */
const FILE_SCOPES = (slug: string) => ({
  tools: { [slug]: { allow: ['count'] } },
  resources: { [slug]: PUBLIC_ONLY },
  prompts: { [slug]: { allow: ['greeting', 'summary'] } },
});
const FILE_KEEP: Record<ListMethod, (value: string) => boolean> = {
  'tools/list': (name) => name === 'count',
  'resources/list': (uri) => uri === 'file:///public/readme.txt' || uri === 'file:///public/notes.txt',
  // `file:///{+path}` would expand to anything, so it is dropped although it could expand to public files.
  'resources/templates/list': (template) => template === 'file:///public/docs/{name}',
  'prompts/list': (name) => name === 'greeting' || name === 'summary',
};
const FILE_KEPT: Record<ListMethod, string[]> = {
  'tools/list': ['count'],
  'resources/list': ['file:///public/readme.txt', 'file:///public/notes.txt'],
  'resources/templates/list': ['file:///public/docs/{name}'],
  'prompts/list': ['greeting', 'summary'],
};

describe.each([
  ['JSON', () => jsonUpstream, 'application/json'],
  ['SSE', () => sseUpstream, 'text/event-stream'],
])('list answers as %s', (_mode, upstream, contentType) => {
  let mcp: Provisioned;
  let full: string;
  let restricted: string;
  beforeAll(async () => {
    mcp = await provisionMcp(`lists-${_mode.toLowerCase()}`, upstream().url);
    full = await mcp.key();
    restricted = await mcp.key(FILE_SCOPES(mcp.slug));
  });

  test.each(LIST_METHODS)('%s loses exactly the entries the key may not use; the rest of the answer is byte-identical', async (method) => {
    const unfiltered = await post(mcp.slug, full, rpc(7, method));
    const filtered = await post(mcp.slug, restricted, rpc(7, method));
    expect([unfiltered.status, filtered.status]).toEqual([200, 200]);
    expect(unfiltered.headers['content-type']).toMatch(new RegExp(`^${contentType}`));
    expect(filtered.headers['content-type']).toMatch(new RegExp(`^${contentType}`));

    const source = responseOf(unfiltered);
    const expected = withoutRefused(source, method, FILE_KEEP[method]);
    const { list, key } = LISTS[method];
    expect((responseOf(filtered).result[list] as Json[]).map((e) => e[key])).toEqual(FILE_KEPT[method]);
    // The upstream writes compact JSON; a splice that removes entries and keeps every other byte
    // is then exactly the compact serialization of the expected message.
    const sourceJson = JSON.stringify(source);
    expect(unfiltered.text).toContain(sourceJson);
    expect(filtered.text).toBe(unfiltered.text.replace(sourceJson, JSON.stringify(expected)));
  });

  test('a batch of all four list requests is filtered per request', async () => {
    const batch = LIST_METHODS.map((method, i) => rpc(`list-${i}`, method));
    const unfiltered = await post(mcp.slug, full, batch);
    const filtered = await post(mcp.slug, restricted, batch);
    expect([unfiltered.status, filtered.status]).toEqual([200, 200]);
    const messages = (answer: Answer): Json[] =>
      (answer.headers['content-type'] ?? '').startsWith('text/event-stream')
        ? answer.text
            .split('\n')
            .filter((line) => line.startsWith('data:'))
            .flatMap((line) => {
              const parsed = JSON.parse(line.slice(5).trim());
              return Array.isArray(parsed) ? parsed : [parsed];
            })
        : (JSON.parse(answer.text) as Json[]);
    const byId = (answer: Answer) => new Map(messages(answer).map((m) => [m.id as string, m]));
    const sources = byId(unfiltered);
    const results = byId(filtered);
    expect(results.size).toBe(4);
    LIST_METHODS.forEach((method, i) => {
      const id = `list-${i}`;
      expect(results.get(id)).toEqual(withoutRefused(sources.get(id)!, method, FILE_KEEP[method]));
    });
  });

  test('an unrestricted key sees every entry (the filter is not what empties the lists)', async () => {
    for (const method of LIST_METHODS) {
      const answer = responseOf(await post(mcp.slug, full, rpc(1, method)));
      expect(answer).toEqual(await directResponse(upstream(), rpc(1, method)));
    }
  });
});

/** The response to `message` straight from the upstream. */
async function directResponse(upstream: SdkUpstream, message: Json): Promise<Json> {
  return responseOf(await direct(upstream, message));
}

describe('server-everything (stateful sessions, SSE answers with event ids)', () => {
  const DOCS = 'demo://resource/static/document/';
  const TEXT_TEMPLATES = 'demo://resource/dynamic/text/';
  const KEEP: Record<ListMethod, (value: string) => boolean> = {
    'tools/list': (name) => name === 'echo' || name === 'get-sum',
    'resources/list': (uri) => (uri.startsWith(DOCS) && uri !== `${DOCS}architecture.md`) || uri.startsWith(TEXT_TEMPLATES),
    'resources/templates/list': (template) => template.startsWith(TEXT_TEMPLATES),
    'prompts/list': (name) => name === 'simple-prompt' || name === 'args-prompt',
  };
  let slug: string;
  let fullSession: string;
  let restrictedSession: string;
  let full: string;
  let restricted: string;

  beforeAll(async () => {
    const mcp = await provisionMcp('everything', everything.url);
    slug = mcp.slug;
    full = await mcp.key();
    restricted = await mcp.key({
      tools: { [slug]: { allow: ['echo', 'get-sum'] } },
      resources: { [slug]: { allow: [`${DOCS}*`, `${TEXT_TEMPLATES}*`], deny: [`${DOCS}architecture.md`] } },
      prompts: { '*': { allow: ['simple-prompt', 'args-prompt'] } },
    });
    fullSession = await openSession(gw.mcpUrl(slug), full);
    restrictedSession = await openSession(gw.mcpUrl(slug), restricted);
  }, 30_000);

  test.each(LIST_METHODS)('%s on an SSE answer loses exactly the refused entries, event lines kept', async (method) => {
    const unfiltered = await post(slug, full, rpc(5, method), fullSession);
    const filtered = await post(slug, restricted, rpc(5, method), restrictedSession);
    expect([unfiltered.status, filtered.status]).toEqual([200, 200]);
    expect(unfiltered.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(filtered.headers['content-type']).toMatch(/^text\/event-stream/);

    const source = responseOf(unfiltered);
    const expected = withoutRefused(source, method, KEEP[method]);
    // Event ids differ between sessions; the data line must be exactly the spliced source.
    const dataLine = (answer: Answer) => answer.text.split('\n').filter((line) => line.startsWith('data:'));
    expect(dataLine(unfiltered)).toEqual([`data: ${JSON.stringify(source)}`]);
    expect(dataLine(filtered)).toEqual([`data: ${JSON.stringify(expected)}`]);
    // The other lines of the event (its id and type) are still there.
    expect(filtered.text).toMatch(/^id: \S+$/m);
    expect(filtered.text).toMatch(/^event: message$/m);
  });

  test('resources/read and prompts/get follow the key\'s policies on an SSE upstream too', async () => {
    const allowed = await post(slug, restricted, read(20, `${DOCS}features.md`), restrictedSession);
    expect(allowed.status).toBe(200);
    expect(responseOf(allowed).result.contents[0].uri).toBe(`${DOCS}features.md`);
    for (const [i, uri] of [`${DOCS}architecture.md`, `${DOCS}%61rchitecture.md`, `${DOCS}../../dynamic/blob/1`, 'demo://resource/dynamic/blob/1'].entries()) {
      const answer = await post(slug, restricted, read(21 + i, uri), restrictedSession);
      expectGatewayError(answer, 'forbidden_resource', 21 + i, secretsOf(everything));
    }
    expectGatewayError(await post(slug, restricted, getPrompt(30, 'resource-prompt'), restrictedSession), 'forbidden_prompt', 30, secretsOf(everything));
    expect((await post(slug, restricted, getPrompt(31, 'simple-prompt'), restrictedSession)).status).toBe(200);
    expectGatewayError(await post(slug, restricted, toolCall(32, 'get-env'), restrictedSession), 'forbidden_tool', 32, secretsOf(everything));
  });
});

// ---------------------------------------------------------------------------------------------
// the admin API
// ---------------------------------------------------------------------------------------------

/** An admin API call with the operator token that returns the status and body whatever they are. */
async function adminRaw(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${gw.gateway.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${gw.gateway.operatorToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Json) : {} };
}

describe('admin API', () => {
  test('an MCP with resourcePolicy/promptPolicy and a key with scopes.resources/prompts round-trip through create, GET and PATCH', async () => {
    const slug = uniqueSlug('admin-policies');
    const org = await gw.admin('POST', '/orgs', { name: `org ${slug}`, plan: 'pro', ipAllowlist: [] });
    const resourcePolicy = { allow: ['file:///public/*', 'demo://resource/static/document/*'], deny: ['file:///public/hidden*'] };
    const promptPolicy = { allow: ['greeting', 'summ*'], deny: ['admin-*'] };
    const created = await gw.admin('POST', `/orgs/${org.orgId}/mcps`, { slug, endpoints: [{ url: jsonUpstream.url }], resourcePolicy, promptPolicy });
    expect(created).toMatchObject({ slug, resourcePolicy, promptPolicy });
    expect(await gw.admin('GET', `/orgs/${org.orgId}/mcps/${slug}`)).toMatchObject({ resourcePolicy, promptPolicy, toolPolicy: { allow: [], deny: [] } });

    // Only `allow` given: `deny` defaults to empty.
    await gw.admin('PATCH', `/orgs/${org.orgId}/mcps/${slug}`, { resourcePolicy: { allow: ['file:///public/readme*'] } });
    expect(await gw.admin('GET', `/orgs/${org.orgId}/mcps/${slug}`)).toMatchObject({ resourcePolicy: { allow: ['file:///public/readme*'], deny: [] }, promptPolicy });

    const scopes = {
      mcps: [slug],
      tools: { [slug]: { allow: ['count'], deny: [] } },
      resources: { [slug]: { allow: ['file:///public/*'], deny: ['file:///public/notes*'] }, '*': { allow: [], deny: ['file:///secret/*'] } },
      prompts: { [slug]: { allow: ['greeting'], deny: [] } },
    };
    const issued = await gw.admin('POST', `/orgs/${org.orgId}/keys`, { name: 'agent', role: 'member', scopes });
    expect(issued.key.scopes).toEqual(scopes);
    expect((await gw.admin('GET', `/orgs/${org.orgId}/keys/${issued.key.keyId}`)).scopes).toEqual(scopes);

    // The stored policies are the ones the gateway enforces: MCP (readme only) and key (public, not notes).
    const key = issued.secret as string;
    await expectPassed(jsonUpstream, slug, key, read(1, 'file:///public/readme.txt'));
    await expectRefused(jsonUpstream, slug, key, read(2, 'file:///public/notes.txt'), 'forbidden_resource');
    await expectRefused(jsonUpstream, slug, key, getPrompt(3, 'summary'), 'forbidden_prompt');
  });

  test('an MCP created without resource or prompt policies shows them empty', async () => {
    const slug = uniqueSlug('admin-default');
    const org = await gw.admin('POST', '/orgs', { name: `org ${slug}`, plan: 'pro', ipAllowlist: [] });
    await gw.admin('POST', `/orgs/${org.orgId}/mcps`, { slug, endpoints: [{ url: jsonUpstream.url }] });
    expect(await gw.admin('GET', `/orgs/${org.orgId}/mcps/${slug}`)).toMatchObject({ resourcePolicy: { allow: [], deny: [] }, promptPolicy: { allow: [], deny: [] } });
  });

  test('patterns with control characters (or whitespace in a URI pattern) are 400 validation_failed and nothing is stored', async () => {
    const slug = uniqueSlug('admin-invalid');
    const org = await gw.admin('POST', '/orgs', { name: `org ${slug}`, plan: 'pro', ipAllowlist: [] });
    const mcpBody = (policies: Json) => ({ slug, endpoints: [{ url: jsonUpstream.url }], ...policies });
    const invalidMcps: [Json, string][] = [
      [{ resourcePolicy: { allow: ['file:///public/\u0000*'] } }, 'resourcePolicy.allow.0'],
      [{ resourcePolicy: { deny: ['file:///ok', 'file:///a\nb'] } }, 'resourcePolicy.deny.1'],
      [{ resourcePolicy: { allow: ['file:///a\u007f'] } }, 'resourcePolicy.allow.0'],
      [{ resourcePolicy: { allow: ['file:///a b'] } }, 'resourcePolicy.allow.0'],
      [{ promptPolicy: { allow: ['greet\u0007ing'] } }, 'promptPolicy.allow.0'],
      [{ promptPolicy: { deny: ['admin-*\r\n'] } }, 'promptPolicy.deny.0'],
    ];
    for (const [policies, path] of invalidMcps) {
      const answer = await adminRaw('POST', `/orgs/${org.orgId}/mcps`, mcpBody(policies));
      expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status: 400, code: 'validation_failed' });
      expect(answer.body.error.details.map((d: Json) => d.path)).toContain(path);
    }
    expect((await adminRaw('GET', `/orgs/${org.orgId}/mcps/${slug}`)).status).toBe(404);

    await gw.admin('POST', `/orgs/${org.orgId}/mcps`, mcpBody({}));
    const patched = await adminRaw('PATCH', `/orgs/${org.orgId}/mcps/${slug}`, { resourcePolicy: { allow: ['file:///x\u0001'] } });
    expect({ status: patched.status, code: patched.body.error?.code }).toEqual({ status: 400, code: 'validation_failed' });
    expect(await gw.admin('GET', `/orgs/${org.orgId}/mcps/${slug}`)).toMatchObject({ resourcePolicy: { allow: [], deny: [] } });

    const keysBefore = (await gw.admin('GET', `/orgs/${org.orgId}/keys`)).items.length;
    const invalidScopes: [Json, string][] = [
      [{ resources: { [slug]: { allow: ['file:///public/\u0000'] } } }, `scopes.resources.${slug}.allow.0`],
      [{ resources: { '*': { deny: ['file:///\u001b[31m'] } } }, 'scopes.resources.*.deny.0'],
      [{ prompts: { [slug]: { allow: ['greeting\n'] } } }, `scopes.prompts.${slug}.allow.0`],
      [{ prompts: { '*': { deny: ['\u0000'] } } }, 'scopes.prompts.*.deny.0'],
    ];
    for (const [scopes, path] of invalidScopes) {
      const answer = await adminRaw('POST', `/orgs/${org.orgId}/keys`, { name: 'agent', role: 'member', scopes: { mcps: [slug], ...scopes } });
      expect({ status: answer.status, code: answer.body.error?.code }).toEqual({ status: 400, code: 'validation_failed' });
      expect(answer.body.error.details.map((d: Json) => d.path)).toContain(path);
    }
    expect((await gw.admin('GET', `/orgs/${org.orgId}/keys`)).items.length).toBe(keysBefore);
  });
});
