import { randomBytes, randomUUID } from 'node:crypto';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { ensureOAuthTable } from '../../lambda/adapters/dynamodb-oauth-store';
import { parseCookieKeys } from '../../lambda/oauth/cookie-keys';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { startFakeKmsAndSecrets } from '../support/fake-aws-json';

// The OAuth Lambda module as deployed: its environment, its DynamoDB client (pointed at the test
// engine through the SDK's standard endpoint variable), Secrets Manager through the loopback
// stand-in, serverless-http and the real authorization server (oidc-provider).
type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:plexmcp/oauth-cookie-keys-AbCdEf';
const EXECUTE_API = 'abc123defg.execute-api.us-east-1.amazonaws.com';
const context = { awsRequestId: 'inv-1', functionName: 'PlexMcp-OAuth' } as Context;
const saved = { ...process.env };

let db: TestDynamoDb;
let oauthTable: string;
let fakeAws: Awaited<ReturnType<typeof startFakeKmsAndSecrets>>;
const secrets: Record<string, string> = {};
let lines: string[] = [];

/** A fresh copy of the handler module (its own runtime and key cache), with `env` on top of the test's. */
function loadHandler(env: Record<string, string> = {}): Handler {
  Object.assign(process.env, env);
  let handler: Handler | undefined;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require('../../lambda/oauth/handler').handler;
  });
  return handler!;
}

beforeAll(async () => {
  db = await startTestDynamoDb();
  oauthTable = `oauth-${randomUUID()}`;
  await ensureOAuthTable(db.client, oauthTable);
  const registryTable = await db.newRegistryTable();
  secrets[SECRET_ARN] = randomBytes(32).toString('base64url');
  fakeAws = await startFakeKmsAndSecrets(secrets);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: fakeAws.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    POWERTOOLS_SERVICE_NAME: 'plexmcp-oauth',
    PLEXMCP_REGISTRY_TABLE: registryTable,
    PLEXMCP_OAUTH_TABLE: oauthTable,
    PLEXMCP_AUDIT_TABLE: 'unused-audit',
    PLEXMCP_OAUTH_COOKIE_SECRET_ARN: SECRET_ARN,
  });
  delete process.env.PLEXMCP_PUBLIC_BASE_URL;
  delete process.env.PLEXMCP_EVENT_BUS_NAME;
});
afterAll(async () => {
  process.env = saved;
  await fakeAws.close();
  await db.close();
});

/** A REST API proxy event as API Gateway sends it (resource, path without the stage, request context). */
function apiEvent(options: { method: string; path: string; resource: string; domainName: string; stage?: string; body?: string; headers?: Record<string, string> }): APIGatewayProxyEvent {
  const headers = { Host: options.domainName, ...(options.headers ?? {}) };
  return {
    resource: options.resource,
    path: options.path,
    httpMethod: options.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: options.resource.includes('{proxy+}') ? { proxy: options.path.replace(/^\/oauth\//, '') } : null,
    stageVariables: null,
    body: options.body ?? null,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abc123defg',
      domainName: options.domainName,
      stage: options.stage ?? 'prod',
      requestId: `req-${randomUUID()}`,
      httpMethod: options.method,
      path: `/${options.stage ?? 'prod'}${options.path}`,
      resourcePath: options.resource,
      resourceId: 'r1',
      protocol: 'HTTP/1.1',
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: '203.0.113.7' },
    } as APIGatewayProxyEvent['requestContext'],
  };
}

async function invoke(handler: Handler, event: APIGatewayProxyEvent): Promise<APIGatewayProxyResult> {
  lines = [];
  // Powertools writes INFO lines to stdout and WARN/ERROR lines to stderr: both are the log.
  const capture = (chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line !== '') lines.push(line);
    return true;
  };
  const writes = [jest.spyOn(process.stdout, 'write').mockImplementation(capture), jest.spyOn(process.stderr, 'write').mockImplementation(capture)];
  try {
    return await handler(event, context);
  } finally {
    for (const write of writes) write.mockRestore();
  }
}

