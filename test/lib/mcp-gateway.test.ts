import { CfnResource } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CountersTable, CredentialsKey, McpGateway, McpGatewayProps, PlexApi, RegistryTables } from '../../lib';
import { actionsOf, roleLogicalIdOf, statementsOfRole, statementWith, testStack } from './helpers';

function build(props: Partial<McpGatewayProps> = {}) {
  const stack = testStack();
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
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
  });

  test('memory and reserved concurrency are configurable', () => {
    const { template, ids } = build({ memorySize: 2048, reservedConcurrentExecutions: 200 });
    expect(template.toJSON().Resources[ids.fn].Properties).toMatchObject({ MemorySize: 2048, ReservedConcurrentExecutions: 200, Timeout: 900 });
  });

  test("the function's role: registry reads plus UpdateItem/PutItem, counters UpdateItem only, Decrypt/GenerateDataKey only", () => {
    const { template, stack, gateway, ids } = build();
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, gateway.function));
    const registryArn = { 'Fn::GetAtt': [ids.registry, 'Arn'] };
    const registryArns = [registryArn, { 'Fn::Join': ['', [registryArn, '/index/*']] }];
    const countersArn = { 'Fn::GetAtt': [ids.counters, 'Arn'] };

    const read = statementWith(statements, 'dynamodb:GetItem');
    expect(actionsOf(read)).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:BatchGetItem']));
    expect(read.Resource).toEqual(registryArns);
    const registryWrites = statements.filter((s) => actionsOf(s).includes('dynamodb:PutItem'));
    expect(registryWrites).toEqual([{ Effect: 'Allow', Action: ['dynamodb:UpdateItem', 'dynamodb:PutItem'], Resource: registryArns }]);
    expect(statements.filter((s) => JSON.stringify(s.Resource).includes(ids.counters))).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:UpdateItem', Resource: countersArn },
    ]);
    const allActions = statements.flatMap(actionsOf);
    for (const denied of ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:*', 'kms:Encrypt', 'kms:ReEncrypt*']) {
      expect(allActions).not.toContain(denied);
    }

    const kms = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')));
    expect(kms).toEqual([{ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: { 'Fn::GetAtt': [ids.key, 'Arn'] } }]);
    const services = new Set(allActions.map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 'kms', 'logs', 'xray']);
  });

  test('ANY /mcp/{slug} streams the Lambda response: InvokeWithResponseStream URI, STREAM mode, 15-minute integration timeout', () => {
    const { template, stack, plexApi, ids } = build();
    const api = stack.getLogicalId(plexApi.api.node.defaultChild as CfnResource);
    const resources = template.findResources('AWS::ApiGateway::Resource');
    const mcpId = Object.keys(resources).find((k) => resources[k].Properties.PathPart === 'mcp')!;
    expect(resources[mcpId].Properties.ParentId).toEqual({ 'Fn::GetAtt': [api, 'RootResourceId'] });
    const slugId = Object.keys(resources).find((k) => resources[k].Properties.PathPart === '{slug}')!;
    expect(resources[slugId].Properties.ParentId).toEqual({ Ref: mcpId });

    const methods = template.findResources('AWS::ApiGateway::Method');
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

    template.resourceCountIs('AWS::Lambda::Permission', 1);
    template.hasResourceProperties('AWS::Lambda::Permission', {
      FunctionName: { 'Fn::GetAtt': [ids.fn, 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: { 'Fn::Join': ['', Match.arrayWith(['/*/mcp/*'])] },
    });
  });

  test('the gateway route uses the stage-wide throttling (no method setting of its own)', () => {
    const { template } = build();
    const stage = Object.values(template.findResources('AWS::ApiGateway::Stage'))[0].Properties;
    expect(stage.MethodSettings.map((s: { ResourcePath: string }) => s.ResourcePath)).toEqual(['/*']);
  });

  test('gatewayUrl is the stage URL followed by mcp/', () => {
    const { stack, gateway } = build();
    const joined = stack.resolve(gateway.gatewayUrl)['Fn::Join'][1] as unknown[];
    expect(joined[0]).toBe('https://');
    expect(joined[joined.length - 1]).toBe('/mcp/');
  });
});
