import { CfnResource, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PlexMcpStack } from '../../lib';
import { ACCOUNT, actionsOf, roleLogicalIdOf, statementsOfRole, statementWith, testApp } from './helpers';

function twoRegions() {
  const app = testApp();
  const primary = new PlexMcpStack(app, 'Primary', { env: { account: ACCOUNT, region: 'us-east-1' }, replicaRegions: ['eu-west-1'] });
  const regional = new PlexMcpStack(app, 'Regional', { env: { account: ACCOUNT, region: 'eu-west-1' }, primary });
  return { app, primary, regional };
}

describe('PlexMcpStack', () => {
  test('the primary owns the global table (replicated) and the multi-Region primary key', () => {
    const { primary } = twoRegions();
    const template = Template.fromStack(primary);
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'plexmcp-registry',
      Replicas: Match.arrayWith([Match.objectLike({ Region: 'eu-west-1' }), Match.objectLike({ Region: 'us-east-1' })]),
    });
    template.hasResourceProperties('AWS::KMS::Key', { MultiRegion: true, EnableKeyRotation: true });
    template.resourceCountIs('AWS::KMS::ReplicaKey', 0);
    expect(primary.isPrimary).toBe(true);
  });

  test('a regional stack creates no registry table, replicates the primary key, and depends on the primary', () => {
    const { primary, regional } = twoRegions();
    const template = Template.fromStack(regional);
    // Its only tables are its own counters, analytics rollups and webhook deliveries (all regional);
    // the webhook endpoints, like the registry, are the primary's global table (its local replica).
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 3);
    for (const table of Object.values(template.findResources('AWS::DynamoDB::GlobalTable'))) {
      expect((table as { Properties: { Replicas: unknown[] } }).Properties.Replicas).toEqual([expect.objectContaining({ Region: 'eu-west-1' })]);
    }
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', { KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }], Replicas: [Match.objectLike({ Region: 'eu-west-1' })] });
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    // Its keys of its own encrypt the health monitor's topics and (as the backup copy region) the
    // copy vault; the credentials key is a replica.
    expect(Object.keys(template.findResources('AWS::KMS::Key')).sort()).toEqual([
      regional.getLogicalId(regional.healthMonitor.topicKey!.node.defaultChild as CfnResource),
      regional.getLogicalId(regional.backupCopyVault!.key.node.defaultChild as CfnResource),
    ].sort());
    // The primary key ARN arrives through the cross-region reference reader.
    template.hasResourceProperties('AWS::KMS::ReplicaKey', {
      PrimaryKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ExportsReader'), Match.stringLikeRegexp('CredentialsKey')] },
    });
    expect(regional.dependencies).toContain(primary);
    expect(regional.isPrimary).toBe(false);
  });

  test('a regional admin function uses the local replica (table name, index) and the replica key', () => {
    const { regional } = twoRegions();
    const template = Template.fromStack(regional);
    const replicaKeyId = regional.getLogicalId(regional.node.findChild('CredentialsKey').node.findChild('Key') as CfnResource);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          PLEXMCP_REGISTRY_TABLE: 'plexmcp-registry',
          PLEXMCP_KMS_KEY_ID: { 'Fn::GetAtt': [replicaKeyId, 'Arn'] },
        }),
      },
    });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, regional, regional.adminApi.function));
    const arn = (suffix: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:eu-west-1:${ACCOUNT}:table/plexmcp-registry${suffix}`]] });
    // The audit table (the primary region's) has its own PutItem grant; see the audit tests below.
    const onRegistry = statements.filter((s) => JSON.stringify(s.Resource).includes('plexmcp-registry'));
    expect(statementWith(onRegistry, 'dynamodb:PutItem').Resource).toEqual(arn(''));
    // The index ARN matters: the admin function queries gsi1, which fromTableName knows nothing of.
    // And the OAuth table's byGrant index, in the primary region where tokens are written (revoking a grant).
    const oauthGrantIndex = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:us-east-1:${ACCOUNT}:table/plexmcp-oauth/index/byGrant`]] };
    expect(statements.filter((s) => s.Action === 'dynamodb:Query')).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: arn('/index/gsi1') },
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: oauthGrantIndex },
    ]);
    expect(statementWith(statements, 'kms:Decrypt').Resource).toEqual({ 'Fn::GetAtt': [replicaKeyId, 'Arn'] });
  });

  test('every region counts in its own counters table: one replica, in its own region, never replicated', () => {
    const { primary, regional } = twoRegions();
    for (const stack of [primary, regional]) {
      const tables = Template.fromStack(stack).findResources('AWS::DynamoDB::GlobalTable');
      const countersId = stack.resolve(stack.countersTable.tableName).Ref as string;
      expect(tables[countersId].Properties.Replicas).toEqual([expect.objectContaining({ Region: stack.region })]);
      expect(tables[countersId].Properties.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    }
  });

  test('every stack has one REST API with the admin and gateway routes, behind its WAF web ACL', () => {
    const { primary, regional } = twoRegions();
    for (const stack of [primary, regional]) {
      const template = Template.fromStack(stack);
      template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
      const apiId = stack.getLogicalId(stack.api.api.node.defaultChild as CfnResource);
      const paths = Object.values(template.findResources('AWS::ApiGateway::Resource')).map((r) => r.Properties.PathPart);
      // The OAuth routes too: /oauth/{proxy+}, /.well-known/oauth-authorization-server and
      // /.well-known/oauth-protected-resource[/{proxy+}] (lib/oauth-server.ts).
      expect(paths.sort()).toEqual(
        ['.well-known', 'admin', 'console', 'healthz', 'mcp', 'oauth', 'oauth-authorization-server', 'oauth-protected-resource', '{proxy+}', '{proxy+}', '{proxy+}', '{proxy+}', '{slug}'].sort(),
      );
      for (const method of Object.values(template.findResources('AWS::ApiGateway::Method'))) {
        expect(method.Properties.RestApiId).toEqual({ Ref: apiId });
      }
      template.resourceCountIs('AWS::WAFv2::WebACL', 1);
      template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
        ResourceArn: stack.resolve(stack.api.stage.stageArn),
        WebACLArn: stack.resolve(stack.api.webAclArn),
      });
    }
  });

  test('a regional gateway function uses the local registry replica, its own counters table and the replica key', () => {
    const { regional } = twoRegions();
    const template = Template.fromStack(regional);
    const replicaKeyId = regional.getLogicalId(regional.node.findChild('CredentialsKey').node.findChild('Key') as CfnResource);
    const countersId = regional.resolve(regional.countersTable.tableName).Ref as string;
    const fnId = regional.getLogicalId(regional.gateway.function.node.defaultChild as CfnResource);
    expect(template.toJSON().Resources[fnId].Properties.Environment.Variables).toMatchObject({
      PLEXMCP_REGISTRY_TABLE: 'plexmcp-registry',
      PLEXMCP_COUNTERS_TABLE: { Ref: countersId },
      PLEXMCP_KMS_KEY_ID: { 'Fn::GetAtt': [replicaKeyId, 'Arn'] },
    });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, regional, regional.gateway.function));
    const registryArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:eu-west-1:${ACCOUNT}:table/plexmcp-registry`]] };
    // The counters table is the only one with PutItem without a condition.
    expect(statements.filter((s) => actionsOf(s).includes('dynamodb:PutItem')).map((s) => [s.Resource, (s as { Condition?: unknown }).Condition !== undefined])).toEqual([
      [registryArn, true],
      [{ 'Fn::GetAtt': [countersId, 'Arn'] }, false],
    ]);
    expect(statementWith(statements, 'dynamodb:DeleteItem').Resource).toEqual({ 'Fn::GetAtt': [countersId, 'Arn'] });
    expect(statementWith(statements, 'kms:Decrypt').Resource).toEqual({ 'Fn::GetAtt': [replicaKeyId, 'Arn'] });
  });

  test('every stack has its own health monitor on its registry replica and credentials key; its admin function manages the alert subscriptions', () => {
    const { primary, regional } = twoRegions();
    for (const stack of [primary, regional]) {
      const template = Template.fromStack(stack);
      const monitor = stack.healthMonitor;
      const keyArn = stack.resolve(stack.credentialsKey.keyArn);
      const fnId = stack.getLogicalId(monitor.function.node.defaultChild as CfnResource);
      expect(template.toJSON().Resources[fnId].Properties.Environment.Variables).toMatchObject({
        PLEXMCP_REGISTRY_TABLE: stack.resolve(stack.registryTable.tableName),
        PLEXMCP_KMS_KEY_ID: keyArn,
        PLEXMCP_EVENT_BUS_NAME: stack.resolve(monitor.eventBus.eventBusName),
        PLEXMCP_ORG_ALERTS_TOPIC_ARN: stack.resolve(monitor.orgAlertsTopic.topicArn),
      });
      // The health schedule; the primary also has the audit digest schedule.
      template.resourceCountIs('AWS::Scheduler::Schedule', stack === primary ? 2 : 1);
      template.resourceCountIs('AWS::Events::EventBus', 1);
      template.resourceCountIs('AWS::SNS::Topic', 2);
      // The health monitor's four, the gateway's concurrency alarm, the analytics consumer's three
      // (errors, iterator age, dead letters), the dashboard's two (gateway 5xx rate, error rate),
      // the webhook queues' two (dead letters, oldest message), WAF blocked requests, the operator
      // alarms' four (API p99, throttles, account and gateway concurrency), DynamoDB throttles per
      // table (6 / 5), replication latency per global table and receiving region (3 / 1) and, in
      // the primary, backup and copy job failures (2).
      template.resourceCountIs('AWS::CloudWatch::Alarm', stack === primary ? 28 : 23);
      const health = statementsOfRole(template, roleLogicalIdOf(template, stack, monitor.function));
      expect(health.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(keyArn))).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn }]);
      expect(health.filter((s) => s.Action === 'dynamodb:Query')).toEqual([
        { Effect: 'Allow', Action: 'dynamodb:Query', Resource: stack.resolve(`${stack.registryTable.tableArn}/index/gsi1`) },
      ]);

      const topicArn = stack.resolve(monitor.orgAlertsTopic.topicArn);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: 'PlexMCP admin API',
        Environment: { Variables: Match.objectLike({ PLEXMCP_ORG_ALERTS_TOPIC_ARN: topicArn }) },
      });
      const admin = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.adminApi.function));
      expect(statementWith(admin, 'sns:Subscribe').Resource).toEqual(topicArn);
      expect(statementWith(admin, 'sns:Unsubscribe').Resource).toEqual({ 'Fn::Join': ['', [topicArn, ':*']] });
    }
  });

  test("every gateway has 100 reserved executions by default, and its concurrency alarm notifies the region's operator alarm topic", () => {
    const { primary, regional } = twoRegions();
    for (const stack of [primary, regional]) {
      const template = Template.fromStack(stack);
      const fnId = stack.getLogicalId(stack.gateway.function.node.defaultChild as CfnResource);
      expect(template.toJSON().Resources[fnId].Properties.ReservedConcurrentExecutions).toBe(100);
      const topic = stack.resolve(stack.healthMonitor.operatorAlarmTopic.topicArn);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ConcurrentExecutions',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: fnId } }],
        Threshold: 100,
        AlarmActions: [topic],
        OKActions: [topic],
      });
    }
  });

  test('the gateway reservation is a prop of each stack; 0 leaves the gateway unreserved', () => {
    const app = testApp();
    const primary = new PlexMcpStack(app, 'Primary', {
      env: { account: ACCOUNT, region: 'us-east-1' },
      replicaRegions: ['eu-west-1'],
      gatewayReservedConcurrentExecutions: 400,
    });
    const regional = new PlexMcpStack(app, 'Regional', { env: { account: ACCOUNT, region: 'eu-west-1' }, primary, gatewayReservedConcurrentExecutions: 0 });
    const reservation = (stack: PlexMcpStack) =>
      Template.fromStack(stack).toJSON().Resources[stack.getLogicalId(stack.gateway.function.node.defaultChild as CfnResource)].Properties
        .ReservedConcurrentExecutions;
    expect(reservation(primary)).toBe(400);
    expect(reservation(regional)).toBeUndefined();
    expect(regional.gateway.alarms.concurrency).toBeUndefined();
  });

  test('oauth.identityProvider reaches the OAuth function of every region, each reading the client secret (named) in its own region', () => {
    const app = testApp();
    const identityProvider = { issuer: 'https://acme.okta.com', clientId: '0oa1example', orgClaim: 'groups', orgs: { 'PlexMCP Admins': 'acme' }, clientSecretName: 'plexmcp/idp' };
    const primary = new PlexMcpStack(app, 'Primary', { env: { account: ACCOUNT, region: 'us-east-1' }, replicaRegions: ['eu-west-1'], oauth: { identityProvider } });
    const regional = new PlexMcpStack(app, 'Regional', { env: { account: ACCOUNT, region: 'eu-west-1' }, primary, oauth: { identityProvider } });
    for (const [stack, region] of [[primary, 'us-east-1'], [regional, 'eu-west-1']] as const) {
      const template = Template.fromStack(stack);
      const secretArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:${region}:${ACCOUNT}:secret:plexmcp/idp`]] };
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^PlexMCP OAuth'),
        Environment: {
          Variables: Match.objectLike({
            PLEXMCP_IDP: JSON.stringify({ issuer: 'https://acme.okta.com', clientId: '0oa1example', orgClaim: 'groups', orgs: { 'PlexMCP Admins': 'acme' } }),
            PLEXMCP_IDP_CLIENT_SECRET_ARN: secretArn,
          }),
        },
      });
      const partialArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:${region}:${ACCOUNT}:secret:plexmcp/idp-??????`]] };
      expect(statementsOfRole(template, roleLogicalIdOf(template, stack, stack.oauthServer.function))).toContainEqual({
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        Resource: partialArn,
      });
    }
  });

  test.each(['plexmcp/idp-AbC123', 'bad name!', ''])('oauth.identityProvider.clientSecretName %j is refused', (clientSecretName) => {
    expect(
      () => new PlexMcpStack(testApp(), 'Primary', { env: { account: ACCOUNT, region: 'us-east-1' }, oauth: { identityProvider: { issuer: 'https://acme.okta.com', clientId: 'c', orgClaim: 'groups', clientSecretName } } }),
    ).toThrow(/PlexMcpStack Primary: oauth.identityProvider.clientSecretName must be a literal Secrets Manager name/);
  });

  test('the primary creates the one operator secret, named, generated, and replicated to every replica region', () => {
    const { primary } = twoRegions();
    const template = Template.fromStack(primary);
    // The operator token and the OAuth cookie keys (lib/oauth-server.ts), both replicated.
    template.resourceCountIs('AWS::SecretsManager::Secret', 2);
    template.hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'plexmcp/oauth-cookie-keys', ReplicaRegions: [{ Region: 'eu-west-1' }] });
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'plexmcp/operator-token',
      GenerateSecretString: { PasswordLength: 48, ExcludePunctuation: true, SecretStringTemplate: Match.absent() },
      // No KmsKeyId: aws/secretsmanager in each region.
      KmsKeyId: Match.absent(),
      ReplicaRegions: [{ Region: 'eu-west-1' }],
    });
    const secretId = primary.getLogicalId(primary.operatorSecret.node.defaultChild as CfnResource);
    expect(primary.adminApi.operatorSecret).toBe(primary.operatorSecret);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PLEXMCP_OPERATOR_SECRET_ARN: { Ref: secretId } }) },
    });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, primary, primary.adminApi.function));
    expect(statementWith(statements, 'secretsmanager:GetSecretValue')).toEqual({
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      Resource: { Ref: secretId },
    });
  });

  test('the operator secret lists every replica region; a single-region primary has none', () => {
    const app = testApp();
    const primary = new PlexMcpStack(app, 'P', { env: { region: 'eu-west-1' }, replicaRegions: ['us-east-1', 'ap-northeast-1'] });
    Template.fromStack(primary).hasResourceProperties('AWS::SecretsManager::Secret', {
      ReplicaRegions: [{ Region: 'us-east-1' }, { Region: 'ap-northeast-1' }],
    });
    const single = new PlexMcpStack(testApp(), 'S', { env: { region: 'us-west-2' } });
    Template.fromStack(single).hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'plexmcp/operator-token', ReplicaRegions: Match.absent() });
  });

  test('a regional stack creates no secret; its admin function reads the replica by partial ARN, and only that secret', () => {
    const { regional } = twoRegions();
    const template = Template.fromStack(regional);
    template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    // The replica keeps the primary's name; the partial ARN (no 6-character suffix) is a valid
    // SecretId for GetSecretValue in this region.
    const partialArn = (suffix: string) => ({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:eu-west-1:${ACCOUNT}:secret:plexmcp/operator-token${suffix}`]],
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PLEXMCP_OPERATOR_SECRET_ARN: partialArn('') }) },
    });
    expect(regional.operatorSecretName).toBe('plexmcp/operator-token');
    expect(regional.adminApi.operatorSecret).toBe(regional.operatorSecret);

    const statements = statementsOfRole(template, roleLogicalIdOf(template, regional, regional.adminApi.function));
    const secretStatements = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('secretsmanager:')));
    expect(secretStatements).toEqual([
      {
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
        // Exactly six characters after the name: the suffix Secrets Manager appends, nothing more.
        Resource: partialArn('-??????'),
      },
    ]);
  });

  test('the operator secret name comes from the prop, else from context, and regional stacks follow the primary', () => {
    const fromProp = testApp({ 'plexmcp:operatorSecretName': 'from-context' });
    const p1 = new PlexMcpStack(fromProp, 'P', {
      env: { account: ACCOUNT, region: 'us-east-1' },
      replicaRegions: ['eu-west-1'],
      operatorSecretName: 'plexmcp-staging/operator',
    });
    const r1 = new PlexMcpStack(fromProp, 'R', { env: { account: ACCOUNT, region: 'eu-west-1' }, primary: p1 });
    Template.fromStack(p1).hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'plexmcp-staging/operator' });
    expect(r1.operatorSecretName).toBe('plexmcp-staging/operator');
    expect(r1.resolve(r1.operatorSecret.secretArn)).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:eu-west-1:${ACCOUNT}:secret:plexmcp-staging/operator`]],
    });

    const fromContext = testApp({ 'plexmcp:operatorSecretName': 'plexmcp-dev/operator' });
    const p2 = new PlexMcpStack(fromContext, 'P', { env: { region: 'us-east-1' } });
    Template.fromStack(p2).hasResourceProperties('AWS::SecretsManager::Secret', { Name: 'plexmcp-dev/operator' });
    expect(p2.operatorSecretName).toBe('plexmcp-dev/operator');
  });

  test.each<[string, Record<string, unknown>, { operatorSecretName?: string }, RegExp]>([
    ['a name with a space', {}, { operatorSecretName: 'plexmcp operator' }, /operatorSecretName must be a Secrets Manager secret name .*"plexmcp operator"/],
    ['an empty name', {}, { operatorSecretName: '' }, /operatorSecretName must be a Secrets Manager secret name/],
    ['a name ending like an ARN suffix', {}, { operatorSecretName: 'plexmcp/op-abc123' }, /ends in a hyphen and six characters/],
    ['a context value not a string', { 'plexmcp:operatorSecretName': 42 }, {}, /context plexmcp:operatorSecretName must be a Secrets Manager secret name, got 42/],
  ])('rejects %s as operator secret name', (_name, context, props, error) => {
    expect(() => new PlexMcpStack(testApp(context), 'P', { env: { region: 'us-east-1' }, ...props })).toThrow(error);
  });

  test('every stack outputs its admin URL, gateway URL, health event bus, operator alarm topic and operator secret ARN', () => {
    const { primary, regional } = twoRegions();
    for (const stack of [primary, regional]) {
      const template = Template.fromStack(stack);
      const url = template.findOutputs('AdminApiUrl').AdminApiUrl.Value['Fn::Join'][1] as unknown[];
      expect(url[url.length - 1]).toBe('/admin/v1');
      const gatewayUrl = template.findOutputs('GatewayUrl').GatewayUrl.Value;
      expect(gatewayUrl).toEqual(stack.resolve(stack.gateway.gatewayUrl));
      const parts = gatewayUrl['Fn::Join'][1] as unknown[];
      expect(parts[0]).toBe('https://');
      expect(parts).toContainEqual({ Ref: stack.getLogicalId(stack.api.api.node.defaultChild as CfnResource) });
      expect(parts[parts.length - 1]).toBe('/mcp/');
      template.hasOutput('EventBusName', { Value: stack.resolve(stack.healthMonitor.eventBus.eventBusName) });
      template.hasOutput('OperatorAlarmTopicArn', { Value: stack.resolve(stack.healthMonitor.operatorAlarmTopic.topicArn) });
      template.hasOutput('OperatorSecretArn', {
        Value: stack.resolve(stack.adminApi.operatorSecret.secretArn),
        Description: Match.stringLikeRegexp('get-secret-value --secret-id plexmcp/operator-token --query SecretString --output text \\(works in any PlexMCP region\\)'),
      });
    }
  });

  test('the registry table name and deletion protection are configurable on the primary', () => {
    const app = testApp();
    const primary = new PlexMcpStack(app, 'P', {
      env: { region: 'us-east-1' },
      registryTableName: 'plexmcp-staging',
      registryDeletionProtection: false,
    });
    Template.fromStack(primary).hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'plexmcp-staging',
      Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })],
    });
    expect(primary.registryTableName).toBe('plexmcp-staging');
  });

  test('rejects a regional stack in a region the primary does not replicate to', () => {
    const app = testApp();
    const primary = new PlexMcpStack(app, 'P', { env: { region: 'us-east-1' }, replicaRegions: ['eu-west-1'] });
    expect(() => new PlexMcpStack(app, 'R', { env: { region: 'ap-south-1' }, primary })).toThrow(
      /region ap-south-1 is not a replica region of the primary stack P \(replicas: eu-west-1\)/,
    );
  });

  test('rejects a regional stack as primary', () => {
    const { app, regional } = twoRegions();
    expect(() => new PlexMcpStack(app, 'R2', { env: { region: 'eu-west-1' }, primary: regional })).toThrow(/is itself a regional stack/);
  });

  test('rejects primary-only props on a regional stack', () => {
    const app = testApp();
    const primary = new PlexMcpStack(app, 'P', { env: { region: 'us-east-1' }, replicaRegions: ['eu-west-1'] });
    expect(() => new PlexMcpStack(app, 'R', { env: { region: 'eu-west-1' }, primary, replicaRegions: ['us-west-2'] })).toThrow(
      /belong to the primary stack/,
    );
    expect(() => new PlexMcpStack(app, 'R2', { env: { region: 'eu-west-1' }, primary, operatorSecretName: 'other' })).toThrow(
      /operatorSecretName and webhookEndpointsTableName belong to the primary stack/,
    );
    expect(() => new PlexMcpStack(app, 'R3', { env: { region: 'eu-west-1' }, primary, webhookEndpointsTableName: 'other' })).toThrow(
      /webhookEndpointsTableName belong to the primary stack/,
    );
  });

  test('the webhook endpoints table name is the primary\'s (default plexmcp-webhook-endpoints); regional stacks follow it and write in the primary\'s region', () => {
    const app = testApp();
    const primary = new PlexMcpStack(app, 'P', { env: { region: 'us-east-1' }, replicaRegions: ['eu-west-1'], webhookEndpointsTableName: 'acme-webhook-endpoints' });
    const regional = new PlexMcpStack(app, 'R', { env: { region: 'eu-west-1' }, primary });
    Template.fromStack(primary).hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'acme-webhook-endpoints',
      Replicas: [Match.objectLike({ Region: 'eu-west-1' }), Match.objectLike({ Region: 'us-east-1' })],
    });
    expect([primary.webhookEndpointsTableName, primary.webhookEndpointsRegion]).toEqual(['acme-webhook-endpoints', 'us-east-1']);
    expect([regional.webhookEndpointsTableName, regional.webhookEndpointsRegion]).toEqual(['acme-webhook-endpoints', 'us-east-1']);
    Template.fromStack(regional).hasResourceProperties('AWS::Lambda::Function', {
      Description: 'PlexMCP admin API',
      Environment: { Variables: Match.objectLike({ PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: 'acme-webhook-endpoints', PLEXMCP_WEBHOOK_ENDPOINTS_REGION: 'us-east-1' }) },
    });
    // A single-region primary: the table has its own region only, written there.
    const single = new PlexMcpStack(testApp(), 'S', { env: { region: 'us-east-1' } });
    Template.fromStack(single).hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'plexmcp-webhook-endpoints',
      Replicas: [Match.objectLike({ Region: 'us-east-1' })],
    });
  });

  test('the primary owns the audit log (table replicated for reads, signing key, Object Lock archive, digest schedule); regional stacks none', () => {
    const { primary, regional } = twoRegions();
    const p = Template.fromStack(primary);
    const r = Template.fromStack(regional);
    p.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      TableName: 'plexmcp-audit',
      Replicas: [Match.objectLike({ Region: 'eu-west-1' }), Match.objectLike({ Region: 'us-east-1' })],
    });
    p.resourcePropertiesCountIs('AWS::KMS::Key', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }, 1);
    p.hasResourceProperties('AWS::S3::Bucket', { ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } } } });
    p.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(1 day)' });
    expect(primary.auditLog).toBeDefined();
    expect(regional.auditLog).toBeUndefined();
    r.resourcePropertiesCountIs('AWS::KMS::Key', { KeySpec: 'ECC_NIST_P256' }, 0);
    expect(Object.values(r.findResources('AWS::DynamoDB::GlobalTable')).filter((t) => (t as { Properties: { TableName?: string } }).Properties.TableName === 'plexmcp-audit')).toEqual([]);
  });

  test('every admin function appends to the primary region\'s audit table: PutItem on ORG#, UpdateItem on HEAD#, reads; with its name and region', () => {
    const { primary, regional } = twoRegions();
    const condition = (key: string) => ({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [key] } });
    for (const [stack, table] of [
      [primary, { 'Fn::GetAtt': [primary.getLogicalId(primary.auditLog!.table.node.defaultChild as CfnResource), 'Arn'] }],
      [regional, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:us-east-1:${ACCOUNT}:table/plexmcp-audit`]] }],
    ] as const) {
      const template = Template.fromStack(stack);
      const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.adminApi.function));
      const onAudit = statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(table));
      expect(onAudit).toEqual([
        { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: table, Condition: condition('ORG#*') },
        { Effect: 'Allow', Action: 'dynamodb:UpdateItem', Resource: table, Condition: condition('HEAD#*') },
        { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Query'], Resource: table },
      ]);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: 'PlexMCP admin API',
        Environment: { Variables: Match.objectLike({ PLEXMCP_AUDIT_TABLE: 'plexmcp-audit', PLEXMCP_AUDIT_REGION: 'us-east-1' }) },
      });
    }
  });

  test('in every stack, every role (so every function) carries the audit deny statements', () => {
    const { primary, regional } = twoRegions();
    for (const stack of [primary, regional]) {
      const template = Template.fromStack(stack);
      const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy')) as Array<{ Properties: { Roles: Array<{ Ref: string }>; PolicyDocument: { Statement: Array<{ Effect: string; Action: string[]; Condition?: unknown }> } } }>;
      const deny = policies.filter((p) => p.Properties.PolicyDocument.Statement.some((s) => s.Effect === 'Deny' && s.Action.includes('dynamodb:UpdateItem')));
      expect(deny).toHaveLength(1);
      expect(deny[0]!.Properties.PolicyDocument.Statement[0]).toMatchObject({
        Effect: 'Deny',
        Action: ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
        Condition: { 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': ['ORG#*', 'DIGEST#*'] } },
      });
      const attached = deny[0]!.Properties.Roles.map((r) => r.Ref);
      const functions = Object.values(template.findResources('AWS::Lambda::Function')) as Array<{ Properties: { Role: { 'Fn::GetAtt': [string, string] } } }>;
      expect(functions.length).toBeGreaterThanOrEqual(4);
      for (const fn of functions) expect(attached).toContain(fn.Properties.Role['Fn::GetAtt'][0]);
    }
  });

  test('the audit options belong to the primary stack', () => {
    const app = testApp();
    const primary = new PlexMcpStack(app, 'P', { env: { region: 'us-east-1' }, replicaRegions: ['eu-west-1'], audit: { digestInterval: Duration.hours(1) } });
    Template.fromStack(primary).hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(1 hour)' });
    expect(() => new PlexMcpStack(app, 'R', { env: { region: 'eu-west-1' }, primary, audit: { retention: Duration.days(30) } })).toThrow(/audit, operatorSecretName and webhookEndpointsTableName belong to the primary stack/);
  });

  test('rejects a stack without a region', () => {
    expect(() => new PlexMcpStack(testApp(), 'P', {})).toThrow(/env.region is required/);
  });
});
