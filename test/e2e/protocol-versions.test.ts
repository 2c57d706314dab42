/**
 * The gateway does not terminate MCP: it forwards each revision's messages and headers, so every
 * revision a client and server agree on works through it. Checked against an SDK-built server
 * for each revision clients use today, and for the stateless 2026-07-28 revision's headers.
 */
import { z } from 'zod';
import { provision, startTestGateway, type TestGateway } from './harness';
import { mcpHttp, startSdkUpstream, type SdkUpstream } from './upstreams';

let gw: TestGateway;
let stateful: SdkUpstream;
let stateless: SdkUpstream;
let key: string;

beforeAll(async () => {
  const setup = (server: import('@modelcontextprotocol/sdk/server/mcp.js').McpServer) =>
    server.registerTool('echo', { inputSchema: { message: z.string() } }, async ({ message }) => ({ content: [{ type: 'text', text: message }] }));
  [stateful, stateless] = await Promise.all([
    startSdkUpstream({ setup }),
    startSdkUpstream({ setup, stateful: false, enableJsonResponse: true }),
  ]);
  gw = await startTestGateway();
  const org = await provision(gw, { slug: 'sessions', endpoints: [{ url: stateful.url }] });
  await gw.admin('POST', `/orgs/${org.orgId}/mcps`, { slug: 'stateless', endpoints: [{ url: stateless.url }] });
  key = org.apiKey;
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await Promise.all([stateful?.close(), stateless?.close()]);
});

const initialize = (protocolVersion: string) => ({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion, capabilities: {}, clientInfo: { name: 'versions', version: '1' } },
});

test.each(['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'])('revision %s: initialize, then a tool call in the session', async (version) => {
  const init = await mcpHttp(gw.mcpUrl('sessions'), { apiKey: key, message: initialize(version), headers: { 'mcp-protocol-version': version } });
  expect(init.status).toBe(200);
  expect(init.messages[0]!.result.protocolVersion).toBe(version);
  const sessionId = init.headers.get('mcp-session-id')!;
  expect(sessionId).toMatch(/^pms2\./);
  const call = await mcpHttp(gw.mcpUrl('sessions'), {
    apiKey: key,
    sessionId,
    headers: { 'mcp-protocol-version': version },
    message: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { message: `hi ${version}` } } },
  });
  expect(call.messages[0]!.result.content[0].text).toBe(`hi ${version}`);
  // The version header reached the upstream as the client sent it.
  expect(stateful.requests.at(-1)!.headers['mcp-protocol-version']).toBe(version);
});

test('a stateless server (as in 2026-07-28): no session id, and that revision\'s Mcp-Method and Mcp-Name headers reach the upstream', async () => {
  // No SDK implements 2026-07-28 yet, so the server speaks 2025-11-25 statelessly; what the
  // gateway must do for the new revision is forward its headers and need no session.
  const answer = await mcpHttp(gw.mcpUrl('stateless'), {
    apiKey: key,
    headers: { 'mcp-protocol-version': '2025-11-25', 'mcp-method': 'tools/call', 'mcp-name': 'echo' },
    message: { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { message: 'stateless' } } },
  });
  expect(answer.status).toBe(200);
  expect(answer.headers.get('mcp-session-id')).toBeNull();
  expect(answer.messages[0]).toMatchObject({ id: 7, result: { content: [{ text: 'stateless' }] } });
  const seen = stateless.requests.at(-1)!;
  expect([seen.headers['mcp-method'], seen.headers['mcp-name']]).toEqual(['tools/call', 'echo']);
  expect(seen.headers.authorization).toBeUndefined(); // the client's key never reaches the upstream
});
