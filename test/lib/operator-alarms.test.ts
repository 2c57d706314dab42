import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PlexMcpStack } from '../../lib';
import { RegionalOperatorAlarms, type RegionalOperatorAlarmsProps } from '../../lib/operator-alarms';
import { ACCOUNT, testApp, testStack } from './helpers';

type Options = Partial<Omit<RegionalOperatorAlarmsProps, 'api' | 'gatewayFunction' | 'operatorAlarmTopic'>> & { reserved?: number };

function build(options: Options = {}) {
  const stack = testStack();
  const api = new apigateway.RestApi(stack, 'Api', { restApiName: 'plex-api' });
  api.root.addMethod('GET', new apigateway.MockIntegration());
  const fn = new lambda.Function(stack, 'Gateway', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
    reservedConcurrentExecutions: options.reserved,
  });
  const registry = new dynamodb.TableV2(stack, 'Registry', { tableName: 'plexmcp-registry', partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
  const topic = new sns.Topic(stack, 'Ops');
  const { reserved, ...props } = options;
  void reserved; // given to the function above, not a prop of the alarms
  const alarms = new RegionalOperatorAlarms(stack, 'Alarms', {
    stageName: 'prod',
    tables: { registry },
    ...props,
    api,
    gatewayFunction: fn,
    operatorAlarmTopic: topic,
  });
  const template = Template.fromStack(stack);
  const topicRef = { Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) };
  const byDescription = (pattern: RegExp) => {
    const found = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter((a) => pattern.test(a.Properties.AlarmDescription));
    expect(found).toHaveLength(1);
    return found[0].Properties;
  };
  return { stack, fn, registry, alarms, template, topicRef, byDescription };
}