const discovery = (domainName: string) =>
  apiEvent({ method: 'GET', path: '/.well-known/oauth-authorization-server', resource: '/.well-known/oauth-authorization-server', domainName, headers: { Accept: 'application/json' } });
const secretReads = () => fakeAws.calls.filter((c) => c.target === 'secretsmanager.GetSecretValue').length;

describe('the OAuth Lambda', () => {
  test('on the execute-api host name the issuer and every endpoint carry the stage', async () => {
    const handler = loadHandler();
    const answer = await invoke(handler, discovery(EXECUTE_API));
    expect(answer.statusCode).toBe(200);
    const metadata = JSON.parse(answer.body) as Record<string, unknown>;
    const issuer = `https://${EXECUTE_API}/prod`;
    expect(metadata).toMatchObject({
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      registration_endpoint: `${issuer}/oauth/register`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      jwks_uri: `${issuer}/oauth/jwks`,
      code_challenge_methods_supported: ['S256'],
      authorization_response_iss_parameter_supported: true,
    });
    expect(metadata.token_endpoint_auth_methods_supported).toContain('none');
    // One log line per request, with what identifies it and nothing of the body.
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((r) => r.message === 'oauth request');
    expect(records).toEqual([expect.objectContaining({ level: 'INFO', service: 'plexmcp-oauth', method: 'GET', resource: '/.well-known/oauth-authorization-server', status: 200 })]);
  });

  test('on a custom domain the issuer is the domain itself; PLEXMCP_PUBLIC_BASE_URL overrides both', async () => {
    const handler = loadHandler();
    const custom = JSON.parse((await invoke(handler, discovery('mcp.example.com'))).body) as Record<string, unknown>;
    expect(custom).toMatchObject({ issuer: 'https://mcp.example.com', token_endpoint: 'https://mcp.example.com/oauth/token' });

    const configured = loadHandler({ PLEXMCP_PUBLIC_BASE_URL: 'https://api.example.com/plex/' });
    try {
      // A custom domain with the base path mapping `plex`: API Gateway's path includes the mapping.
      const event = apiEvent({ method: 'GET', path: '/plex/.well-known/oauth-authorization-server', resource: '/.well-known/oauth-authorization-server', domainName: 'api.example.com' });
      const answer = await invoke(configured, event);
      expect(answer.statusCode).toBe(200);
      expect(JSON.parse(answer.body)).toMatchObject({ issuer: 'https://api.example.com/plex', token_endpoint: 'https://api.example.com/plex/oauth/token' });
    } finally {
      delete process.env.PLEXMCP_PUBLIC_BASE_URL;
    }
  });

  test('dynamic client registration through API Gateway: a public client stored under a hash, nothing of the body logged', async () => {
    const handler = loadHandler();
    const clientName = `Handler test client ${randomUUID()}`;
    const body = JSON.stringify({ client_name: clientName, redirect_uris: ['https://claude.ai/api/mcp/auth_callback'], token_endpoint_auth_method: 'client_secret_post' });
    const answer = await invoke(handler, apiEvent({ method: 'POST', path: '/oauth/register', resource: '/oauth/{proxy+}', domainName: 'mcp.example.com', body, headers: { 'Content-Type': 'application/json' } }));
    expect(answer.statusCode).toBe(201);
    const client = JSON.parse(answer.body) as { client_id: string; token_endpoint_auth_method: string; client_secret?: string };
    expect(client.token_endpoint_auth_method).toBe('none');
    expect(client.client_secret).toBeUndefined();
    expect(answer.headers?.['cache-control'] ?? answer.multiValueHeaders?.['cache-control']?.[0]).toMatch(/no-store/);
    const items = (await db.client.send(new ScanCommand({ TableName: oauthTable }))).Items ?? [];
    const stored = items.filter((item) => item.pk?.S?.startsWith('Client#'));
    expect(stored.length).toBeGreaterThan(0);
    expect(JSON.stringify(items)).not.toContain(client.client_id);
    expect(lines.join('\n')).not.toContain(clientName);
    expect(lines.join('\n')).not.toContain('auth_callback');
  });

  test('on a stage URL the authorization redirects to the consent page under the stage, and the page writes its URLs under it', async () => {
    const handler = loadHandler();
    const issuer = `https://${EXECUTE_API}/prod`;
    const body = JSON.stringify({ client_name: 'Stage client', redirect_uris: ['https://claude.ai/api/mcp/auth_callback'] });
    const registered = await invoke(handler, apiEvent({ method: 'POST', path: '/oauth/register', resource: '/oauth/{proxy+}', domainName: EXECUTE_API, body, headers: { 'Content-Type': 'application/json' } }));
    const clientId = (JSON.parse(registered.body) as { client_id: string }).client_id;
    const query = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'https://claude.ai/api/mcp/auth_callback', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: `${issuer}/mcp/github`, state: 's' });
    const authorize = apiEvent({ method: 'GET', path: '/oauth/authorize', resource: '/oauth/{proxy+}', domainName: EXECUTE_API });
    const answer = await invoke(handler, { ...authorize, queryStringParameters: Object.fromEntries(query), multiValueQueryStringParameters: Object.fromEntries([...query].map(([k, v]) => [k, [v]])) });
    expect(answer.statusCode).toBe(303);
    const location = String(answer.headers?.location ?? answer.multiValueHeaders?.location?.[0]);
    expect(location).toMatch(/^\/prod\/oauth\/consent\/[A-Za-z0-9_-]+$/);
    const cookies = (answer.multiValueHeaders?.['set-cookie'] ?? []).map((c) => String(c).split(';')[0]).join('; ');
    const uid = location.split('/').pop()!;
    const page = await invoke(handler, apiEvent({ method: 'GET', path: `/oauth/consent/${uid}`, resource: '/oauth/{proxy+}', domainName: EXECUTE_API, headers: { Cookie: cookies } }));
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`action="/prod/oauth/consent/${uid}/login"`);
    expect(page.body).toContain('href="/prod/oauth/consent.css"');
  });

  test('the cookie keys are read once per bound; a failed re-read keeps the current keys, a failed first read is a 500 without detail', async () => {
    const cached = loadHandler();
    const before = secretReads();
    await invoke(cached, discovery(EXECUTE_API));
    await invoke(cached, discovery(EXECUTE_API));
    expect(secretReads() - before).toBe(1);

    // Bound 0: every request reads the secret again; a value that holds no usable key is not used.
    const rereading = loadHandler({ PLEXMCP_OAUTH_COOKIE_KEYS_MAX_AGE_SECONDS: '0' });
    try {
      expect((await invoke(rereading, discovery(EXECUTE_API))).statusCode).toBe(200);
      const good = secrets[SECRET_ARN]!;
      secrets[SECRET_ARN] = 'too-short';
      try {
        const kept = await invoke(rereading, discovery(EXECUTE_API));
        expect(kept.statusCode).toBe(200);
        expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual(expect.objectContaining({ level: 'WARN', message: 'oauth cookie keys not re-read; the current ones stay in use' }));
        expect(lines.join('\n')).not.toContain('too-short');

        const fresh = loadHandler();
        const refused = await invoke(fresh, discovery(EXECUTE_API));
        expect(refused.statusCode).toBe(500);
        expect(JSON.parse(refused.body)).toMatchObject({ error: 'server_error' });
        expect(refused.body).not.toContain('cookie');
      } finally {
        secrets[SECRET_ARN] = good;
      }
      // A rotation: the new key first, the old one after it.
      secrets[SECRET_ARN] = JSON.stringify([randomBytes(32).toString('base64url'), good]);
      expect((await invoke(rereading, discovery(EXECUTE_API))).statusCode).toBe(200);
    } finally {
      delete process.env.PLEXMCP_OAUTH_COOKIE_KEYS_MAX_AGE_SECONDS;
    }
  });
});

