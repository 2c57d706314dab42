/**
 * The resource-server pieces the hosts share: the metadata answer, the public base URL rules,
 * the challenges, credential parsing, and that no credential of the caller reaches the upstream.
 */
import { presentedCredential } from '../../../lambda/core/gateway/authenticate';
import { protectedResourceAnswer } from '../../../lambda/core/gateway/protected-resource';
import { apiGatewayBaseUrl, checkedBaseUrl, hostBaseUrl } from '../../../lambda/core/gateway/public-url';
import { upstreamHeaders } from '../../../lambda/core/gateway/send';
import type { StoredMcpServer } from '../../../lambda/core/model';
import { insufficientScopeChallenge, unauthorizedChallenge } from '../../../lambda/core/oauth/resource-metadata';
import { missingScopes, scopesNeeded } from '../../../lambda/core/oauth/scopes';
import { inspectBody } from '../../../lambda/core/gateway/jsonrpc';

const BASE = 'https://gw.example.com';

function bodyOf(answer: { body: unknown }): Record<string, unknown> {
  return JSON.parse(answer.body as string) as Record<string, unknown>;
}

describe('protected resource metadata answer', () => {
  test('per MCP (path-inserted) and root form, cacheable, readable from any origin', () => {
    const perMcp = protectedResourceAnswer('GET', '/.well-known/oauth-protected-resource/mcp/github', BASE, 'req-1');
    expect(perMcp.status).toBe(200);
    expect(perMcp.headers).toMatchObject({ 'content-type': 'application/json', 'cache-control': 'public, max-age=300', 'access-control-allow-origin': '*', 'x-request-id': 'req-1' });
    expect(bodyOf(perMcp)).toEqual({
      resource: `${BASE}/mcp/github`,
      authorization_servers: [BASE],
      scopes_supported: ['mcp:tools', 'mcp:resources', 'mcp:prompts'],
      bearer_methods_supported: ['header'],
      resource_name: 'PlexMCP gateway',
    });
    const root = protectedResourceAnswer('GET', '/.well-known/oauth-protected-resource', BASE, 'req-2');
    expect(root.status).toBe(200);
    expect(bodyOf(root).resource).toBe(`${BASE}/mcp`);
  });

  test('anything else is a 404 JSON error; other methods 405; a preflight is answered', () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp/Bad_Slug', '/.well-known/oauth-protected-resource/other', '/.well-known/oauth-protected-resource/mcp/a/b']) {
      const answer = protectedResourceAnswer('GET', path, BASE, 'r');
      expect({ path, status: answer.status }).toEqual({ path, status: 404 });
      expect(bodyOf(answer).error).toBe('not_found');
    }
    expect(protectedResourceAnswer('GET', '/.well-known/oauth-protected-resource', undefined, 'r').status).toBe(404);
    expect(protectedResourceAnswer('POST', '/.well-known/oauth-protected-resource', BASE, 'r').status).toBe(405);
    const preflight = protectedResourceAnswer('OPTIONS', '/.well-known/oauth-protected-resource/mcp/github', BASE, 'r');
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': '*', 'access-control-allow-headers': '*' });
    expect(protectedResourceAnswer('HEAD', '/.well-known/oauth-protected-resource', BASE, 'r')).toMatchObject({ status: 200, body: null });
  });
});

describe('public base URL', () => {
  test('API Gateway: the stage on the execute-api host name, none on a custom domain', () => {
    expect(apiGatewayBaseUrl('abc123.execute-api.eu-west-1.amazonaws.com', 'prod')).toBe('https://abc123.execute-api.eu-west-1.amazonaws.com/prod');
    expect(apiGatewayBaseUrl('mcp.example.com', 'prod')).toBe('https://mcp.example.com');
    expect(apiGatewayBaseUrl(undefined, 'prod')).toBeUndefined();
  });

  test('local: http://<Host>; nothing that could break out of a quoted header value', () => {
    expect(hostBaseUrl('127.0.0.1:8787')).toBe('http://127.0.0.1:8787');
    expect(hostBaseUrl('[::1]:8787')).toBe('http://[::1]:8787');
    expect(hostBaseUrl('a".localhost')).toBeUndefined();
    expect(hostBaseUrl(null)).toBeUndefined();
    expect(checkedBaseUrl('https://gw.example.com/')).toBeUndefined();
    expect(checkedBaseUrl('https://gw.example.com/a/b')).toBeUndefined();
  });
});

describe('challenges', () => {
  test('401 names the metadata and every scope; invalid_token when a credential was refused; a non-slug gets the root form', () => {
    expect(unauthorizedChallenge(BASE, 'github')).toBe(`Bearer resource_metadata="${BASE}/.well-known/oauth-protected-resource/mcp/github", scope="mcp:tools mcp:resources mcp:prompts"`);
    expect(unauthorizedChallenge(BASE, 'github', 'invalid_token')).toMatch(/^Bearer error="invalid_token", resource_metadata=/);
    expect(unauthorizedChallenge(BASE, 'x"y')).toBe(`Bearer resource_metadata="${BASE}/.well-known/oauth-protected-resource", scope="mcp:tools mcp:resources mcp:prompts"`);
  });

  test('403 insufficient_scope names what is needed with what is granted', () => {
    const messages = inspect([{ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'x' } }]);
    const needed = scopesNeeded(messages);
    expect(needed).toEqual(['mcp:tools']);
    expect(missingScopes(needed, new Set(['mcp:resources']))).toEqual(['mcp:tools']);
    expect(insufficientScopeChallenge(BASE, 'github', ['mcp:tools', 'mcp:resources'])).toContain('scope="mcp:tools mcp:resources"');
  });
});

function inspect(body: unknown) {
  const inspected = inspectBody(JSON.stringify(body));
  if (!inspected.ok) throw new Error('not a message');
  return inspected.messages;
}

describe('credentials', () => {
  const headers = (entries: Record<string, string>) => new Headers(entries);

  test('API keys by their prefix; any other bearer value is an access token; X-API-Key carries only keys', () => {
    expect(presentedCredential(headers({ authorization: 'Bearer pmcp_abc' }))).toEqual({ kind: 'api_key', value: 'pmcp_abc' });
    expect(presentedCredential(headers({ authorization: 'Bearer opaque.token-value' }))).toEqual({ kind: 'access_token', value: 'opaque.token-value' });
    expect(presentedCredential(headers({ 'x-api-key': 'pmcp_abc' }))).toEqual({ kind: 'api_key', value: 'pmcp_abc' });
    expect(presentedCredential(headers({ 'x-api-key': 'opaque' }))).toBeUndefined();
    expect(presentedCredential(headers({}))).toBeUndefined();
  });

  test('the upstream never receives the caller’s Authorization (no token passthrough): only the MCP’s own credential', () => {
    const mcp = { upstreamAuth: { type: 'none' } } as unknown as StoredMcpServer;
    const client = headers({ authorization: 'Bearer opaque-client-token', 'x-api-key': 'pmcp_key', accept: 'application/json', 'content-type': 'application/json' });
    const sent = upstreamHeaders(client, 'req-1', mcp, undefined, {}, undefined);
    expect(Object.keys(sent)).not.toContain('authorization');
    expect(Object.keys(sent)).not.toContain('x-api-key');
    expect(JSON.stringify(sent)).not.toContain('opaque-client-token');
    const withOwn = upstreamHeaders(client, 'req-1', { upstreamAuth: { type: 'bearer' } } as unknown as StoredMcpServer, 'upstream-secret', {}, undefined);
    expect(withOwn.authorization).toBe('Bearer upstream-secret');
  });
});
