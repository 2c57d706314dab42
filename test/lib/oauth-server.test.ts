import { CfnResource, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PlexFunction } from '../../lib/lambda-defaults';
import { OAuthServer, type OAuthServerProps } from '../../lib/oauth-server';
import { PlexApi } from '../../lib/plex-api';
import { ACCOUNT, actionsOf, roleLogicalIdOf, statementsOfRole, testApp, testStack, type Statement } from './helpers';

/** The construct with the fixtures it is given (a REST API, a registry table, a gateway function, a bus). */
function build(props: Partial<OAuthServerProps> = {}, stack: Stack = testStack()) {
  const api = new PlexApi(stack, 'Api');
  const registryTable = new dynamodb.TableV2(stack, 'Registry', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING }, sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING } });
  const gatewayFunction = new PlexFunction(stack, 'Gateway', { entry: 'lambda/gateway/handler.ts' });
  const eventBus = new events.EventBus(stack, 'Bus');
  const oauth = new OAuthServer(stack, 'OAuth', {
    api: api.api,
    registryTable,
    gatewayFunction,
    audit: { tableName: 'plexmcp-audit', region: stack.region },
    eventBus,
    ...props,
  });
  return { stack, api, registryTable, gatewayFunction, eventBus, oauth };
}

const ref = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => stack.resolve((construct.node.defaultChild as { ref: string }).ref);
const arnOf = (stack: Stack, table: dynamodb.ITableV2) => stack.resolve(table.tableArn);
const indexArn = (stack: Stack, tableArn: string, index: string) => stack.resolve(`${tableArn}/index/${index}`);
const statementsOf = (template: Template, stack: Stack, fn: lambda.IFunction) => statementsOfRole(template, roleLogicalIdOf(template, stack, fn));
/** The statements of a role, without the ones every PlexFunction has (logs, X-Ray). */
const dataStatements = (statements: Statement[]) => statements.filter((s) => !actionsOf(s).some((a) => a.startsWith('logs:') || a.startsWith('xray:')));