describe('the OAuth Lambda with an identity provider (PLEXMCP_IDP)', () => {
  const IDP_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:plexmcp/idp-GhIjKl';
  const IDP = JSON.stringify({ issuer: 'https://acme.okta.com', clientId: '0oa1example', displayName: 'Acme SSO', orgClaim: 'groups', orgs: { 'PlexMCP Admins': 'acme' } });
  const idpReads = () => fakeAws.calls.filter((c) => c.target === 'secretsmanager.GetSecretValue' && c.body.SecretId === IDP_SECRET_ARN).length;
  const withIdp = (env: Record<string, string> = {}) => loadHandler({ PLEXMCP_IDP: IDP, PLEXMCP_IDP_CLIENT_SECRET_ARN: IDP_SECRET_ARN, ...env });
  beforeEach(() => {
    secrets[IDP_SECRET_ARN] = 'okta-client-secret-value';
  });
  afterEach(() => {
    delete process.env.PLEXMCP_IDP;
    delete process.env.PLEXMCP_IDP_CLIENT_SECRET_ARN;
    delete process.env.PLEXMCP_OAUTH_COOKIE_KEYS_MAX_AGE_SECONDS;
    delete secrets[IDP_SECRET_ARN];
  });

  /** The consent page of a new authorization request on the custom domain. */
  async function consentPage(handler: Handler): Promise<{ uid: string; body: string }> {
    const domainName = 'mcp.example.com';
    const body = JSON.stringify({ client_name: 'IdP client', redirect_uris: ['https://claude.ai/api/mcp/auth_callback'] });
    const registered = await invoke(handler, apiEvent({ method: 'POST', path: '/oauth/register', resource: '/oauth/{proxy+}', domainName, body, headers: { 'Content-Type': 'application/json' } }));
    const clientId = (JSON.parse(registered.body) as { client_id: string }).client_id;
    const query = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'https://claude.ai/api/mcp/auth_callback', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: `https://${domainName}/mcp/github`, state: 's' });
    const authorize = apiEvent({ method: 'GET', path: '/oauth/authorize', resource: '/oauth/{proxy+}', domainName });
    const answer = await invoke(handler, { ...authorize, queryStringParameters: Object.fromEntries(query), multiValueQueryStringParameters: Object.fromEntries([...query].map(([k, v]) => [k, [v]])) });
    expect(answer.statusCode).toBe(303);
    const location = String(answer.headers?.location ?? answer.multiValueHeaders?.location?.[0]);
    const cookies = (answer.multiValueHeaders?.['set-cookie'] ?? []).map((c) => String(c).split(';')[0]).join('; ');
    const uid = location.split('/').pop()!;
    const page = await invoke(handler, apiEvent({ method: 'GET', path: `/oauth/consent/${uid}`, resource: '/oauth/{proxy+}', domainName, headers: { Cookie: cookies } }));
    expect(page.statusCode).toBe(200);
    return { uid, body: page.body };
  }

  test('the consent page offers the provider beside the key form; without PLEXMCP_IDP it does not', async () => {
    const { uid, body } = await consentPage(withIdp());
    expect(body).toContain(`href="/oauth/consent/${uid}/idp"`);
    expect(body).toContain('Sign in with Acme SSO');
    expect(body).toContain(`action="/oauth/consent/${uid}/login"`);
    expect(lines.join('\n')).not.toContain('okta-client-secret-value');

    delete process.env.PLEXMCP_IDP;
    delete process.env.PLEXMCP_IDP_CLIENT_SECRET_ARN;
    const plain = await consentPage(loadHandler());
    expect(plain.body).not.toContain('/idp"');
    expect(plain.body).not.toContain('Sign in with');
  });

  test('the client secret is read with the cookie keys: once per bound, and again with them', async () => {
    const cached = withIdp();
    const [before, idpBefore] = [secretReads(), idpReads()];
    await invoke(cached, discovery('mcp.example.com'));
    await invoke(cached, discovery('mcp.example.com'));
    expect([secretReads() - before, idpReads() - idpBefore]).toEqual([2, 1]);

    const rereading = withIdp({ PLEXMCP_OAUTH_COOKIE_KEYS_MAX_AGE_SECONDS: '0' });
    const idpAgain = idpReads();
    expect((await invoke(rereading, discovery('mcp.example.com'))).statusCode).toBe(200);
    expect((await invoke(rereading, discovery('mcp.example.com'))).statusCode).toBe(200);
    expect(idpReads() - idpAgain).toBe(2);
  });

  test('an unusable client secret: a warm instance keeps the one it has and warns, a cold one answers 500 without detail', async () => {
    const rereading = withIdp({ PLEXMCP_OAUTH_COOKIE_KEYS_MAX_AGE_SECONDS: '0' });
    expect((await invoke(rereading, discovery('mcp.example.com'))).statusCode).toBe(200);
    // What the Secrets Manager console writes by default: key/value pairs, not the secret itself.
    secrets[IDP_SECRET_ARN] = JSON.stringify({ clientSecret: 'okta-client-secret-value' });
    expect((await invoke(rereading, discovery('mcp.example.com'))).statusCode).toBe(200);
    expect(lines.map((line) => JSON.parse(line) as Record<string, unknown>)).toContainEqual(
      expect.objectContaining({ level: 'WARN', message: 'oauth identity provider client secret not re-read; the current one stays in use' }),
    );

    const cold = await invoke(withIdp(), discovery('mcp.example.com'));
    expect(cold.statusCode).toBe(500);
    expect(JSON.parse(cold.body)).toMatchObject({ error: 'server_error' });
    expect(lines.join('\n')).not.toContain('okta-client-secret-value');

    delete secrets[IDP_SECRET_ARN];
    expect((await invoke(withIdp(), discovery('mcp.example.com'))).statusCode).toBe(500);
  });

  test('a broken PLEXMCP_IDP fails the function\'s init, naming the variable', () => {
    expect(() => loadHandler({ PLEXMCP_IDP: '{"issuer":' })).toThrow('environment variable PLEXMCP_IDP is not JSON');
    expect(() => loadHandler({ PLEXMCP_IDP: JSON.stringify({ issuer: 'https://acme.okta.com', clientId: '0oa1example' }) })).toThrow('environment variable PLEXMCP_IDP: orgClaim must be');
    delete process.env.PLEXMCP_IDP;
    expect(() => loadHandler({ PLEXMCP_IDP_CLIENT_SECRET_ARN: IDP_SECRET_ARN })).toThrow('PLEXMCP_IDP_CLIENT_SECRET_ARN is set without PLEXMCP_IDP');
  });
});

describe('parseCookieKeys', () => {
  const key = (n: number) => String(n).repeat(40).slice(0, 40);
  test('one plain string, or a JSON array newest first (trimmed)', () => {
    expect(parseCookieKeys(` ${key(1)}\n`)).toEqual([key(1)]);
    expect(parseCookieKeys(JSON.stringify([key(1), ` ${key(2)} `]))).toEqual([key(1), key(2)]);
  });
  test.each([
    ['a short key', 'short', 'must be a string of at least 32 characters'],
    ['an empty array', '[]', 'one key or a JSON array of 1 to 8 keys'],
    ['nine keys', JSON.stringify(Array.from({ length: 9 }, (_, i) => key(i))), 'one key or a JSON array of 1 to 8 keys'],
    ['a non-string key', JSON.stringify([key(1), 42]), 'OAuth cookie key 1 must be a string'],
    ['broken JSON', `[${key(1)}`, 'is not a JSON array'],
    ['an empty value', '   ', 'must be a string of at least 32 characters'],
  ])('refuses %s', (_label, value, message) => {
    expect(() => parseCookieKeys(value)).toThrow(message);
  });
});
