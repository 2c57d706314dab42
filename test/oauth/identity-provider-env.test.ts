import { identityProviderProblem, parseClientSecret, parseIdentityProviderEnv } from '../../lambda/oauth/identity-provider-env';

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:plexmcp/idp-AbCdEf';
const okta = { issuer: 'https://acme.okta.com', clientId: '0oa1example', orgClaim: 'groups' };
const env = (config: unknown) => JSON.stringify(config);

describe('parseIdentityProviderEnv', () => {
  test('unset (or empty): no identity provider', () => {
    expect(parseIdentityProviderEnv(undefined, undefined)).toBeUndefined();
    expect(parseIdentityProviderEnv('', '')).toBeUndefined();
  });

  test('the required fields alone: a public client', () => {
    expect(parseIdentityProviderEnv(env(okta), undefined)).toEqual({ provider: okta });
    expect(parseIdentityProviderEnv(env(okta), '')).toEqual({ provider: okta });
  });

  test('every field, and the secret ARN of a confidential client', () => {
    const full = {
      issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123',
      clientId: '4example5client',
      displayName: 'Acme SSO',
      orgClaim: 'cognito:groups',
      orgs: { 'plexmcp-admins-acme': 'acme' },
      scopes: ['openid', 'email'],
    };
    expect(parseIdentityProviderEnv(env(full), SECRET_ARN)).toEqual({ provider: full, clientSecretArn: SECRET_ARN });
  });

  test('issuers as the providers write them: a bare host with or without its slash, a path', () => {
    for (const issuer of ['https://acme.okta.com/', 'https://acme.okta.com/oauth2/default', 'https://login.microsoftonline.com/0d1e2f3a-0000-4000-8000-000000000000/v2.0', 'https://idp.example.com:8443']) {
      expect(parseIdentityProviderEnv(env({ ...okta, issuer }), undefined)?.provider.issuer).toBe(issuer);
    }
  });

  test.each<[string, string | undefined, string | undefined, string]>([
    ['broken JSON', '{"issuer":', undefined, 'environment variable PLEXMCP_IDP is not JSON'],
    ['a JSON array', '[]', undefined, 'environment variable PLEXMCP_IDP must be a JSON object'],
    ['JSON null', 'null', undefined, 'environment variable PLEXMCP_IDP must be a JSON object'],
    ['a misspelt field', env({ ...okta, org: { a: 'b' } }), undefined, 'environment variable PLEXMCP_IDP has unknown fields: org'],
    ['a secret in the JSON', env({ ...okta, clientSecret: 'x' }), undefined, 'environment variable PLEXMCP_IDP has unknown fields: clientSecret'],
    ['no issuer', env({ clientId: 'a', orgClaim: 'groups' }), undefined, 'environment variable PLEXMCP_IDP: issuer must be an https:// URL'],
    ['an http issuer', env({ ...okta, issuer: 'http://acme.okta.com' }), undefined, 'environment variable PLEXMCP_IDP: issuer must be an https:// URL'],
    ['no client id', env({ issuer: okta.issuer, orgClaim: 'groups' }), undefined, 'environment variable PLEXMCP_IDP: clientId must be a non-empty string'],
    ['a numeric client id', env({ ...okta, clientId: 42 }), undefined, 'environment variable PLEXMCP_IDP: clientId must be a non-empty string'],
    ['no org claim', env({ issuer: okta.issuer, clientId: 'a' }), undefined, 'environment variable PLEXMCP_IDP: orgClaim must be the name of an ID token claim'],
    ['orgs as a list', env({ ...okta, orgs: ['acme'] }), undefined, 'environment variable PLEXMCP_IDP: orgs must map at least one claim value'],
    ['a numeric org id', env({ ...okta, orgs: { admins: 7 } }), undefined, 'environment variable PLEXMCP_IDP: orgs["admins"] must be an org id of 1-128 characters'],
    ['scopes as one string', env({ ...okta, scopes: 'openid email' }), undefined, 'environment variable PLEXMCP_IDP: scopes must be a list of scope names'],
    ['a secret ARN without the provider', undefined, SECRET_ARN, 'environment variable PLEXMCP_IDP_CLIENT_SECRET_ARN is set without PLEXMCP_IDP'],
  ])('refuses %s, naming the variable', (_label, json, arn, message) => {
    expect(() => parseIdentityProviderEnv(json, arn)).toThrow(message);
  });
});

describe('identityProviderProblem', () => {
  test('nothing wrong with a complete configuration', () => {
    expect(identityProviderProblem({ ...okta, displayName: 'Okta', orgs: { 'PlexMCP Admins': 'acme' }, scopes: ['openid', 'groups'] })).toBeUndefined();
  });

  test('a scope may not hold a quote or a backslash (RFC 6749 scope tokens)', () => {
    expect(identityProviderProblem({ ...okta, scopes: ['a"b'] })).toMatch(/^scopes must be/);
    expect(identityProviderProblem({ ...okta, scopes: ['a\\b'] })).toMatch(/^scopes must be/);
    expect(identityProviderProblem({ ...okta, scopes: [] })).toBeUndefined();
  });
});

describe('parseClientSecret', () => {
  test('the secret itself, trimmed', () => {
    expect(parseClientSecret('s3cr3t-value\n')).toBe('s3cr3t-value');
    // Not JSON: a secret that begins with a brace is a secret like any other.
    expect(parseClientSecret('{abc')).toBe('{abc');
  });

  test.each([
    ['an empty value', '  \n', 'the identity provider client secret is empty'],
    ['JSON key/value pairs (the Secrets Manager console default)', '{"clientSecret":"s3cr3t"}', 'must be the secret itself as plain text, not JSON key/value pairs'],
  ])('refuses %s', (_label, value, message) => {
    expect(() => parseClientSecret(value)).toThrow(message);
  });
});