describe('OAuthServer', () => {
  test('the OAuth table: pk only, byGrant and bySessionUid KEYS_ONLY, TTL expiresAt, on-demand, PITR and deletion protection on every replica, retained', () => {
    const { stack } = build({ replicaRegions: ['eu-west-1'] });
    Template.fromStack(stack).hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        TableName: 'plexmcp-oauth',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'grantId', AttributeType: 'S' },
          { AttributeName: 'uid', AttributeType: 'S' },
        ],
        GlobalSecondaryIndexes: [
          { IndexName: 'byGrant', KeySchema: [{ AttributeName: 'grantId', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } },
          { IndexName: 'bySessionUid', KeySchema: [{ AttributeName: 'uid', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } },
        ],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        BillingMode: 'PAY_PER_REQUEST',
        StreamSpecification: Match.anyValue(),
        Replicas: [
          Match.objectLike({ Region: 'eu-west-1', DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
          Match.objectLike({ Region: 'us-east-1', DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
        ],
      },
    });
  });

  test('tableName, deletionProtection and removalPolicy are passed through', () => {
    const { stack } = build({ tableName: 'other-oauth', deletionProtection: false, removalPolicy: RemovalPolicy.DESTROY });
    Template.fromStack(stack).hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ TableName: 'other-oauth', Replicas: [Match.objectLike({ Region: 'us-east-1', DeletionProtectionEnabled: false })] }),
    });
  });

  test('the cookie-key secret: generated 64 characters without punctuation, its fixed name, replicated with the table', () => {
    const { stack } = build({ replicaRegions: ['eu-west-1', 'ap-southeast-2'] });
    Template.fromStack(stack).hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'plexmcp/oauth-cookie-keys',
      GenerateSecretString: { PasswordLength: 64, ExcludePunctuation: true },
      ReplicaRegions: [{ Region: 'eu-west-1' }, { Region: 'ap-southeast-2' }],
    });
  });

  test('the function: the handler, arm64 Node 22, its environment (tables, regions, secret, bus)', () => {
    const { stack, oauth, registryTable, eventBus } = build();
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^PlexMCP OAuth authorization server'),
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 29,
      Environment: {
        Variables: {
          POWERTOOLS_SERVICE_NAME: 'plexmcp-oauth',
          POWERTOOLS_METRICS_NAMESPACE: 'PlexMCP',
          PLEXMCP_MODE: 'aws',
          PLEXMCP_REGISTRY_TABLE: stack.resolve(registryTable.tableName),
          PLEXMCP_OAUTH_TABLE: 'plexmcp-oauth',
          PLEXMCP_OAUTH_REGION: 'us-east-1',
          PLEXMCP_AUDIT_TABLE: 'plexmcp-audit',
          PLEXMCP_AUDIT_REGION: 'us-east-1',
          PLEXMCP_OAUTH_COOKIE_SECRET_ARN: ref(stack, oauth.cookieSecret),
          PLEXMCP_EVENT_BUS_NAME: stack.resolve(eventBus.eventBusName),
        },
      },
    });
  });

  test('least privilege: exactly these statements on the OAuth table, registry, audit table, bus and secret; no KMS, no Scan', () => {
    const { stack, oauth, registryTable, eventBus } = build();
    const template = Template.fromStack(stack);
    const tableArn = arnOf(stack, oauth.table);
    const registryArn = arnOf(stack, registryTable);
    const auditArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:us-east-1:${ACCOUNT}:table/plexmcp-audit`]] };
    const statements = dataStatements(statementsOf(template, stack, oauth.function));
    const nullKey = { Null: { 'dynamodb:LeadingKeys': 'false' } };
    expect(statements).toEqual(
      expect.arrayContaining([
        { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'], Resource: tableArn },
        { Effect: 'Allow', Action: 'dynamodb:Query', Resource: [indexArn(stack, oauth.table.tableArn, 'byGrant'), indexArn(stack, oauth.table.tableArn, 'bySessionUid')] },
        { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Query'], Resource: registryArn },
        { Effect: 'Allow', Action: 'dynamodb:Query', Resource: indexArn(stack, registryTable.tableArn, 'gsi1') },
        {
          Effect: 'Allow',
          Action: ['dynamodb:PutItem', 'dynamodb:UpdateItem'],
          Resource: registryArn,
          Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['KEY#*'] }, ...nullKey },
        },
        {
          Effect: 'Allow',
          Action: 'dynamodb:UpdateItem',
          Resource: registryArn,
          Condition: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['ORG#*'] },
            'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', 'entity', 'mcpServers', 'apiKeys', 'version', 'changedAt', 'inFlight'] },
            ...nullKey,
          },
        },
        { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: auditArn, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['ORG#*'] } } },
        { Effect: 'Allow', Action: 'dynamodb:UpdateItem', Resource: auditArn, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEAD#*'] } } },
        { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Query'], Resource: auditArn },
        { Effect: 'Allow', Action: 'events:PutEvents', Resource: stack.resolve(eventBus.eventBusArn) },
        { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: ref(stack, oauth.cookieSecret) },
      ]),
    );
    expect(statements).toHaveLength(11);
    const actions = statements.flatMap(actionsOf);
    expect(actions.filter((a) => a.startsWith('kms:') || a === 'dynamodb:Scan' || a.startsWith('dynamodb:PartiQL'))).toEqual([]);
  });

  describe('identityProvider', () => {
    const IDP_SECRET_ARN = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:plexmcp/idp-AbCdEf`;
    const cognito = {
      issuer: 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf123',
      clientId: '4example5client6id',
      orgClaim: 'cognito:groups',
    };
    const idpSecret = (stack: Stack) => secretsmanager.Secret.fromSecretCompleteArn(stack, 'IdpSecret', IDP_SECRET_ARN);
    const oauthFunctionEnv = (template: Template) => {
      const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^PlexMCP OAuth') } }));
      return (fn!.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
    };

    test('PLEXMCP_IDP is the provider without its secret, as JSON; PLEXMCP_IDP_CLIENT_SECRET_ARN names the secret', () => {
      const stack = testStack();
      const identityProvider = { ...cognito, clientSecret: idpSecret(stack), displayName: 'Acme SSO', orgs: { 'plexmcp-admins-acme': 'acme', 'plexmcp-admins-beta': 'beta' }, scopes: ['openid', 'email'] };
      build({ identityProvider }, stack);
      const env = oauthFunctionEnv(Template.fromStack(stack));
      expect(JSON.parse(env.PLEXMCP_IDP as string)).toEqual({
        issuer: cognito.issuer,
        clientId: cognito.clientId,
        displayName: 'Acme SSO',
        orgClaim: 'cognito:groups',
        orgs: { 'plexmcp-admins-acme': 'acme', 'plexmcp-admins-beta': 'beta' },
        scopes: ['openid', 'email'],
      });
      expect(env.PLEXMCP_IDP as string).not.toContain('secret');
      expect(env.PLEXMCP_IDP_CLIENT_SECRET_ARN).toBe(IDP_SECRET_ARN);
    });

    test('a public client: the optional fields and the secret variable are left out', () => {
      const { stack } = build({ identityProvider: cognito });
      const env = oauthFunctionEnv(Template.fromStack(stack));
      expect(JSON.parse(env.PLEXMCP_IDP as string)).toEqual(cognito);
      expect(env).not.toHaveProperty('PLEXMCP_IDP_CLIENT_SECRET_ARN');
    });

    test('without it, neither variable is set', () => {
      const env = oauthFunctionEnv(Template.fromStack(build().stack));
      expect(env).not.toHaveProperty('PLEXMCP_IDP');
      expect(env).not.toHaveProperty('PLEXMCP_IDP_CLIENT_SECRET_ARN');
    });

    test('the function may read the client secret, and that secret only, beside the cookie keys', () => {
      const stack = testStack();
      const { oauth } = build({ identityProvider: { ...cognito, clientSecret: idpSecret(stack) } }, stack);
      const secretStatements = dataStatements(statementsOf(Template.fromStack(stack), stack, oauth.function)).filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
      expect(secretStatements).toEqual([
        { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: ref(stack, oauth.cookieSecret) },
        { Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: IDP_SECRET_ARN },
      ]);
    });

    test('a regional construct takes it too, with a secret of its own region', () => {
      const stack = testStack(testApp(), 'Regional', 'eu-west-1');
      const cookieSecret = secretsmanager.Secret.fromSecretNameV2(stack, 'Cookies', 'plexmcp/oauth-cookie-keys');
      const clientSecret = secretsmanager.Secret.fromSecretNameV2(stack, 'IdpSecret', 'plexmcp/idp');
      const { oauth } = build({ writerRegion: 'us-east-1', cookieSecret, audit: { tableName: 'plexmcp-audit', region: 'us-east-1' }, identityProvider: { ...cognito, clientSecret } }, stack);
      const template = Template.fromStack(stack);
      const env = oauthFunctionEnv(template);
      expect(JSON.parse(env.PLEXMCP_IDP as string)).toEqual(cognito);
      expect(env.PLEXMCP_IDP_CLIENT_SECRET_ARN).toEqual(stack.resolve(clientSecret.secretArn));
      const partialArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:eu-west-1:${ACCOUNT}:secret:plexmcp/idp-??????`]] };
      expect(dataStatements(statementsOf(template, stack, oauth.function))).toContainEqual({ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: partialArn });
    });

    test('cdk-nag AwsSolutions: no findings with a confidential client', () => {
      const stack = testStack();
      build({ identityProvider: { ...cognito, clientSecret: idpSecret(stack) } }, stack);
      expect(oauthFindings(stack)).toEqual([]);
    });

    const token = () => Lazy.string({ produce: () => 'x' });
    test.each<[string, (stack: Stack) => Record<string, unknown>, string]>([
      ['an http issuer', () => ({ issuer: 'http://idp.example.com' }), 'identityProvider.issuer must be an https:// URL'],
      ['an issuer that is no URL', () => ({ issuer: 'cognito' }), 'identityProvider.issuer must be an https:// URL'],
      ['an issuer with a query', () => ({ issuer: 'https://idp.example.com/tenant?x=1' }), 'identityProvider.issuer must be an https:// URL'],
      ['an issuer with a fragment', () => ({ issuer: 'https://idp.example.com/tenant#x' }), 'identityProvider.issuer must be an https:// URL'],
      ['an issuer path with a trailing slash', () => ({ issuer: 'https://login.microsoftonline.com/tenant/v2.0/' }), 'identityProvider.issuer must be an https:// URL'],
      ['an issuer with credentials', () => ({ issuer: 'https://user:pw@idp.example.com' }), 'identityProvider.issuer must be an https:// URL'],
      ['a token issuer', () => ({ issuer: token() }), 'identityProvider.issuer must be a literal'],
      ['an empty client id', () => ({ clientId: '' }), 'identityProvider.clientId must be a non-empty string'],
      ['a client id with a newline', () => ({ clientId: 'abc\n' }), 'identityProvider.clientId must be a non-empty string'],
      ['a token client id', () => ({ clientId: token() }), 'identityProvider.clientId must be a literal'],
      ['an empty org claim', () => ({ orgClaim: '' }), 'identityProvider.orgClaim must be the name of an ID token claim'],
      ['a token org claim', () => ({ orgClaim: token() }), 'identityProvider.orgClaim must be a literal'],
      ['an empty display name', () => ({ displayName: '' }), 'identityProvider.displayName must be 1-100 characters'],
      ['a display name of 101 characters', () => ({ displayName: 'x'.repeat(101) }), 'identityProvider.displayName must be 1-100 characters'],
      ['an empty orgs map', () => ({ orgs: {} }), 'identityProvider.orgs must map at least one claim value'],
      ['an empty claim value in orgs', () => ({ orgs: { '': 'acme' } }), 'identityProvider.orgs must not map the empty claim value'],
      ['an empty org id in orgs', () => ({ orgs: { admins: '' } }), 'identityProvider.orgs["admins"] must be an org id of 1-128 characters'],
      ['an org id of 129 characters', () => ({ orgs: { admins: 'a'.repeat(129) } }), 'identityProvider.orgs["admins"] must be an org id of 1-128 characters'],
      ['a token org id', () => ({ orgs: { admins: token() } }), 'identityProvider.orgs must be a literal'],
      ['a scope with a space', () => ({ scopes: ['openid email'] }), 'identityProvider.scopes must be a list of scope names, each without spaces'],
      ['an empty scope', () => ({ scopes: [''] }), 'identityProvider.scopes must be a list of scope names, each without spaces'],
      ['a token scope', () => ({ scopes: [token()] }), 'identityProvider.scopes must be a literal'],
      ['a client secret of another region', (stack) => ({ clientSecret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Far', `arn:aws:secretsmanager:eu-west-1:${ACCOUNT}:secret:idp-AbCdEf`) }), 'identityProvider.clientSecret is in eu-west-1, but the function runs in us-east-1'],
      ['more than fits in the environment', () => ({ orgs: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`plexmcp-admins-group-${i}`, `org-number-${i}-of-many`])) }), 'identityProvider is too long for the function\'s environment: 3'],
    ])('refuses %s, naming the construct', (_label, props, message) => {
      const stack = testStack();
      const identityProvider = { ...cognito, ...props(stack) } as unknown as NonNullable<OAuthServerProps['identityProvider']>;
      expect(() => build({ identityProvider }, stack)).toThrow(`OAuthServer OAuth: ${message}`);
    });
  });

  test('the gateway function: PLEXMCP_OAUTH_TABLE, GetItem on the table and Query on bySessionUid only', () => {
    const { stack, oauth, gatewayFunction } = build({ publicBaseUrl: 'https://mcp.example.com' });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Description: Match.absent(),
      Environment: { Variables: Match.objectLike({ PLEXMCP_OAUTH_TABLE: 'plexmcp-oauth', PLEXMCP_PUBLIC_BASE_URL: 'https://mcp.example.com' }) },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^PlexMCP OAuth'),
      Environment: { Variables: Match.objectLike({ PLEXMCP_PUBLIC_BASE_URL: 'https://mcp.example.com' }) },
    });
    expect(dataStatements(statementsOf(template, stack, gatewayFunction))).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: arnOf(stack, oauth.table) },
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: indexArn(stack, oauth.table.tableArn, 'bySessionUid') },
    ]);
  });

  test('grantTokenRevocation: the admin function may query byGrant and delete items in the writer table, with its name and region', () => {
    const { stack, oauth } = build();
    const admin = new PlexFunction(stack, 'Admin', { entry: 'lambda/admin/handler.ts' });
    oauth.grantTokenRevocation(admin);
    const template = Template.fromStack(stack);
    expect(dataStatements(statementsOf(template, stack, admin))).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: indexArn(stack, oauth.writerTableArn, 'byGrant') },
      { Effect: 'Allow', Action: ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'], Resource: stack.resolve(oauth.writerTableArn) },
    ]);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.absent(),
      Handler: 'index.handler',
      Environment: { Variables: Match.objectLike({ PLEXMCP_OAUTH_TABLE: 'plexmcp-oauth', PLEXMCP_OAUTH_REGION: stack.resolve(oauth.writerRegion) }) },
    });
  });

  test('routes: ANY /oauth/{proxy+} and GET|OPTIONS /.well-known/oauth-authorization-server to the OAuth function; the protected resource metadata (GET|HEAD|OPTIONS) to the gateway, streamed', () => {
    const { stack, oauth, gatewayFunction } = build();
    const template = Template.fromStack(stack);
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const pathOf = (logicalId: string): string => {
      const props = resources[logicalId]!.Properties as { PathPart: string; ParentId: { Ref?: string } };
      const parent = props.ParentId.Ref;
      return parent !== undefined && resources[parent] ? `${pathOf(parent)}/${props.PathPart}` : `/${props.PathPart}`;
    };
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method')).map((m) => {
      const p = m.Properties as { HttpMethod: string; ResourceId: { Ref: string }; Integration: { Type: string; Uri: unknown; ResponseTransferMode?: string } };
      return { path: pathOf(p.ResourceId.Ref), method: p.HttpMethod, type: p.Integration.Type, uri: JSON.stringify(p.Integration.Uri), mode: p.Integration.ResponseTransferMode };
    });
    const oauthFnId = stack.getLogicalId(oauth.function.node.defaultChild as lambda.CfnFunction);
    const gatewayFnId = stack.getLogicalId(gatewayFunction.node.defaultChild as lambda.CfnFunction);
    const to = (fnId: string, streamed: boolean) => (m: (typeof methods)[number]) =>
      m.type === 'AWS_PROXY' && m.uri.includes(fnId) && m.uri.includes(streamed ? 'response-streaming-invocations' : '/invocations') && (streamed ? m.mode === 'STREAM' : m.mode !== 'STREAM');
    const summary = (filter: (m: (typeof methods)[number]) => boolean) => methods.filter(filter).map((m) => `${m.method} ${m.path}`).sort();
    expect(summary(to(oauthFnId, false))).toEqual(['ANY /oauth/{proxy+}', 'GET /.well-known/oauth-authorization-server', 'OPTIONS /.well-known/oauth-authorization-server'].sort());
    expect(summary(to(gatewayFnId, true))).toEqual(
      [
        'GET /.well-known/oauth-protected-resource',
        'HEAD /.well-known/oauth-protected-resource',
        'OPTIONS /.well-known/oauth-protected-resource',
        'GET /.well-known/oauth-protected-resource/{proxy+}',
        'HEAD /.well-known/oauth-protected-resource/{proxy+}',
        'OPTIONS /.well-known/oauth-protected-resource/{proxy+}',
      ].sort(),
    );
    template.hasResourceProperties('AWS::ApiGateway::Method', { HttpMethod: 'ANY', RequestParameters: { 'method.request.path.proxy': true }, AuthorizationType: 'NONE' });
  });

  test('every route has its own throttle on the stage (defaults 20/s, burst 40; props override)', () => {
    const { stack } = build({ throttling: { rateLimit: 7, burstLimit: 9 }, metadataThrottling: { rateLimit: 3, burstLimit: 5 } });
    const stage = Object.values(Template.fromStack(stack).findResources('AWS::ApiGateway::Stage'))[0]!;
    const settings = (stage.Properties as { MethodSettings: Array<{ ResourcePath: string; HttpMethod: string; ThrottlingRateLimit?: number; ThrottlingBurstLimit?: number }> }).MethodSettings;
    const of = (resourcePath: string, httpMethod: string) => settings.filter((s) => s.ResourcePath === resourcePath && s.HttpMethod === httpMethod).map((s) => [s.ThrottlingRateLimit, s.ThrottlingBurstLimit]);
    expect(of('/~1oauth~1{proxy+}', 'ANY')).toEqual([[7, 9]]);
    expect(of('/~1.well-known~1oauth-authorization-server', 'GET')).toEqual([[7, 9]]);
    expect(of('/~1.well-known~1oauth-authorization-server', 'OPTIONS')).toEqual([[7, 9]]);
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      expect(of('/~1.well-known~1oauth-protected-resource', method)).toEqual([[3, 5]]);
      expect(of('/~1.well-known~1oauth-protected-resource~1{proxy+}', method)).toEqual([[3, 5]]);
    }
    const defaults = Object.values(Template.fromStack(build().stack).findResources('AWS::ApiGateway::Stage'))[0]!;
    const defaultOauth = (defaults.Properties as { MethodSettings: Array<{ ResourcePath: string; ThrottlingRateLimit?: number; ThrottlingBurstLimit?: number }> }).MethodSettings.find((s) => s.ResourcePath === '/~1oauth~1{proxy+}');
    expect([defaultOauth?.ThrottlingRateLimit, defaultOauth?.ThrottlingBurstLimit]).toEqual([20, 40]);
  });

  test('a regional construct: no table or secret of its own; it writes the writer region\'s table, the gateway reads the local replica and, on a miss, the writer\'s', () => {
    const stack = testStack(testApp(), 'Regional', 'eu-west-1');
    const cookieSecret = secretsmanager.Secret.fromSecretNameV2(stack, 'Cookies', 'plexmcp/oauth-cookie-keys');
    const { oauth, gatewayFunction } = build({ writerRegion: 'us-east-1', cookieSecret, audit: { tableName: 'plexmcp-audit', region: 'us-east-1' } }, stack);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1); // the Registry fixture only
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const arn = (region: string, suffix = '') => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:${region}:${ACCOUNT}:table/plexmcp-oauth${suffix}`]] });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('^PlexMCP OAuth'),
      Environment: { Variables: Match.objectLike({ PLEXMCP_OAUTH_REGION: 'us-east-1', PLEXMCP_AUDIT_REGION: 'us-east-1', PLEXMCP_OAUTH_TABLE: 'plexmcp-oauth' }) },
    });
    const statements = dataStatements(statementsOf(template, stack, oauth.function));
    expect(statements).toEqual(expect.arrayContaining([
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'], Resource: arn('us-east-1') },
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: [arn('us-east-1', '/index/byGrant'), arn('us-east-1', '/index/bySessionUid')] },
    ]));
    expect(JSON.stringify(statements)).not.toContain(':dynamodb:eu-west-1:123456789012:table/plexmcp-oauth');
    expect(dataStatements(statementsOf(template, stack, gatewayFunction))).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: [arn('eu-west-1'), arn('us-east-1')] },
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: [arn('eu-west-1', '/index/bySessionUid'), arn('us-east-1', '/index/bySessionUid')] },
    ]);
    expect(gatewayEnvironment(template, stack, gatewayFunction)).toMatchObject({ PLEXMCP_OAUTH_TABLE: 'plexmcp-oauth', PLEXMCP_OAUTH_REGION: 'us-east-1' });
  });

  function gatewayEnvironment(template: Template, stack: Stack, fn: lambda.IFunction): Record<string, unknown> {
    const logicalId = stack.getLogicalId(fn.node.defaultChild as CfnResource);
    return (template.toJSON().Resources[logicalId].Properties.Environment?.Variables ?? {}) as Record<string, unknown>;
  }

  test('the owner construct\'s gateway reads only its own table (no writer region to fall back to)', () => {
    const { stack, gatewayFunction } = build();
    const environment = gatewayEnvironment(Template.fromStack(stack), stack, gatewayFunction);
    expect(environment.PLEXMCP_OAUTH_TABLE).toBe('plexmcp-oauth');
    expect(environment).not.toHaveProperty('PLEXMCP_OAUTH_REGION');
  });

  const imported = (stack: Stack) => lambda.Function.fromFunctionArn(stack, 'Imported', `arn:aws:lambda:us-east-1:${ACCOUNT}:function:other`);
  test.each<[string, (stack: Stack) => Partial<OAuthServerProps>, string]>([
    ['a bad table name', () => ({ tableName: 'a b' }), 'tableName must be a literal DynamoDB table name'],
    ['a token table name', () => ({ tableName: Lazy.string({ produce: () => 'plexmcp-oauth' }) }), 'tableName must be a literal DynamoDB table name'],
    ['an http public base URL', () => ({ publicBaseUrl: 'http://mcp.example.com' }), 'publicBaseUrl must be https://'],
    ['a public base URL with a trailing slash', () => ({ publicBaseUrl: 'https://mcp.example.com/' }), 'publicBaseUrl must be https://'],
    ['a zero rate limit', () => ({ throttling: { rateLimit: 0, burstLimit: 10 } }), 'throttling needs a rateLimit above 0'],
    ['a fractional metadata burst', () => ({ metadataThrottling: { rateLimit: 5, burstLimit: 1.5 } }), 'metadataThrottling needs a rateLimit above 0'],
    ['its own region as a replica', () => ({ replicaRegions: ['us-east-1'] }), 'replicaRegions must be distinct regions'],
    ['a replica region twice', () => ({ replicaRegions: ['eu-west-1', 'eu-west-1'] }), 'replicaRegions must be distinct regions'],
    ['replicas with a writer region', () => ({ writerRegion: 'eu-west-1', replicaRegions: ['ap-southeast-2'] }), 'belong to the construct that owns the OAuth table'],
    ['deletion protection with a writer region', () => ({ writerRegion: 'eu-west-1', deletionProtection: true }), 'belong to the construct that owns the OAuth table'],
    ['a cookie secret name with a writer region', () => ({ writerRegion: 'eu-west-1', cookieSecretName: 'x' }), 'belong to the construct that owns the OAuth table'],
    ['its own region as the writer region', (stack) => ({ writerRegion: 'us-east-1', cookieSecret: secretsmanager.Secret.fromSecretNameV2(stack, 'S', 'x') }), 'writerRegion must be a literal region other than'],
    ['a writer region without the cookie secret', () => ({ writerRegion: 'eu-west-1' }), 'with writerRegion, pass cookieSecret'],
    ['a cookie secret name ending like an ARN suffix', () => ({ cookieSecretName: 'plexmcp/oauth-abcdef' }), 'cookieSecretName must be a literal Secrets Manager name'],
    ['a cookie secret name with a space', () => ({ cookieSecretName: 'a b' }), 'cookieSecretName must be a literal Secrets Manager name'],
    ['an imported gateway function', (stack) => ({ gatewayFunction: imported(stack) }), 'gatewayFunction must be a function defined in this app'],
  ])('refuses %s', (_label, props, message) => {
    const stack = testStack();
    expect(() => build(props(stack), stack)).toThrow(message);
  });

  test('replicaRegions need a stack with a concrete region', () => {
    const stack = new Stack(testApp(), 'Agnostic');
    expect(() => build({ replicaRegions: ['eu-west-1'] }, stack)).toThrow('replicaRegions need a stack with a concrete region');
  });

  // Only the construct's own resources count: the fixtures (API, registry, gateway, bus) are checked by their own tests.
  const fixtures = ['/Api/', '/Registry/', '/Gateway', '/Bus/'];
  const oauthFindings = (stack: Stack) =>
    new AwsSolutionsChecks()
      .validateScope(stack)
      .violations.map((v) => ({ rule: v.ruleName, paths: v.violatingResources.map((r) => r.constructPath ?? '').filter((p) => !fixtures.some((f) => p.includes(f)) || p.includes('/OAuth/')) }))
      .filter((v) => v.paths.length > 0);

  test('cdk-nag AwsSolutions: no findings, in the owner and in a regional construct', () => {
    expect(oauthFindings(build({ replicaRegions: ['eu-west-1'] }).stack)).toEqual([]);
    const regional = testStack(testApp(), 'Regional', 'eu-west-1');
    build({ writerRegion: 'us-east-1', cookieSecret: secretsmanager.Secret.fromSecretNameV2(regional, 'Cookies', 'plexmcp/oauth-cookie-keys') }, regional);
    expect(oauthFindings(regional)).toEqual([]);
  });

  test('cdk-nag check above is not vacuous: a plain queue inside the construct is reported', () => {
    const { stack, oauth } = build();
    new sqs.Queue(oauth, 'Probe');
    expect(oauthFindings(stack).map((f) => f.rule)).toContain('AwsSolutions-SQS4');
  });

  test('the API resources are under the root: /oauth and /.well-known once each', () => {
    const { stack, api } = build();
    const template = Template.fromStack(stack);
    const rootId = stack.resolve((api.api as apigateway.RestApi).restApiRootResourceId);
    const topLevel = Object.values(template.findResources('AWS::ApiGateway::Resource'))
      .filter((r) => JSON.stringify((r.Properties as { ParentId: unknown }).ParentId) === JSON.stringify(rootId))
      .map((r) => (r.Properties as { PathPart: string }).PathPart)
      .sort();
    expect(topLevel).toEqual(expect.arrayContaining(['.well-known', 'oauth']));
    expect(topLevel.filter((p) => p === '.well-known' || p === 'oauth')).toHaveLength(2);
  });
});
