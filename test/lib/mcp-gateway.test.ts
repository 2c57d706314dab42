import { CfnResource, Lazy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import { CountersTable, CredentialsKey, McpGateway, McpGatewayProps, PlexApi, RegistryTables } from '../../lib';
import { actionsOf, roleLogicalIdOf, statementsOfRole, statementWith, testStack } from './helpers';

function build(props: Partial<McpGatewayProps> = {}, stack = testStack()) {
  const plexApi = new PlexApi(stack, 'Api');
  const registry = new RegistryTables(stack, 'Tables').registry;
  const counters = new CountersTable(stack, 'Counters').table;
  const key = new CredentialsKey(stack, 'Creds').key;
  const gateway = new McpGateway(stack, 'Gateway', { api: plexApi.api, registryTable: registry, countersTable: counters, credentialsKey: key, ...props });
  const template = Template.fromStack(stack);
  const ids = {
    registry: stack.resolve(registry.tableName).Ref as string,
    counters: stack.resolve(counters.tableName).Ref as string,
    key: stack.resolve(key.keyArn)['Fn::GetAtt'][0] as string,
    fn: stack.getLogicalId(gateway.function.node.defaultChild as CfnResource),
  };
  return { stack, plexApi, gateway, template, ids };
}

/** The alarms on Lambda metrics (the gateway's own; the stage's web ACL brings an alarm of its own). */
const lambdaAlarms = (template: Template) => Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { Namespace: 'AWS/Lambda' } }));

/** The AWS::ApiGateway::Resource whose PathPart is `part`: its logical id. */
const resourceId = (template: Template, part: string) => {
  const resources = template.findResources('AWS::ApiGateway::Resource', { Properties: { PathPart: part } });
  expect(Object.keys(resources)).toHaveLength(1);
  return Object.keys(resources)[0];
};

