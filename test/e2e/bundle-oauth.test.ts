/**
 * The authorization server in the bundle `npm start` runs (`node dist/plexmcp.cjs serve`, its own
 * process): it is loaded on the first request that needs it (oauth-runtime.ts), so what is checked
 * here is that the bundle carries it and that loading it there works — metadata, a registration,
 * and the consent page of an authorization request.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGatewayProcess, type GatewayProcess } from './harness';
import { pkce } from './oauth-support';

let gw: GatewayProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-e2e-bundle-oauth-'));
  gw = await startGatewayProcess(dataDir, { demo: true });
}, 60_000);
afterAll(async () => {
  await gw?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

test('the bundled gateway answers as authorization server: metadata, registration, the consent page', async () => {
  const metadata = (await (await fetch(`${gw.baseUrl}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
  expect(metadata).toMatchObject({ issuer: gw.baseUrl, code_challenge_methods_supported: ['S256'], registration_endpoint: `${gw.baseUrl}/oauth/register` });

  const registered = await fetch(`${gw.baseUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'Bundle client', redirect_uris: ['http://127.0.0.1:9/callback'] }),
  });
  expect(registered.status).toBe(201);
  const { client_id: clientId } = (await registered.json()) as { client_id: string };

  const query = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'http://127.0.0.1:9/callback', code_challenge: pkce().challenge, code_challenge_method: 'S256', resource: `${gw.baseUrl}/mcp/everything`, state: 's' });
  const authorize = await fetch(`${gw.baseUrl}/oauth/authorize?${query}`, { redirect: 'manual' });
  expect(authorize.status).toBe(303);
  const consent = await fetch(new URL(authorize.headers.get('location')!, gw.baseUrl), { headers: { cookie: authorize.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') } });
  expect(consent.status).toBe(200);
  expect(await consent.text()).toContain('Bundle client');
});
