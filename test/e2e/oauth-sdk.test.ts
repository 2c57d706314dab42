/**
 * OAuth 2.1 through the MCP SDK's own client auth (`Client` + `StreamableHTTPClientTransport` with
 * an `OAuthClientProvider`), against `plexmcp serve --demo`: the SDK is given only the MCP URL and
 * finds everything else itself — discovery from the gateway's 401, registration (DCR, or a client
 * ID metadata document on loopback https), PKCE with the resource indicator, the token after an
 * org admin approves in headless Chromium, MCP calls, a refresh when the gateway refuses its
 * access token, and a new authorization once its refresh token family was revoked.
 */
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser } from 'playwright-core';
import type { DemoFile } from '../../lambda/local/demo';
import type { LocalGateway } from '../../lambda/local/serve';
import { call, eventually, initializeMessage } from './gateway-expect';
import { RecordingOAuthProvider } from './oauth-sdk-support';
import { approveInBrowser, type OAuthStack, startOAuthStack, tokenRequest } from './oauth-support';

const ALL_SCOPES = 'mcp:tools mcp:resources mcp:prompts';

let gateway: LocalGateway;
let demo: DemoFile;
let browser: Browser;
let receiver: OAuthStack['receiver'];
let metadataHost: OAuthStack['metadataHost'];
let mcpUrl: string;
const openClients: Client[] = [];

let stack: OAuthStack;

beforeAll(async () => {
  stack = await startOAuthStack();
  ({ gateway, demo, mcpUrl, receiver, metadataHost, browser } = stack);
}, 90_000);
afterAll(async () => stack?.close());
afterEach(async () => {
  await Promise.all(openClients.splice(0).map((client) => client.close()));
});

/** The org admin in the browser: approves whatever the SDK asks for; the redirect's query comes back. */
async function approveAsOrgAdmin(authorizationUrl: URL): Promise<URLSearchParams> {
  const context = await browser.newContext();
  try {
    const redirected = receiver.next();
    await approveInBrowser(await context.newPage(), authorizationUrl.href, demo.orgAdminKey);
    return await redirected;
  } finally {
    await context.close();
  }
}

function sdkProvider(clientName: string, clientMetadataUrl?: string): RecordingOAuthProvider {
  return new RecordingOAuthProvider({ redirectUrl: receiver.url, clientName, clientMetadataUrl, userAgent: approveAsOrgAdmin });
}

/** A new SDK client on a new transport for the MCP URL (a transport cannot be started twice). */
function sdkClient(provider: RecordingOAuthProvider): { client: Client; transport: StreamableHTTPClientTransport } {
  const client = new Client({ name: 'plexmcp-oauth-sdk-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  openClients.push(client);
  return { client, transport };
}

/** What an application does: connect, which sends the user to consent and fails; finish with the code; connect again. */
async function connectWithConsent(provider: RecordingOAuthProvider): Promise<Client> {
  const first = sdkClient(provider);
  await expect(first.client.connect(first.transport)).rejects.toBeInstanceOf(UnauthorizedError);
  await first.transport.finishAuth(provider.callback!.get('code')!);
  const second = sdkClient(provider);
  await second.client.connect(second.transport);
  return second.client;
}

async function echo(client: Client, message: string): Promise<string> {
  const result = await client.callTool({ name: 'echo', arguments: { message } });
  return JSON.stringify(result.content);
}

async function grantKeys(): Promise<{ name: string; oauth?: { clientId: string } }[]> {
  const res = await fetch(`${gateway.adminUrl}/orgs/${demo.orgId}/keys?limit=100`, { headers: { authorization: `Bearer ${demo.orgAdminKey}` } });
  return ((await res.json()) as { items: { name: string; oauth?: { clientId: string } }[] }).items;
}

test('with dynamic client registration: the first connect discovers the gateway from its 401, registers and sends the user to consent; after it the SDK connects, lists tools and calls echo', async () => {
  const provider = sdkProvider('SDK agent');
  const first = sdkClient(provider);
  await expect(first.client.connect(first.transport)).rejects.toBeInstanceOf(UnauthorizedError);

  // Discovery: the protected resource metadata the 401 named, and this gateway's metadata.
  expect(provider.discovery).toMatchObject({
    authorizationServerUrl: gateway.baseUrl,
    resourceMetadata: { resource: mcpUrl, authorization_servers: [gateway.baseUrl], scopes_supported: ALL_SCOPES.split(' ') },
    authorizationServerMetadata: { issuer: gateway.baseUrl, registration_endpoint: `${gateway.baseUrl}/oauth/register`, code_challenge_methods_supported: ['S256'] },
  });
  // Registration (RFC 7591) with this gateway: a public client with the loopback redirect.
  const registered = provider.clientInformation() as Record<string, unknown>;
  expect(registered).toMatchObject({ client_id: expect.any(String), client_name: 'SDK agent', redirect_uris: [receiver.url], token_endpoint_auth_method: 'none', issuer: gateway.baseUrl });
  expect(registered.client_secret).toBeUndefined();

  // The authorization request: PKCE S256, the resource indicator and the scopes of the challenge.
  expect(provider.authorizationUrls).toHaveLength(1);
  const request = provider.authorizationUrls[0]!;
  expect(`${request.origin}${request.pathname}`).toBe(`${gateway.baseUrl}/oauth/authorize`);
  expect(Object.fromEntries(request.searchParams)).toMatchObject({
    response_type: 'code',
    client_id: registered.client_id,
    redirect_uri: receiver.url,
    code_challenge_method: 'S256',
    code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    resource: mcpUrl,
    scope: ALL_SCOPES,
    state: provider.sentState,
  });
  // The redirect back carries the code, the state and the issuer (RFC 9207).
  expect(provider.callback!.get('state')).toBe(provider.sentState);
  expect(provider.callback!.get('iss')).toBe(gateway.baseUrl);

  await first.transport.finishAuth(provider.callback!.get('code')!);
  expect(provider.tokens()).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: ALL_SCOPES, refresh_token: expect.any(String), issuer: gateway.baseUrl });

  const second = sdkClient(provider);
  await second.client.connect(second.transport);
  const { tools } = await second.client.listTools();
  expect(tools.map((tool) => tool.name)).toContain('echo');
  expect(await echo(second.client, 'through the SDK')).toContain('through the SDK');
  // The grant is the org's: a backing key named for the registered client.
  expect((await grantKeys()).some((key) => key.oauth?.clientId === registered.client_id && key.name === 'OAuth: SDK agent')).toBe(true);
});

