import { CfnResource, Lazy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AdminApi, AdminApiProps, CredentialsKey, PlexApi, RegistryTables } from '../../lib';
import { actionsOf, roleLogicalIdOf, statementsOfRole, statementWith, testStack } from './helpers';

function build(props: Partial<AdminApiProps> = {}) {
  const stack = testStack();
  const table = new RegistryTables(stack, 'Tables').registry;
  const key = new CredentialsKey(stack, 'Creds').key;
  const plexApi = new PlexApi(stack, 'Api');
  const admin = new AdminApi(stack, 'Admin', { api: plexApi.api, registryTable: table, credentialsKey: key, ...props });
  const template = Template.fromStack(stack);
  const ids = {
    table: stack.resolve(table.tableName).Ref as string,
    key: stack.resolve(key.keyArn)['Fn::GetAtt'][0] as string,
    secret: stack.resolve(admin.operatorSecret.secretArn),
  };
  return { stack, plexApi, admin, template, ids };
}

describe('AdminApi', () => {
  test('the function gets the registry table, key, operator secret and mode through its environment', () => {
    const { template, ids } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Environment: {
        Variables: {
          PLEXMCP_MODE: 'aws',
          PLEXMCP_REGISTRY_TABLE: { Ref: ids.table },
          PLEXMCP_KMS_KEY_ID: { 'Fn::GetAtt': [ids.key, 'Arn'] },
          PLEXMCP_OPERATOR_SECRET_ARN: ids.secret,
        },
      },
    });
  });

  test("the function's role may use the table, only GenerateDataKey/Decrypt on the key, and read the secret", () => {
    const { template, stack, admin, ids } = build();
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, admin.function));
    const tableArn = { 'Fn::GetAtt': [ids.table, 'Arn'] };

    const data = statementWith(statements, 'dynamodb:PutItem');
    expect(actionsOf(data)).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:ConditionCheckItem']));
    expect(data.Resource).toEqual([tableArn, { 'Fn::Join': ['', [tableArn, '/index/*']] }]);
    // The explicit grant for the list index, which also holds for imported tables.
    expect(statements.filter((s) => s.Action === 'dynamodb:Query')).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: { 'Fn::Join': ['', [tableArn, '/index/gsi1']] } },
    ]);

    const kms = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(kms).toEqual([{ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: { 'Fn::GetAtt': [ids.key, 'Arn'] } }]);

    const secret = statementWith(statements, 'secretsmanager:GetSecretValue');
    expect(secret).toEqual({ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: ids.secret });

    // Nothing beyond logs, X-Ray, DynamoDB, KMS and Secrets Manager.
    const services = new Set(statements.flatMap(actionsOf).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 'kms', 'logs', 'secretsmanager', 'xray']);
  });

  test('without an organisation alerts topic the function has no topic and no SNS permission', () => {
    const { template, stack, admin } = build();
    const fn = template.toJSON().Resources[stack.getLogicalId(admin.function.node.defaultChild as CfnResource)].Properties;
    expect(fn.Environment.Variables.PLEXMCP_ORG_ALERTS_TOPIC_ARN).toBeUndefined();
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, admin.function));
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('sns:'))).toEqual([]);
  });

  test('with an organisation alerts topic: its ARN in the environment, Subscribe on it, Unsubscribe/GetSubscriptionAttributes on its subscriptions only', () => {
    const stack = testStack();
    const topic = new sns.Topic(stack, 'OrgAlerts');
    const admin = new AdminApi(stack, 'Admin', {
      api: new PlexApi(stack, 'Api').api,
      registryTable: new RegistryTables(stack, 'Tables').registry,
      credentialsKey: new CredentialsKey(stack, 'Creds').key,
      orgAlertsTopic: topic,
    });
    const template = Template.fromStack(stack);
    const topicRef = { Ref: stack.getLogicalId(topic.node.defaultChild as CfnResource) };
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PLEXMCP_ORG_ALERTS_TOPIC_ARN: topicRef }) },
    });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, admin.function));
    expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('sns:')))).toEqual([
      { Effect: 'Allow', Action: 'sns:Subscribe', Resource: topicRef },
      // Subscription ARNs are <topic arn>:<id>.
      { Effect: 'Allow', Action: ['sns:Unsubscribe', 'sns:GetSubscriptionAttributes'], Resource: { 'Fn::Join': ['', [topicRef, ':*']] } },
    ]);
    // Managing subscriptions reads no messages: no Publish, and no key permission for the topic.
    const services = new Set(statements.flatMap(actionsOf).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 'kms', 'logs', 'secretsmanager', 'sns', 'xray']);
  });

  test('the default operator secret is a generated 48-character token without punctuation', () => {
    const { template } = build();
    template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true, SecretStringTemplate: Match.absent() },
    });
  });

  test('a given operator secret is used and read, and no secret is created', () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:plexmcp-operator-AbCdEf';
    const stack = testStack();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(stack, 'Given', arn);
    const admin = new AdminApi(stack, 'Admin', {
      api: new PlexApi(stack, 'Api').api,
      registryTable: new RegistryTables(stack, 'Tables').registry,
      credentialsKey: new CredentialsKey(stack, 'Creds').key,
      operatorSecret: secret,
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    expect(admin.operatorSecret).toBe(secret);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PLEXMCP_OPERATOR_SECRET_ARN: arn }) },
    });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, admin.function));
    expect(statementWith(statements, 'secretsmanager:GetSecretValue').Resource).toBe(arn);
  });

  test('the admin route has its own throttling on the shared stage and keeps the stage-wide logging', () => {
    const { template } = build();
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0].Properties;
    const stageWide = { HttpMethod: '*', ResourcePath: '/*', LoggingLevel: 'ERROR', DataTraceEnabled: false, MetricsEnabled: true };
    expect(stage.MethodSettings).toEqual([
      // The gateway's routes get the stage-wide limits; the control plane gets its own.
      { ...stageWide, ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      { ...stageWide, HttpMethod: 'ANY', ResourcePath: '/~1admin~1{proxy+}', ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      // The console's static files: a lower limit of their own.
      { ...stageWide, HttpMethod: 'GET', ResourcePath: '/~1console', ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
      { ...stageWide, HttpMethod: 'GET', ResourcePath: '/~1console~1{proxy+}', ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 },
    ]);
  });

  test('the admin throttling is configurable', () => {
    const { template } = build({ throttlingRateLimit: 5, throttlingBurstLimit: 10 });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([Match.objectLike({ ResourcePath: '/~1admin~1{proxy+}', ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 })]),
    });
  });

  test('rejects an API whose stage is not defined in this app: its method settings cannot be changed', () => {
    const stack = testStack();
    const imported = apigateway.RestApi.fromRestApiAttributes(stack, 'Imported', { restApiId: 'abc123', rootResourceId: 'root123' });
    // IRestApi types deploymentStage as Stage; an imported API can only be given an imported IStage.
    imported.deploymentStage = apigateway.Stage.fromStageAttributes(stack, 'ImportedStage', { restApi: imported, stageName: 'prod' }) as apigateway.Stage;
    const props = { api: imported, registryTable: new RegistryTables(stack, 'Tables').registry, credentialsKey: new CredentialsKey(stack, 'Creds').key };
    expect(() => new AdminApi(stack, 'Admin', props)).toThrow(/AdminApi: per-route throttling needs the API's deployment stage to be defined in this app; Test\/ImportedStage is not/);
  });

  test('rejects a stage whose method settings are a token', () => {
    const stack = testStack();
    const plexApi = new PlexApi(stack, 'Api');
    (plexApi.stage.node.defaultChild as apigateway.CfnStage).methodSettings = Lazy.any({ produce: () => [] });
    const props = { api: plexApi.api, registryTable: new RegistryTables(stack, 'Tables').registry, credentialsKey: new CredentialsKey(stack, 'Creds').key };
    expect(() => new AdminApi(stack, 'Admin', props)).toThrow(/method settings of stage .* are a token/);
  });

  test('ANY /admin/{proxy+} is a Lambda proxy integration of the function, validated, with one invoke permission', () => {
    const { template, stack, plexApi, admin } = build();
    expect(admin.api).toBe(plexApi.api);
    const api = stack.getLogicalId(plexApi.api.node.defaultChild as CfnResource);
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const adminId = Object.keys(resources).find((k) => resources[k].Properties.PathPart === 'admin')!;
    expect(resources[adminId].Properties.ParentId).toEqual({ 'Fn::GetAtt': [api, 'RootResourceId'] });
    const proxyId = Object.keys(resources).find((k) => resources[k].Properties.PathPart === '{proxy+}' && resources[k].Properties.ParentId.Ref === adminId)!;
    expect(proxyId).toBeDefined();

    const fnId = stack.getLogicalId(admin.function.node.defaultChild as CfnResource);
    // ANY /admin/{proxy+}, GET /console and GET /console/{proxy+}.
    template.resourceCountIs('AWS::ApiGateway::Method', 3);
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'ANY',
      ResourceId: { Ref: proxyId },
      AuthorizationType: 'NONE',
      RequestValidatorId: { Ref: Match.anyValue() },
      RequestParameters: { 'method.request.path.proxy': true },
      Integration: {
        Type: 'AWS_PROXY',
        IntegrationHttpMethod: 'POST',
        Uri: { 'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [fnId, 'Arn'] }, '/invocations'])] },
      },
    });
    template.hasResourceProperties('AWS::ApiGateway::RequestValidator', { ValidateRequestBody: true, ValidateRequestParameters: true });
    // allowTestInvoke: false -> only the stage's permission per method, no test-invoke-stage one.
    template.resourceCountIs('AWS::Lambda::Permission', 3);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: { 'Fn::Join': ['', Match.arrayWith(['/*/admin/*'])] },
    });
  });

  test('the console: GET /console and GET /console/{proxy+} go to the admin function, unauthenticated at the API (static files)', () => {
    const { template, stack, admin } = build();
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const consoleId = Object.keys(resources).find((k) => resources[k].Properties.PathPart === 'console')!;
    const filesId = Object.keys(resources).find((k) => resources[k].Properties.PathPart === '{proxy+}' && resources[k].Properties.ParentId.Ref === consoleId)!;
    const fnId = stack.getLogicalId(admin.function.node.defaultChild as CfnResource);
    for (const resourceId of [consoleId, filesId]) {
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'GET',
        ResourceId: { Ref: resourceId },
        AuthorizationType: 'NONE',
        Integration: { Type: 'AWS_PROXY', Uri: { 'Fn::Join': ['', Match.arrayWith([{ 'Fn::GetAtt': [fnId, 'Arn'] }])] } },
      });
    }
    for (const path of ['/GET/console', '/GET/console/*']) {
      template.hasResourceProperties('AWS::Lambda::Permission', { SourceArn: { 'Fn::Join': ['', Match.arrayWith([path])] } });
    }
    const joined = stack.resolve(admin.consoleUrl)['Fn::Join'][1] as unknown[];
    expect(joined[joined.length - 1]).toBe('/console/');
    expect(admin.consoleMethod?.httpMethod).toBe('GET');
  });

  test('console: false serves no console routes', () => {
    const { template, admin } = build({ console: false });
    template.resourceCountIs('AWS::ApiGateway::Method', 1);
    expect(Object.values(template.findResources('AWS::ApiGateway::Resource')).some((r) => r.Properties.PathPart === 'console')).toBe(false);
    expect(admin.consoleUrl).toBeUndefined();
  });

  test('the console throttling is configurable', () => {
    const { template } = build({ consoleThrottlingRateLimit: 3 });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([Match.objectLike({ ResourcePath: '/~1console~1{proxy+}', ThrottlingRateLimit: 3, ThrottlingBurstLimit: 6 })]),
    });
  });

  test('adminUrl is the stage URL followed by admin/v1', () => {
    const { stack, admin } = build();
    const joined = stack.resolve(admin.adminUrl)['Fn::Join'][1] as unknown[];
    expect(joined[joined.length - 1]).toBe('/admin/v1');
    expect(joined[0]).toBe('https://');
  });
});