describe('McpGateway', () => {
  test('the function: arm64, Node.js 22, 15-minute timeout, 1024 MB, tables, key and mode in its environment', () => {
    const { template, ids } = build();
    const fn = template.toJSON().Resources[ids.fn].Properties;
    expect(fn).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Timeout: 900,
      MemorySize: 1024,
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: {
          PLEXMCP_MODE: 'aws',
          PLEXMCP_REGISTRY_TABLE: { Ref: ids.registry },
          PLEXMCP_COUNTERS_TABLE: { Ref: ids.counters },
          PLEXMCP_KMS_KEY_ID: { 'Fn::GetAtt': [ids.key, 'Arn'] },
        },
      },
    });
    // Reserved by default, so that the gateway cannot take the admin function's concurrency.
    expect(fn.ReservedConcurrentExecutions).toBe(100);
  });

  test('memory and reserved concurrency are configurable', () => {
    const { template, ids, gateway } = build({ memorySize: 2048, reservedConcurrentExecutions: 200 });
    expect(template.toJSON().Resources[ids.fn].Properties).toMatchObject({ MemorySize: 2048, ReservedConcurrentExecutions: 200, Timeout: 900 });
    expect(gateway.reservedConcurrentExecutions).toBe(200);
  });

  test('reserved concurrency 0 means no reservation (the account pool) and no concurrency alarm', () => {
    const { template, ids, gateway } = build({ reservedConcurrentExecutions: 0 });
    expect(template.toJSON().Resources[ids.fn].Properties.ReservedConcurrentExecutions).toBeUndefined();
    expect(gateway.reservedConcurrentExecutions).toBeUndefined();
    expect(gateway.alarms.concurrency).toBeUndefined();
    expect(lambdaAlarms(template)).toHaveLength(0);
  });

  test.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('reserved concurrency %p is refused', (value) => {
    expect(() => build({ reservedConcurrentExecutions: value })).toThrow(
      /McpGateway: reservedConcurrentExecutions must be a whole number of at least 1 \(or 0 for no reservation\)/,
    );
  });

  test('an alarm when the function reaches its reserved concurrency: maximum ConcurrentExecutions per minute >= the reservation, ALARM and OK to the operator topic', () => {
    const stack = testStack();
    const topic = new sns.Topic(stack, 'Alarms');
    const { template, ids, gateway } = build({ reservedConcurrentExecutions: 250, operatorAlarmTopic: topic }, stack);
    expect(lambdaAlarms(template)).toHaveLength(1);
    const topicRef = { Ref: stack.getLogicalId(topic.node.defaultChild as CfnResource) };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'ConcurrentExecutions',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: ids.fn } }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 250,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef],
      OKActions: [topicRef],
      AlarmDescription: Match.stringLikeRegexp('reached its reserved concurrency \\(250\\)'),
    });
    expect(gateway.alarms.concurrency).toBeDefined();
  });

  test('without a topic the alarm has no actions; the default reservation sets its threshold', () => {
    const { template } = build();
    const alarms = lambdaAlarms(template);
    expect(alarms).toHaveLength(1);
    expect(alarms[0].Properties).toMatchObject({ MetricName: 'ConcurrentExecutions', Threshold: 100 });
    expect(alarms[0].Properties.AlarmActions).toBeUndefined();
  });

  test('a reservation known only at deploy time (a token) is used as given, for the function and the alarm', () => {
    const stack = testStack();
    const token = Lazy.number({ produce: () => 42 });
    const { template, ids } = build({ reservedConcurrentExecutions: token }, stack);
    expect(template.toJSON().Resources[ids.fn].Properties.ReservedConcurrentExecutions).toBe(42);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ConcurrentExecutions', Threshold: 42 });
  });

  test("the function's role: registry reads; writes only a key's lastUsedAt (KEY#*) and the session key item; counters single-item reads and writes; Decrypt/GenerateDataKey only", () => {
    const { template, stack, gateway, ids } = build();
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, gateway.function));
    const registryArn = { 'Fn::GetAtt': [ids.registry, 'Arn'] };
    const registryArns = [registryArn, { 'Fn::Join': ['', [registryArn, '/index/*']] }];
    const countersArn = { 'Fn::GetAtt': [ids.counters, 'Arn'] };

    const read = statementWith(statements, 'dynamodb:BatchGetItem');
    expect(read.Resource).toEqual(registryArns);
    // Reads only: no write action on the registry's ARNs without a condition.
    expect(actionsOf(read).filter((a) => /Put|Update|Delete|Write/.test(a))).toEqual([]);
    expect(actionsOf(read)).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem']));

    const registryWrites = statements.filter(
      (s) => JSON.stringify(s.Resource).includes(ids.registry) && actionsOf(s).some((a) => /Put|Update|Delete|Write/.test(a)),
    );
    expect(registryWrites).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:UpdateItem',
        Resource: registryArn,
        Condition: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['KEY#*'] },
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': ['pk', 'sk', 'lastUsedAt'] },
          Null: { 'dynamodb:LeadingKeys': 'false' },
        },
      },
      {
        Effect: 'Allow',
        Action: 'dynamodb:PutItem',
        Resource: registryArn,
        Condition: {
          'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['CONFIG#session-sealing-key'] },
          Null: { 'dynamodb:LeadingKeys': 'false' },
        },
      },
    ]);

    expect(statements.filter((s) => JSON.stringify(s.Resource).includes(ids.counters))).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], Resource: countersArn },
    ]);
    const allActions = statements.flatMap(actionsOf);
    for (const denied of ['dynamodb:BatchWriteItem', 'dynamodb:PartiQLUpdate', 'dynamodb:PartiQLDelete', 'dynamodb:*', 'kms:Encrypt', 'kms:ReEncrypt*']) {
      expect(allActions).not.toContain(denied);
    }
    // DeleteItem only on the counters table.
    expect(statements.filter((s) => actionsOf(s).includes('dynamodb:DeleteItem')).map((s) => s.Resource)).toEqual([countersArn]);

    const kms = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(kms).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [ids.key, 'Arn'] } }]);
    const services = new Set(allActions.map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 'kms', 'logs', 'xray']);
  });

  test('without an event bus: no bus in the environment and no events permission (no quota threshold events)', () => {
    const { template, stack, gateway, ids } = build();
    expect(Object.keys(template.toJSON().Resources[ids.fn].Properties.Environment.Variables)).not.toContain('PLEXMCP_EVENT_BUS_NAME');
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, gateway.function));
    expect(statements.flatMap(actionsOf).filter((a) => a.startsWith('events:'))).toEqual([]);
  });

  test('with an event bus: its name in the environment and PutEvents on that bus only (org.quota.threshold)', () => {
    const stack = testStack();
    const bus = new events.EventBus(stack, 'Bus');
    const { template, gateway, ids } = build({ eventBus: bus }, stack);
    const busId = stack.getLogicalId(bus.node.defaultChild as CfnResource);
    expect(template.toJSON().Resources[ids.fn].Properties.Environment.Variables.PLEXMCP_EVENT_BUS_NAME).toEqual({ Ref: busId });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, gateway.function));
    expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('events:')))).toEqual([
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [busId, 'Arn'] } },
    ]);
  });

  test('ANY /mcp/{slug} streams the Lambda response: InvokeWithResponseStream URI, STREAM mode, 15-minute integration timeout', () => {
    const { template, stack, plexApi, ids } = build();
    const api = stack.getLogicalId(plexApi.api.node.defaultChild as CfnResource);
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const mcpId = Object.keys(resources).find((k) => resources[k].Properties.PathPart === 'mcp')!;
    expect(resources[mcpId].Properties.ParentId).toEqual({ 'Fn::GetAtt': [api, 'RootResourceId'] });
    const slugId = Object.keys(resources).find((k) => resources[k].Properties.PathPart === '{slug}')!;
    expect(resources[slugId].Properties.ParentId).toEqual({ Ref: mcpId });

    const methods = template.findResources('AWS::ApiGateway::Method', { Properties: { ResourceId: { Ref: slugId } } });
    expect(Object.keys(methods)).toHaveLength(1);
    const method = Object.values(methods)[0].Properties;
    expect(method).toMatchObject({
      HttpMethod: 'ANY',
      ResourceId: { Ref: slugId },
      AuthorizationType: 'NONE',
      RequestParameters: { 'method.request.path.slug': true },
      Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST', ResponseTransferMode: 'STREAM', TimeoutInMillis: 900_000 },
    });
    const uri = method.Integration.Uri['Fn::Join'][1] as unknown[];
    expect(uri).toContainEqual({ 'Fn::GetAtt': [ids.fn, 'Arn'] });
    expect(uri[uri.length - 1]).toMatch(/\/response-streaming-invocations$/);
    expect(uri.join('')).toContain(':lambda:path/2021-11-15/functions/');

    const validators = template.findResources('AWS::ApiGateway::RequestValidator');
    expect(validators[method.RequestValidatorId.Ref].Properties).toMatchObject({ ValidateRequestParameters: true, RestApiId: { Ref: api } });

    // One invoke permission per route: ANY /mcp/* and GET /healthz.
    template.resourceCountIs('AWS::Lambda::Permission', 2);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [ids.fn, 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: { 'Fn::Join': ['', Match.arrayWith(['/*/mcp/*'])] },
    });
  });

  test('GET /healthz: at the root, unauthenticated, the same streaming integration with the gateway function', () => {
    const { template, stack, plexApi, ids, gateway } = build();
    const api = stack.getLogicalId(plexApi.api.node.defaultChild as CfnResource);
    const healthzId = resourceId(template, 'healthz');
    expect(template.toJSON().Resources[healthzId].Properties.ParentId).toEqual({ 'Fn::GetAtt': [api, 'RootResourceId'] });
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method', { Properties: { ResourceId: { Ref: healthzId } } }));
    expect(methods).toHaveLength(1);
    const method = methods[0].Properties;
    expect(method).toMatchObject({
      HttpMethod: 'GET',
      AuthorizationType: 'NONE',
      Integration: { Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST', ResponseTransferMode: 'STREAM', TimeoutInMillis: 900_000 },
    });
    const uri = method.Integration.Uri['Fn::Join'][1] as unknown[];
    expect(uri).toContainEqual({ 'Fn::GetAtt': [ids.fn, 'Arn'] });
    expect(uri[uri.length - 1]).toMatch(/\/response-streaming-invocations$/);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [ids.fn, 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: { 'Fn::Join': ['', Match.arrayWith(['/GET/healthz'])] },
    });
    // The handler recognises the check by event.resource, which API Gateway sets to this path.
    expect(gateway.healthzMethod.resource.path).toBe('/healthz');
  });

  test('GET /healthz has its own throttle (20 rps, burst 40 by default), keeping the stage-wide logging; /mcp/{slug} uses the stage-wide one', () => {
    const stageOf = (template: Template) => Object.values(template.findResources('AWS::ApiGateway::Stage'))[0].Properties;
    const settings = stageOf(build().template).MethodSettings;
    expect(settings.map((s: { ResourcePath: string }) => s.ResourcePath)).toEqual(['/*', '/~1healthz']);
    expect(settings[1]).toEqual({ ...settings[0], ResourcePath: '/~1healthz', HttpMethod: 'GET', ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 });
    const custom = stageOf(build({ healthzThrottlingRateLimit: 5, healthzThrottlingBurstLimit: 7 }).template).MethodSettings;
    expect(custom[1]).toMatchObject({ ResourcePath: '/~1healthz', HttpMethod: 'GET', ThrottlingRateLimit: 5, ThrottlingBurstLimit: 7 });
  });

  test('gatewayUrl is the stage URL followed by mcp/', () => {
    const { stack, gateway } = build();
    const joined = stack.resolve(gateway.gatewayUrl)['Fn::Join'][1] as unknown[];
    expect(joined[0]).toBe('https://');
    expect(joined[joined.length - 1]).toBe('/mcp/');
  });
});
