import { CfnResource, Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import { CredentialsKey, HealthMonitor, HealthMonitorProps, RegistryTables } from '../../lib';
import { ACCOUNT, actionsOf, roleLogicalIdOf, statementsOfRole, statementWith, testStack } from './helpers';

function build(props: Partial<HealthMonitorProps> = {}) {
  const stack = testStack();
  const registry = new RegistryTables(stack, 'Tables').registry;
  const key = new CredentialsKey(stack, 'Creds').key;
  const monitor = new HealthMonitor(stack, 'Health', { registryTable: registry, credentialsKey: key, ...props });
  const template = Template.fromStack(stack);
  const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnResource);
  const ids = {
    registry: stack.resolve(registry.tableName).Ref as string,
    key: stack.resolve(key.keyArn)['Fn::GetAtt'][0] as string,
    fn: logicalId(monitor.function),
    queue: logicalId(monitor.deadLetterQueue),
    schedulerRole: logicalId(monitor.schedulerRole),
    group: logicalId(monitor.scheduleGroup),
  };
  return { stack, monitor, template, ids, logicalId };
}

interface ScheduleResource {
  Properties: {
    ScheduleExpression: string;
    FlexibleTimeWindow: unknown;
    GroupName: string;
    State: string;
    Target: { Arn: unknown; RoleArn: unknown; Input: string; RetryPolicy: unknown; DeadLetterConfig: unknown };
  };
  DependsOn?: string[];
}

function schedulesOf(template: Template): ScheduleResource[] {
  return Object.values(template.findResources('AWS::Scheduler::Schedule')) as ScheduleResource[];
}

