import { CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CredentialsKey, RegistryTables } from '../../lib';
import { WebhookDelivery, type WebhookDeliveryProps } from '../../lib/webhook-delivery';
import { ACCOUNT, actionsOf, roleLogicalIdOf, statementsOfRole, testApp, testStack } from './helpers';

function build(props: Partial<WebhookDeliveryProps> = {}, stack: Stack = testStack()) {
  const registry = new RegistryTables(stack, 'Tables').registry;
  const key = new CredentialsKey(stack, 'Creds').key;
  const bus = new events.EventBus(stack, 'Bus');
  const webhooks = new WebhookDelivery(stack, 'Webhooks', { eventBus: bus, registryTable: registry, credentialsKey: key, ...props });
  const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnResource);
  return { stack, webhooks, registry, key, bus, logicalId, template: () => Template.fromStack(stack) };
}

function nagFindings(stack: Stack): string[] {
  const report = new AwsSolutionsChecks().validateScope(stack);
  return report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
}

describe('WebhookDelivery', () => {
  test('the queue: SSE, TLS only, DLQ after 5 receives, visibility 6x the function timeout; the DLQ keeps 14 days', () => {
    const { template, webhooks, logicalId } = build();
    const t = template();
    const queue = t.toJSON().Resources[logicalId(webhooks.queue)].Properties;
    expect(queue).toMatchObject({
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 360,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [logicalId(webhooks.deadLetterQueue), 'Arn'] }, maxReceiveCount: 5 },
    });
    t.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    t.hasResourceProperties('AWS::SQS::QueuePolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('the bus rule sends every plexmcp.* event to the queue, with the DLQ for what cannot be delivered', () => {
    const { template, webhooks, logicalId, stack, bus } = build();
    template().hasResourceProperties('AWS::Events::Rule', {
      EventBusName: stack.resolve(bus.eventBusName),
      EventPattern: { source: [{ prefix: 'plexmcp.' }] },
      Targets: [Match.objectLike({
        Arn: { 'Fn::GetAtt': [logicalId(webhooks.queue), 'Arn'] },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [logicalId(webhooks.deadLetterQueue), 'Arn'] } },
        RetryPolicy: { MaximumRetryAttempts: 10 },
      })],
    });
  });

  test('the function: SQS event source with partial batch failures, tables/queue/bus in its environment, sweep every 5 minutes', () => {
    const { template, webhooks, logicalId, stack, bus, key, registry } = build();
    const t = template();
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId(webhooks.function) },
      EventSourceArn: { 'Fn::GetAtt': [logicalId(webhooks.queue), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const fn = t.toJSON().Resources[logicalId(webhooks.function)].Properties;
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Timeout: 60, MemorySize: 512 });
    expect(fn.Environment.Variables).toMatchObject({
      // A fixed name: other regions' stacks address their replica by it.
      PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: 'plexmcp-webhook-endpoints',
      // Written where the table is owned: here.
      PLEXMCP_WEBHOOK_ENDPOINTS_REGION: 'us-east-1',
      PLEXMCP_WEBHOOK_DELIVERIES_TABLE: stack.resolve(webhooks.deliveriesTable.tableName),
      PLEXMCP_WEBHOOK_QUEUE_URL: stack.resolve(webhooks.queue.queueUrl),
      PLEXMCP_EVENT_BUS_NAME: stack.resolve(bus.eventBusName),
      PLEXMCP_KMS_KEY_ID: stack.resolve(key.keyArn),
      PLEXMCP_REGISTRY_TABLE: stack.resolve(registry.tableName),
    });
    t.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(webhooks.function), 'Arn'] }, Input: '{"sweep":true}' })],
    });
  });

  test('the tables: deliveries with due/byEndpoint indexes and TTL, endpoints pk/sk; PITR and deletion protection, retained', () => {
    const { template, webhooks, stack, logicalId } = build();
    const resources = template().toJSON().Resources;
    const deliveries = resources[stack.resolve(webhooks.deliveriesTable.tableName).Ref];
    expect(deliveries).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        GlobalSecondaryIndexes: [
          { IndexName: 'due', KeySchema: [{ AttributeName: 'dueShard', KeyType: 'HASH' }, { AttributeName: 'nextAttemptAt', KeyType: 'RANGE' }] },
          { IndexName: 'byEndpoint', KeySchema: [{ AttributeName: 'endpointId', KeyType: 'HASH' }, { AttributeName: 'enqueuedAt', KeyType: 'RANGE' }] },
        ],
        Replicas: [{ DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }],
      },
    });
    const endpoints = resources[logicalId(webhooks.endpointsTable as dynamodb.TableV2)];
    expect(endpoints).toMatchObject({
      Type: 'AWS::DynamoDB::GlobalTable',
      DeletionPolicy: 'Retain',
      Properties: {
        TableName: 'plexmcp-webhook-endpoints',
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }, { AttributeName: 'sk', KeyType: 'RANGE' }],
        // No replica regions given: the stack's own region only.
        Replicas: [{ Region: 'us-east-1', DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }],
      },
    });
    expect(webhooks.endpointsTableName).toBe('plexmcp-webhook-endpoints');
    expect(webhooks.endpointsWriterRegion).toBe('us-east-1');
  });

  test('the owner (endpointsReplicaRegions): one global table with a replica in each region, PITR and deletion protection on every replica; the deliveries table stays regional', () => {
    const { template, webhooks, logicalId } = build({ endpointsReplicaRegions: ['eu-west-1', 'ap-southeast-2'], endpointsTableName: 'acme-webhook-endpoints' });
    const resources = template().toJSON().Resources;
    const endpoints = resources[logicalId(webhooks.endpointsTable as dynamodb.TableV2)].Properties;
    expect(endpoints.TableName).toBe('acme-webhook-endpoints');
    expect(endpoints.Replicas.map((r: { Region: string }) => r.Region).sort()).toEqual(['ap-southeast-2', 'eu-west-1', 'us-east-1']);
    for (const replica of endpoints.Replicas) {
      expect(replica).toMatchObject({ DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
    }
    const deliveries = resources[logicalId(webhooks.deliveriesTable)].Properties;
    expect(deliveries.Replicas.map((r: { Region?: string }) => r.Region ?? 'us-east-1')).toEqual(['us-east-1']);
    expect(webhooks.endpointsWriterRegion).toBe('us-east-1');
  });

  test('a replica region (endpointsWriterRegion): no endpoints table of its own; reads on the local replica, writes in the writer region, the region in both environments', () => {
    const stack = testStack(undefined, 'Regional', 'eu-west-1');
    const { template, webhooks, logicalId } = build({ endpointsWriterRegion: 'us-east-1' }, stack);
    const admin = new iam.Role(stack, 'Admin', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    webhooks.grantManageEndpoints(admin);
    const t = template();
    // Only the deliveries table is created here (regional, not replicated).
    const own = webhooks.node.findAll().filter((c): c is dynamodb.CfnGlobalTable => c instanceof dynamodb.CfnGlobalTable);
    expect(own.map((c) => stack.getLogicalId(c))).toEqual([logicalId(webhooks.deliveriesTable)]);
    expect(JSON.stringify(t.findResources('AWS::DynamoDB::GlobalTable'))).not.toContain('plexmcp-webhook-endpoints');
    expect(t.toJSON().Resources[logicalId(webhooks.deliveriesTable)].Properties.Replicas).toHaveLength(1);

    const arn = (region: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:${region}:${ACCOUNT}:table/plexmcp-webhook-endpoints`]] });
    const local = JSON.stringify(arn('eu-west-1'));
    const writer = JSON.stringify(arn('us-east-1'));
    const onTable = (statements: ReturnType<typeof statementsOfRole>, table: string) =>
      statements.filter((s) => [s.Resource].flat().some((r) => JSON.stringify(r) === table)).flatMap(actionsOf).sort();
    const endpointGrants = (statements: ReturnType<typeof statementsOfRole>) =>
      statements.filter((s) => JSON.stringify(s.Resource).includes('plexmcp-webhook-endpoints'));

    const fnStatements = statementsOfRole(t, roleLogicalIdOf(t, stack, webhooks.function));
    // The delivery function: fan-out and secrets from the local replica; failure state written
    // (PutItem, read first) in the writer region. Never an update or delete of an endpoint.
    expect(onTable(fnStatements, local)).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(onTable(fnStatements, writer)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    expect(endpointGrants(fnStatements)).toHaveLength(2);
    // The admin API: every endpoint read and write in the writer region, none on the replica.
    const adminStatements = statementsOfRole(t, stack.getLogicalId(admin.node.defaultChild as CfnResource));
    expect(onTable(adminStatements, writer)).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    expect(endpointGrants(adminStatements).map((s) => JSON.stringify(s.Resource))).toEqual([writer]);
    // Its deliveries are this region's table.
    const deliveriesArn = JSON.stringify(stack.resolve(webhooks.deliveriesTable.tableArn));
    expect(adminStatements.some((s) => JSON.stringify(s.Resource).includes(deliveriesArn))).toBe(true);

    const fnEnv = t.toJSON().Resources[logicalId(webhooks.function)].Properties.Environment.Variables;
    expect(fnEnv).toMatchObject({ PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: 'plexmcp-webhook-endpoints', PLEXMCP_WEBHOOK_ENDPOINTS_REGION: 'us-east-1' });
    expect(webhooks.environment).toMatchObject({ PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: 'plexmcp-webhook-endpoints', PLEXMCP_WEBHOOK_ENDPOINTS_REGION: 'us-east-1' });
    expect(nagFindings(stack)).toEqual([]);
  });

  test('alarms: any dead letter, and the oldest message older than 30 minutes, notifying the topic when given', () => {
    const stack = testStack();
    const topic = new sns.Topic(stack, 'Ops');
    const { template, webhooks, logicalId } = build({ alarmTopic: topic }, stack);
    const t = template();
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(webhooks.deadLetterQueue), 'QueueName'] } }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: logicalId(topic) }],
    });
    t.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [logicalId(webhooks.queue), 'QueueName'] } }],
      Threshold: 1800,
    });
  });

  test('the delivery function may only Decrypt with the credentials key; grantManageEndpoints adds GenerateDataKey, tables and SendMessage', () => {
    const { template, webhooks, stack, key, registry } = build();
    const admin = new iam.Role(stack, 'Admin', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    webhooks.grantManageEndpoints(admin);
    const t = template();
    const fnStatements = statementsOfRole(t, roleLogicalIdOf(t, stack, webhooks.function));
    const keyArn = stack.resolve(key.keyArn);
    const onKey = (statements: ReturnType<typeof statementsOfRole>) =>
      statements.filter((s) => JSON.stringify(s.Resource) === JSON.stringify(keyArn)).flatMap(actionsOf).sort();
    expect(onKey(fnStatements)).toEqual(['kms:Decrypt']);
    // The registry: GetItem on the base table only (the org's plan).
    const registryArn = JSON.stringify(stack.resolve(registry.tableArn));
    const onRegistry = fnStatements.filter((s) => JSON.stringify(s.Resource).includes(registryArn.slice(1, -1)));
    expect(onRegistry.flatMap(actionsOf)).toEqual(['dynamodb:GetItem']);
    const adminStatements = statementsOfRole(t, stack.getLogicalId(admin.node.defaultChild as CfnResource));
    expect(onKey(adminStatements)).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    const adminActions = adminStatements.flatMap(actionsOf);
    expect(adminActions).toEqual(expect.arrayContaining(['dynamodb:PutItem', 'dynamodb:Query', 'sqs:SendMessage']));
    expect(adminActions).not.toContain('sqs:ReceiveMessage');
  });

  test('with the org alerts topic: its ARN in the environment, Publish on it, Query on the registry in ORG# partitions only', () => {
    const stack = testStack();
    const topic = new sns.Topic(stack, 'OrgAlerts', { enforceSSL: true });
    const { template, webhooks, logicalId, registry } = build({ orgAlertsTopic: topic }, stack);
    const t = template();
    expect(t.toJSON().Resources[logicalId(webhooks.function)].Properties.Environment.Variables.PLEXMCP_ORG_ALERTS_TOPIC_ARN).toEqual({ Ref: logicalId(topic) });
    const statements = statementsOfRole(t, roleLogicalIdOf(t, stack, webhooks.function));
    expect(statements.filter((s) => actionsOf(s).includes('sns:Publish')).map((s) => s.Resource)).toEqual([{ Ref: logicalId(topic) }]);
    expect(statements.filter((s) => actionsOf(s).includes('dynamodb:Query') && JSON.stringify(s.Resource) === JSON.stringify(stack.resolve(registry.tableArn)))).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:Query',
        Resource: stack.resolve(registry.tableArn),
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['ORG#*'] }, Null: { 'dynamodb:LeadingKeys': 'false' } },
      },
    ]);
    expect(nagFindings(stack)).toEqual([]);
    // An encrypted topic: the publisher needs its key (GenerateDataKey*), acknowledged for nag.
    const encrypted = testStack();
    const topicKey = new kms.Key(encrypted, 'TopicKey', { enableKeyRotation: true });
    const withKey = build({ orgAlertsTopic: new sns.Topic(encrypted, 'OrgAlerts', { enforceSSL: true, masterKey: topicKey }) }, encrypted);
    const k = withKey.template();
    expect(statementsOfRole(k, roleLogicalIdOf(k, encrypted, withKey.webhooks.function)).filter((s) => actionsOf(s).includes('kms:GenerateDataKey*')).map((s) => s.Resource)).toEqual([
      encrypted.resolve(topicKey.keyArn),
    ]);
    expect(nagFindings(encrypted)).toEqual([]);
    // Without the topic: no variable, no Publish.
    const bare = build();
    const b = bare.template();
    expect(b.toJSON().Resources[bare.logicalId(bare.webhooks.function)].Properties.Environment.Variables).not.toHaveProperty('PLEXMCP_ORG_ALERTS_TOPIC_ARN');
    expect(statementsOfRole(b, roleLogicalIdOf(b, bare.stack, bare.webhooks.function)).flatMap(actionsOf)).not.toContain('sns:Publish');
  });

  test('validation', () => {
    expect(() => build({ maxReceiveCount: 0 })).toThrow(/maxReceiveCount/);
    expect(() => build({ maxReceiveCount: 1.5 })).toThrow(/maxReceiveCount/);
    expect(() => build({ sweepInterval: Duration.seconds(30) })).toThrow(/sweepInterval/);
    expect(() => build({ sweepInterval: Duration.minutes(90) })).toThrow(/sweepInterval/);
    expect(() => build({ oldestMessageAgeThreshold: Duration.minutes(10) })).toThrow(/oldestMessageAgeThreshold/);
    expect(() => build({ endpointsTableName: 'a b' })).toThrow(/endpointsTableName/);
    expect(() => build({ endpointsReplicaRegions: ['us-east-1'] })).toThrow(/endpointsReplicaRegions/);
    expect(() => build({ endpointsReplicaRegions: ['eu-west-1', 'eu-west-1'] })).toThrow(/endpointsReplicaRegions/);
    expect(() => build({ endpointsWriterRegion: 'us-east-1' })).toThrow(/endpointsWriterRegion/); // the stack's own
    expect(() => build({ endpointsWriterRegion: 'eu-west-1', endpointsReplicaRegions: ['ap-southeast-2'] })).toThrow(/endpointsReplicaRegions/);
    // Replicas need to know the local region.
    expect(() => build({ endpointsReplicaRegions: ['eu-west-1'] }, new Stack(testApp(), 'Agnostic'))).toThrow(/concrete region/);
  });

  test('cdk-nag AwsSolutions: no findings', () => {
    const { stack, webhooks } = build();
    webhooks.grantManageEndpoints(new iam.Role(stack, 'Admin', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }));
    expect(nagFindings(stack)).toEqual([]);
  });
});