describe('RegionalOperatorAlarms', () => {
  test('every alarm notifies the operator topic on ALARM and OK, and treats missing data as not breaching', () => {
    const { template, topicRef } = build({ reserved: 50, replicatedTables: { registry: { tableName: 'plexmcp-registry', receivingRegions: ['eu-west-1'] } } });
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    expect(alarms).toHaveLength(6);
    for (const alarm of alarms) expect(alarm).toMatchObject({ AlarmActions: [topicRef], OKActions: [topicRef], TreatMissingData: 'notBreaching' });
  });

  test('API Gateway p99 latency of the stage above 10 s for 15 minutes', () => {
    const { byDescription } = build();
    expect(byDescription(/p99 latency of the stage/)).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'Latency',
      Dimensions: [{ Name: 'ApiName', Value: 'plex-api' }, { Name: 'Stage', Value: 'prod' }],
      ExtendedStatistic: 'p99',
      Period: 300,
      EvaluationPeriods: 3,
      Threshold: 10000,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  test('gateway throttles: any throttled invocation in 5 minutes', () => {
    const { byDescription, stack, fn } = build();
    expect(byDescription(/invocations throttled by Lambda/)).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'Throttles',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction) } }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
  });

  test("the account's ConcurrentExecutions at 80% of the default quota, without dimensions", () => {
    const { byDescription } = build();
    const alarm = byDescription(/ConcurrentExecutions of the whole account/);
    expect(alarm).toMatchObject({ Namespace: 'AWS/Lambda', MetricName: 'ConcurrentExecutions', Statistic: 'Maximum', Period: 60, EvaluationPeriods: 3, Threshold: 800 });
    expect(alarm.Dimensions).toBeUndefined();
  });

  test('the gateway near its reserved concurrency (80%), only when it has a reservation', () => {
    const { byDescription, stack, fn } = build({ reserved: 50 });
    expect(byDescription(/reached 40 of its reserved 50/)).toMatchObject({
      MetricName: 'ConcurrentExecutions',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: stack.getLogicalId(fn.node.defaultChild as lambda.CfnFunction) } }],
      Threshold: 40,
      EvaluationPeriods: 3,
    });
    expect(build().alarms.alarms.GatewayConcurrencyWarning).toBeUndefined();
    expect(build({ reserved: 50, concurrencyAlarmPercent: 100 }).alarms.alarms.GatewayConcurrencyWarning).toBeUndefined();
  });

  test('DynamoDB read + write throttle events per table, 10 in 5 minutes', () => {
    const { byDescription, stack, registry } = build();
    const alarm = byDescription(/DynamoDB registry table: 10 or more read and write throttle events/);
    expect(alarm).toMatchObject({ Threshold: 10, EvaluationPeriods: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    const tableRef = { Ref: stack.getLogicalId(registry.node.defaultChild as dynamodb.CfnGlobalTable) };
    expect(alarm.Metrics).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Expression: 'reads + writes' }),
        expect.objectContaining({ MetricStat: expect.objectContaining({ Metric: { Namespace: 'AWS/DynamoDB', MetricName: 'ReadThrottleEvents', Dimensions: [{ Name: 'TableName', Value: tableRef }] } }) }),
        expect.objectContaining({ MetricStat: expect.objectContaining({ Metric: { Namespace: 'AWS/DynamoDB', MetricName: 'WriteThrottleEvents', Dimensions: [{ Name: 'TableName', Value: tableRef }] } }) }),
      ]),
    );
  });

  test('ReplicationLatency per receiving region, average above 1 minute for 15 minutes', () => {
    const { template } = build({ replicatedTables: { registry: { tableName: 'plexmcp-registry', receivingRegions: ['eu-west-1', 'ap-southeast-2'] } } });
    for (const receiving of ['eu-west-1', 'ap-southeast-2']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/DynamoDB',
        MetricName: 'ReplicationLatency',
        Dimensions: [{ Name: 'ReceivingRegion', Value: receiving }, { Name: 'TableName', Value: 'plexmcp-registry' }],
        Statistic: 'Average',
        Threshold: 60000,
        EvaluationPeriods: 3,
        AlarmDescription: Match.stringLikeRegexp(`reach the replica in ${receiving}`),
      });
    }
  });

  test('thresholds are props', () => {
    const { byDescription } = build({
      apiLatencyP99ThresholdMs: 3000,
      gatewayThrottleThreshold: 5,
      accountConcurrencyLimit: 5000,
      concurrencyAlarmPercent: 90,
      dynamoDbThrottleThreshold: 1,
      replicationLatencyThreshold: Duration.seconds(30),
      replicatedTables: { registry: { tableName: 'plexmcp-registry', receivingRegions: ['eu-west-1'] } },
    });
    expect(byDescription(/p99 latency/).Threshold).toBe(3000);
    expect(byDescription(/throttled by Lambda/).Threshold).toBe(5);
    expect(byDescription(/whole account/).Threshold).toBe(4500);
    expect(byDescription(/throttle events/).Threshold).toBe(1);
    expect(byDescription(/ReplicationLatency|reach the replica/).Threshold).toBe(30000);
  });

  test.each<[string, Options, RegExp]>([
    ['a latency threshold of 0', { apiLatencyP99ThresholdMs: 0 }, /apiLatencyP99ThresholdMs must be a whole number of at least 1, got 0/],
    ['a fractional throttle threshold', { gatewayThrottleThreshold: 0.5 }, /gatewayThrottleThreshold must be a whole number/],
    ['an account limit of 0', { accountConcurrencyLimit: 0 }, /accountConcurrencyLimit must be a whole number/],
    ['a table throttle threshold of -1', { dynamoDbThrottleThreshold: -1 }, /dynamoDbThrottleThreshold must be a whole number/],
    ['a concurrency share of 0', { concurrencyAlarmPercent: 0 }, /concurrencyAlarmPercent must be a percentage above 0 and at most 100, got 0/],
    ['a concurrency share of 120', { concurrencyAlarmPercent: 120 }, /concurrencyAlarmPercent must be a percentage/],
    ['a replication threshold under a second', { replicationLatencyThreshold: Duration.millis(500) }, /replicationLatencyThreshold must be at least 1 second/],
    ['its own region as receiving region', { replicatedTables: { registry: { tableName: 'r', receivingRegions: ['us-east-1'] } } }, /receivingRegions must be distinct literal regions other than us-east-1/],
    ['a receiving region twice', { replicatedTables: { registry: { tableName: 'r', receivingRegions: ['eu-west-1', 'eu-west-1'] } } }, /receivingRegions must be distinct/],
  ])('rejects %s', (_name, options, error) => {
    expect(() => build(options)).toThrow(error);
  });
});