describe('HealthMonitor', () => {
  test('the function: arm64, Node.js 22, 1024 MB, timeout of the interval minus 10 s, registry, key, bus and topic in its environment', () => {
    const { template, stack, monitor, ids } = build();
    const fn = template.toJSON().Resources[ids.fn].Properties;
    expect(fn).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 50,
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: {
          PLEXMCP_MODE: 'aws',
          PLEXMCP_REGISTRY_TABLE: { Ref: ids.registry },
          PLEXMCP_KMS_KEY_ID: { 'Fn::GetAtt': [ids.key, 'Arn'] },
          PLEXMCP_EVENT_BUS_NAME: stack.resolve(monitor.eventBus.eventBusName),
          PLEXMCP_ORG_ALERTS_TOPIC_ARN: stack.resolve(monitor.orgAlertsTopic.topicArn),
          PLEXMCP_KEY_EXPIRY_SCAN: 'on',
        },
      },
    });
    // Exactly these: nothing the function does not read (the interval is the schedule's business).
    expect(Object.keys(fn.Environment.Variables).sort()).toEqual([
      'PLEXMCP_EVENT_BUS_NAME',
      'PLEXMCP_KEY_EXPIRY_SCAN',
      'PLEXMCP_KMS_KEY_ID',
      'PLEXMCP_MODE',
      'PLEXMCP_ORG_ALERTS_TOPIC_ARN',
      'PLEXMCP_REGISTRY_TABLE',
      'POWERTOOLS_METRICS_NAMESPACE',
      'POWERTOOLS_SERVICE_NAME',
    ]);
    expect([fn.Environment.Variables.POWERTOOLS_SERVICE_NAME, fn.Environment.Variables.POWERTOOLS_METRICS_NAMESPACE]).toEqual(['plexmcp-health', 'PlexMCP']);
    expect(fn.ReservedConcurrentExecutions).toBeUndefined();
    expect(monitor.interval.toMinutes()).toBe(1);
    expect(monitor.shards).toBe(1);
  });

  test('Lambda does not retry a failed cycle and drops a cycle still queued after one interval', () => {
    const { template, ids } = build({ interval: Duration.minutes(5) });
    template.resourceCountIs('AWS::Lambda::EventInvokeConfig', 1);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: ids.fn },
      Qualifier: '$LATEST',
      MaximumRetryAttempts: 0,
      MaximumEventAgeInSeconds: 300,
    });
  });

  test('the timeout follows the interval, capped at 15 minutes; reserved concurrency is configurable', () => {
    const five = build({ interval: Duration.minutes(5), reservedConcurrentExecutions: 3, shards: 2 });
    expect(five.template.toJSON().Resources[five.ids.fn].Properties).toMatchObject({
      Timeout: 290,
      ReservedConcurrentExecutions: 3,
    });
    const hourly = build({ interval: Duration.hours(1) });
    expect(hourly.template.toJSON().Resources[hourly.ids.fn].Properties).toMatchObject({
      Timeout: 890,
    });
  });

  test('one EventBridge Scheduler schedule: rate(1 minute), no flexible window, shard 0 of 1, 2 retries within one interval, dead-letter queue', () => {
    const { template, stack, monitor, ids } = build();
    const schedules = schedulesOf(template);
    expect(schedules).toHaveLength(1);
    expect(schedules[0].Properties).toMatchObject({
      ScheduleExpression: 'rate(1 minute)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      GroupName: stack.resolve(monitor.scheduleGroup.scheduleGroupName),
      State: 'ENABLED',
      Target: {
        Arn: { 'Fn::GetAtt': [ids.fn, 'Arn'] },
        RoleArn: { 'Fn::GetAtt': [ids.schedulerRole, 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 },
        DeadLetterConfig: { Arn: { 'Fn::GetAtt': [ids.queue, 'Arn'] } },
      },
    });
    expect(JSON.parse(schedules[0].Properties.Target.Input)).toEqual({ shard: 0, shards: 1 });
    // The group is named by a plain string, so the dependency must be explicit.
    expect(schedules[0].DependsOn).toContain(ids.group);
    template.hasResource('AWS::Scheduler::ScheduleGroup', { DeletionPolicy: 'Delete' });
  });

  test('one schedule per shard, each with its own shard in the input, all with the same rate, role and dead-letter queue', () => {
    const { template, ids } = build({ shards: 3, interval: Duration.minutes(5) });
    const schedules = schedulesOf(template);
    expect(schedules.map((s) => JSON.parse(s.Properties.Target.Input))).toEqual([
      { shard: 0, shards: 3 },
      { shard: 1, shards: 3 },
      { shard: 2, shards: 3 },
    ]);
    for (const schedule of schedules) {
      expect(schedule.Properties).toMatchObject({
        ScheduleExpression: 'rate(5 minutes)',
        Target: {
          RoleArn: { 'Fn::GetAtt': [ids.schedulerRole, 'Arn'] },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [ids.queue, 'Arn'] } },
        },
      });
    }
  });

  test('the scheduler role: assumed only by schedules of this group in this account; may invoke the function and dead-letter, nothing else', () => {
    const { template, ids } = build({ shards: 2 });
    const role = template.toJSON().Resources[ids.schedulerRole].Properties;
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': { 'Fn::GetAtt': [ids.group, 'Arn'] } } },
      },
    ]);
    const fnArn = { 'Fn::GetAtt': [ids.fn, 'Arn'] };
    // Two schedules, one set of statements.
    expect(statementsOfRole(template, ids.schedulerRole)).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: [fnArn, { 'Fn::Join': ['', [fnArn, ':*']] }] },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [ids.queue, 'Arn'] } },
    ]);
    // No resource policy on the function: Scheduler invokes with the role.
    template.resourceCountIs('AWS::Lambda::Permission', 0);
  });

  test('the dead-letter queue: SSE-SQS, TLS only, 14 days retention', () => {
    const { template, ids } = build();
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ids.queue }],
      PolicyDocument: {
        Statement: [Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })],
      },
    });
  });

  test("the function's role: registry reads and gsi1 queries, PutItem of HEALTH# items and UpdateItem of NOTICE# markers only, Decrypt only on the credentials key, PutEvents on the bus, Publish on the alerts topic", () => {
    const { template, stack, monitor, ids, logicalId } = build();
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, monitor.function));
    const registryArn = { 'Fn::GetAtt': [ids.registry, 'Arn'] };

    const read = statementWith(statements, 'dynamodb:BatchGetItem');
    expect(actionsOf(read)).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query']));
    expect(actionsOf(read).filter((a) => /Put|Update|Delete|Write/.test(a))).toEqual([]);
    expect(read.Resource).toEqual([registryArn, { 'Fn::Join': ['', [registryArn, '/index/*']] }]);
    // The one registry write: whole health items (state, history, metadata) in HEALTH# partitions.
    const writes = statements.filter((s) => actionsOf(s).some((a) => /Put|Update|Delete|Write/.test(a) && a.startsWith('dynamodb:')));
    expect(writes).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:PutItem',
        Resource: registryArn,
        Condition: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEALTH#*'] },
          Null: { 'dynamodb:LeadingKeys': 'false' },
        },
      },
      // The key-expiry scan's once-per-key markers (claim and release).
      {
        Effect: 'Allow',
        Action: 'dynamodb:UpdateItem',
        Resource: registryArn,
        Condition: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['NOTICE#*'] },
          Null: { 'dynamodb:LeadingKeys': 'false' },
        },
      },
    ]);
    expect(statements.filter((s) => s.Action === 'dynamodb:Query')).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: { 'Fn::Join': ['', [registryArn, '/index/gsi1']] } },
    ]);

    const credentials = statements.filter((s) => JSON.stringify(s.Resource).includes(ids.key));
    expect(credentials).toEqual([{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [ids.key, 'Arn'] } }]);
    // Publishing to the encrypted topic needs its key, and only its key.
    const topicKey = logicalId(monitor.topicKey!);
    expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kms:')))).toEqual([
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [ids.key, 'Arn'] } },
      { Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: { 'Fn::GetAtt': [topicKey, 'Arn'] } },
    ]);

    expect(statementWith(statements, 'events:PutEvents')).toEqual({
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: stack.resolve(monitor.eventBus.eventBusArn),
    });
    expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('sns:')))).toEqual([
      { Effect: 'Allow', Action: 'sns:Publish', Resource: stack.resolve(monitor.orgAlertsTopic.topicArn) },
    ]);

    const allActions = statements.flatMap(actionsOf);
    for (const denied of ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:ReEncrypt*', 'dynamodb:*', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'sns:Subscribe', 'lambda:InvokeFunction']) {
      expect(allActions).not.toContain(denied);
    }
    const services = new Set(allActions.map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 'events', 'kms', 'logs', 'sns', 'xray']);
  });

  test('keyExpiryScan: false (every region but one) turns the scan off: env off, no NOTICE# write grant', () => {
    const { template, stack, monitor } = build({ keyExpiryScan: false });
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((r) => r.Properties.Handler === 'index.handler')!;
    expect(fn.Properties.Environment.Variables.PLEXMCP_KEY_EXPIRY_SCAN).toBe('off');
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, monitor.function));
    expect(statements.flatMap(actionsOf).filter((a) => a === 'dynamodb:UpdateItem')).toEqual([]);
    expect(JSON.stringify(statements)).not.toContain('NOTICE#');
  });

  test('alarms on errors, near-timeout duration, throttles and dead letters notify the operator topic on ALARM and OK', () => {
    const { template, stack, monitor, ids } = build();
    const topic = stack.resolve(monitor.operatorAlarmTopic.topicArn);
    const fnDimension = [{ Name: 'FunctionName', Value: { Ref: ids.fn } }];
    template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    const expected = [
      { MetricName: 'Errors', Namespace: 'AWS/Lambda', Dimensions: fnDimension, Statistic: 'Sum', Period: 60, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' },
      // 90% of the 50 s timeout: a cycle about to be cut off.
      { MetricName: 'Duration', Namespace: 'AWS/Lambda', Dimensions: fnDimension, Statistic: 'Maximum', Period: 60, Threshold: 45_000, ComparisonOperator: 'GreaterThanThreshold' },
      { MetricName: 'Throttles', Namespace: 'AWS/Lambda', Dimensions: fnDimension, Statistic: 'Sum', Period: 60, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' },
      {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.queue, 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      },
    ];
    for (const alarm of expected) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        ...alarm,
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [topic],
        OKActions: [topic],
      });
    }
    for (const alarm of Object.values(monitor.alarms)) {
      expect(stack.resolve(alarm.alarmArn)).toBeDefined();
    }
  });

  test('alarm periods follow the interval; the duration threshold follows the timeout', () => {
    const { template } = build({ interval: Duration.minutes(5) });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Errors', Period: 300 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Duration', Period: 300, Threshold: 261_000 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Throttles', Period: 300 });
  });

  test('the default topics: encrypted with one rotating customer managed key, TLS only; CloudWatch alarms of this account may publish to the operator topic', () => {
    const { template, monitor, ids, logicalId } = build();
    const topicKey = logicalId(monitor.topicKey!);
    const operator = logicalId(monitor.operatorAlarmTopic);
    const orgAlerts = logicalId(monitor.orgAlertsTopic);
    template.resourceCountIs('AWS::SNS::Topic', 2);
    for (const topic of [operator, orgAlerts]) {
      expect(template.toJSON().Resources[topic].Properties.KmsMasterKeyId).toEqual({ 'Fn::GetAtt': [topicKey, 'Arn'] });
    }
    const keys = template.toJSON().Resources;
    expect(keys[topicKey]).toMatchObject({ Properties: { EnableKeyRotation: true }, DeletionPolicy: 'Delete' });
    expect(keys[topicKey].Properties.MultiRegion).toBeUndefined();
    expect(ids.key).not.toBe(topicKey);

    const alarmArns = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:cloudwatch:us-east-1:${ACCOUNT}:alarm:*`]],
    };
    const fromAlarmsHere = { StringEquals: { 'aws:SourceAccount': ACCOUNT }, ArnLike: { 'aws:SourceArn': alarmArns } };
    const cloudwatch = { Service: 'cloudwatch.amazonaws.com' };
    const sslOnly = (topic: string) => ({
      Sid: 'AllowPublishThroughSSLOnly',
      Effect: 'Deny',
      Principal: '*',
      Action: 'sns:Publish',
      Resource: { Ref: topic },
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
    });
    const policies = Object.values(template.findResources('AWS::SNS::TopicPolicy')).map((p) => p.Properties);
    expect(policies).toHaveLength(2);
    expect(policies.find((p) => p.Topics[0].Ref === operator).PolicyDocument.Statement).toEqual([
      sslOnly(operator),
      { Sid: 'AllowCloudWatchAlarmsToPublish', Effect: 'Allow', Principal: cloudwatch, Action: 'sns:Publish', Resource: { Ref: operator }, Condition: fromAlarmsHere },
    ]);
    expect(policies.find((p) => p.Topics[0].Ref === orgAlerts).PolicyDocument.Statement).toEqual([sslOnly(orgAlerts)]);
    // CloudWatch cannot publish to an encrypted topic without the key.
    expect(keys[topicKey].Properties.KeyPolicy.Statement).toContainEqual({
      Sid: 'AllowCloudWatchAlarmsToPublishToEncryptedTopics',
      Effect: 'Allow',
      Principal: cloudwatch,
      Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
      Resource: '*',
      Condition: fromAlarmsHere,
    });
  });

  test('a default event bus with a name generated from the construct path', () => {
    const { template, stack, monitor } = build();
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.hasResourceProperties('AWS::Events::EventBus', { Name: Match.stringLikeRegexp('^TestHealthEventBus[0-9A-F]{8}$') });
    expect(stack.resolve(monitor.eventBus.eventBusName)).toEqual({ Ref: stack.getLogicalId(monitor.eventBus.node.defaultChild as CfnResource) });
  });

  test('a given bus and given topics are used: no bus, topic or key is created', () => {
    const stack = testStack();
    const bus = events.EventBus.fromEventBusName(stack, 'Bus', 'team-bus');
    const alarmsArn = `arn:aws:sns:us-east-1:${ACCOUNT}:team-alarms`;
    const alertsArn = `arn:aws:sns:us-east-1:${ACCOUNT}:team-alerts`;
    const monitor = new HealthMonitor(stack, 'Health', {
      registryTable: new RegistryTables(stack, 'Tables').registry,
      credentialsKey: new CredentialsKey(stack, 'Creds').key,
      eventBus: bus,
      operatorAlarmTopic: sns.Topic.fromTopicArn(stack, 'Alarms', alarmsArn),
      orgAlertsTopic: sns.Topic.fromTopicArn(stack, 'Alerts', alertsArn),
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Events::EventBus', 0);
    template.resourceCountIs('AWS::SNS::Topic', 0);
    // Only the credentials key.
    template.resourceCountIs('AWS::KMS::Key', 1);
    expect(monitor.topicKey).toBeUndefined();
    expect(monitor.eventBus).toBe(bus);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PLEXMCP_EVENT_BUS_NAME: 'team-bus', PLEXMCP_ORG_ALERTS_TOPIC_ARN: alertsArn }) },
    });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, monitor.function));
    expect(statementWith(statements, 'events:PutEvents').Resource).toEqual(stack.resolve(bus.eventBusArn));
    expect(statementWith(statements, 'sns:Publish')).toEqual({ Effect: 'Allow', Action: 'sns:Publish', Resource: alertsArn });
    for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(alarm.Properties.AlarmActions).toEqual([alarmsArn]);
      expect(alarm.Properties.OKActions).toEqual([alarmsArn]);
    }
  });

  test.each<[string, Partial<HealthMonitorProps>, RegExp]>([
    ['an interval of 0', { interval: Duration.minutes(0) }, /interval must be a whole number of minutes from 1 to 60, got 0 minutes/],
    ['an interval of 61 minutes', { interval: Duration.minutes(61) }, /interval must be a whole number of minutes from 1 to 60, got 1 hour 1 minute/],
    ['an interval of 90 seconds', { interval: Duration.seconds(90) }, /interval must be a whole number of minutes from 1 to 60, got 1 minute 30 seconds/],
    ['an interval of 30 seconds', { interval: Duration.seconds(30) }, /interval must be a whole number of minutes/],
    ['0 shards', { shards: 0 }, /shards must be an integer from 1 to 50, got 0/],
    ['51 shards', { shards: 51 }, /shards must be an integer from 1 to 50, got 51/],
    ['a fractional shard count', { shards: 1.5 }, /shards must be an integer from 1 to 50, got 1.5/],
    ['reserved concurrency below the shard count', { shards: 4, reservedConcurrentExecutions: 3 }, /reservedConcurrentExecutions must be an integer of at least shards \(4\).*got 3/],
  ])('rejects %s', (_name, props, error) => {
    const stack = testStack();
    const base = { registryTable: new RegistryTables(stack, 'Tables').registry, credentialsKey: new CredentialsKey(stack, 'Creds').key };
    expect(() => new HealthMonitor(stack, 'Health', { ...base, ...props })).toThrow(error);
  });
});