test('the SDK refreshes by itself when the gateway refuses its access token, and the refresh token rotates', async () => {
  const provider = sdkProvider('SDK refresher');
  const client = await connectWithConsent(provider);
  expect(await echo(client, 'before')).toContain('before');
  const issued = provider.tokens()!;
  provider.replaceAccessToken('not-a-token-the-gateway-issued');

  // A new connection presents the refused token: 401, the SDK refreshes and retries on its own.
  const next = sdkClient(provider);
  await next.client.connect(next.transport);
  expect(await echo(next.client, 'after the refresh')).toContain('after the refresh');
  expect(provider.authorizationUrls).toHaveLength(1); // no new consent
  expect(provider.savedTokens).toHaveLength(2);
  const refreshed = provider.tokens()!;
  expect(refreshed.access_token).not.toBe(issued.access_token);
  expect(refreshed.refresh_token).toEqual(expect.any(String));
  expect(refreshed.refresh_token).not.toBe(issued.refresh_token);
});

test('once its refresh token family is revoked (a replay), the SDK drops its tokens and asks for consent again', async () => {
  const provider = sdkProvider('SDK replayed');
  const client = await connectWithConsent(provider);
  const clientId = provider.clientInformation()!.client_id;
  const first = provider.tokens()!;
  // Rotate once through the SDK (as above), then replay the first refresh token by hand: reuse
  // detection revokes the whole family, the SDK's current tokens included.
  provider.replaceAccessToken('not-a-token-the-gateway-issued');
  expect(await echo(client, 'rotated')).toContain('rotated');
  const replay = await tokenRequest(`${gateway.baseUrl}/oauth/token`, { grant_type: 'refresh_token', refresh_token: first.refresh_token!, client_id: clientId, resource: mcpUrl });
  expect([replay.status, replay.body.error]).toEqual([400, 'invalid_grant']);
  const current = provider.tokens()!.access_token;
  // The gateway refuses the revoked access token within its verified-token cache bound (500 ms here).
  expect(await eventually(async () => (await call(mcpUrl, current, initializeMessage(1))).status === 401, 10_000, 100)).toBe(true);

  // The SDK's refresh now fails with invalid_grant: it invalidates its tokens and starts a new authorization.
  await expect(echo(client, 'refused')).rejects.toBeInstanceOf(UnauthorizedError);
  expect(provider.invalidations).toContain('tokens');
  expect(provider.authorizationUrls).toHaveLength(2);
  const again = sdkClient(provider);
  await again.transport.finishAuth(provider.callback!.get('code')!);
  await again.client.connect(again.transport);
  expect(await echo(again.client, 'approved again')).toContain('approved again');
});

test('with a client ID metadata document: the SDK uses its URL as client_id (no registration), the gateway fetches it, and the flow completes', async () => {
  const documentUrl = `${metadataHost.origin}/clients/sdk.json`;
  metadataHost.serve('/clients/sdk.json', {
    client_id: documentUrl,
    client_name: 'SDK CIMD agent',
    // Documents name the scopes they want; the gateway grants MCP scopes at consent, per server.
    scope: 'mcp:tools mcp:resources mcp:prompts',
    redirect_uris: [receiver.url],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  });
  const provider = sdkProvider('SDK CIMD agent', documentUrl);
  const client = await connectWithConsent(provider);

  // The SDK saw client_id_metadata_document_supported and registered nothing: its client is the URL.
  expect(provider.clientInformation()).toEqual({ client_id: documentUrl, issuer: gateway.baseUrl });
  expect(provider.authorizationUrls[0]!.searchParams.get('client_id')).toBe(documentUrl);
  expect(await echo(client, 'through CIMD')).toContain('through CIMD');
  // The name on the grant came from the document the gateway fetched.
  expect((await grantKeys()).some((key) => key.oauth?.clientId === documentUrl && key.name === 'OAuth: SDK CIMD agent')).toBe(true);
});