describe('operator alarms in PlexMcpStack', () => {
  const app = testApp();
  const primary = new PlexMcpStack(app, 'PlexMcp-us-east-1', { env: { account: ACCOUNT, region: 'us-east-1' }, replicaRegions: ['eu-west-1', 'ap-southeast-2'] });
  const regional = new PlexMcpStack(app, 'PlexMcp-eu-west-1', { env: { account: ACCOUNT, region: 'eu-west-1' }, primary });
  const primaryTemplate = Template.fromStack(primary);
  const regionalTemplate = Template.fromStack(regional);
  const names = (stack: PlexMcpStack) => Object.keys(stack.operatorAlarms.alarms).sort();

  test('the primary watches all its tables and the replication of the three global tables to every replica region', () => {
    expect(names(primary)).toEqual(
      [
        'AccountConcurrency',
        'ApiLatencyP99',
        'GatewayConcurrencyWarning',
        'GatewayThrottles',
        ...['analytics', 'audit', 'counters', 'registry', 'webhookDeliveries', 'webhookEndpoints'].map((t) => `TableThrottles-${t}`),
        ...['audit', 'registry', 'webhookEndpoints'].flatMap((t) => ['ap-southeast-2', 'eu-west-1'].map((r) => `Replication-${t}-${r}`)),
      ].sort(),
    );
    primaryTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ReplicationLatency',
      Dimensions: [{ Name: 'ReceivingRegion', Value: 'eu-west-1' }, { Name: 'TableName', Value: 'plexmcp-audit' }],
    });
    // The default reservation of 100: the warning at 80.
    primaryTemplate.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ConcurrentExecutions', Threshold: 80 });
  });

  test('a regional stack watches the registry replication to the primary and the other replica region only, and no audit table', () => {
    const replication = names(regional).filter((n) => n.startsWith('Replication-'));
    expect(replication).toEqual(['Replication-registry-ap-southeast-2', 'Replication-registry-us-east-1']);
    expect(names(regional)).not.toContain('TableThrottles-audit');
    expect(names(regional)).toContain('TableThrottles-webhookEndpoints');
  });

  test('the WAF alarm goes to the operator topic, and the dashboard shows WAF, backups (primary) and the alarms', () => {
    for (const [stack, template] of [[primary, primaryTemplate], [regional, regionalTemplate]] as const) {
      const topic = stack.resolve(stack.healthMonitor.operatorAlarmTopic.topicArn);
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'BlockedRequests', AlarmActions: [topic], OKActions: [topic] });
      const body = JSON.stringify(stack.resolve(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody));
      for (const text of ['WAF: allowed, blocked, counted requests', 'WAF blocked requests', 'Operator alarms (latency']) expect(body).toContain(text);
      expect(body.includes('NumberOfBackupJobsFailed')).toBe(stack === primary);
    }
  });

  test('operatorAlarms thresholds pass through', () => {
    const other = new PlexMcpStack(testApp(), 'Solo', { env: { account: ACCOUNT, region: 'us-east-1' }, operatorAlarms: { apiLatencyP99ThresholdMs: 2500 } });
    Template.fromStack(other).hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'Latency', Threshold: 2500 });
    expect(Object.keys(other.operatorAlarms.alarms).filter((n) => n.startsWith('Replication-'))).toEqual([]);
  });

  test('cdk-nag AwsSolutions: clean', () => {
    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
  });
});
