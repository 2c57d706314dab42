import { CfnResource } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { OperationsDashboard, PlexMcpStack } from '../../lib';
import { GATEWAY_USAGE_METRICS } from '../../lib/analytics-dashboard';
import { DEFAULT_METRICS_NAMESPACE, USAGE_METRIC, USAGE_METRICS_SERVICE } from '../../lambda/adapters/usage-metrics';
import { ACCOUNT, roleLogicalIdOf, statementsOfRole, testApp } from './helpers';

function stackWith(context: Record<string, unknown> = {}) {
  const app = testApp(context);
  const stack = new PlexMcpStack(app, 'PlexMcp-us-east-1', { env: { account: ACCOUNT, region: 'us-east-1' } });
  return { stack, template: Template.fromStack(stack) };
}

describe('analytics in PlexMcpStack, and the regional dashboard', () => {
  const { stack, template } = stackWith();
  const id = (c: { node: { defaultChild?: unknown } }) => stack.getLogicalId(c.node.defaultChild as CfnResource);

  test('the stack has the pipeline on its gateway log group, and no Timestream by default', () => {
    const filter = Object.values(template.findResources('AWS::Logs::SubscriptionFilter'))[0].Properties;
    expect(filter.LogGroupName).toEqual(stack.resolve((stack.gateway.function as unknown as { logGroup: { logGroupName: string } }).logGroup.logGroupName));
    template.resourceCountIs('AWS::Kinesis::Stream', 1);
    template.resourceCountIs('AWS::KinesisFirehose::DeliveryStream', 1);
    template.resourceCountIs('AWS::Glue::Table', 1);
    template.resourceCountIs('AWS::Timestream::Database', 0);
  });

  test('the admin function reads the rollups (Query, GetItem) and gets the table name', () => {
    const tableRef = stack.resolve(stack.analytics.rollups.table.tableName);
    const admin = template.toJSON().Resources[id(stack.adminApi.function)].Properties;
    expect(admin.Environment.Variables.PLEXMCP_ANALYTICS_TABLE).toEqual(tableRef);
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.adminApi.function));
    const onRollups = statements.filter((s) => JSON.stringify(s.Resource).includes(tableRef.Ref));
    expect(onRollups).toEqual([{ Effect: 'Allow', Action: ['dynamodb:Query', 'dynamodb:GetItem'], Resource: { 'Fn::GetAtt': [tableRef.Ref, 'Arn'] } }]);
  });

  test('one dashboard with the gateway, admin, health, analytics lag and DynamoDB sections', () => {
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(stack.resolve(dashboards[0].Properties.DashboardBody));
    for (const text of ['Gateway: invocations', 'Admin: duration', 'Health: invocations', 'IteratorAge', 'Dead-lettered batches', 'DynamoDB registry', 'DynamoDB counters', 'DynamoDB analytics', '5XXError', 'DeliveryToS3.Records']) {
      expect(body).toContain(text);
    }
  });

  test("the gateway's EMF request metrics: requests, errors, 429s, errors by code, total and gateway latency per Region", () => {
    // The names the consumer emits are the names charted.
    const { service, ...names } = GATEWAY_USAGE_METRICS;
    expect([service, names]).toEqual([USAGE_METRICS_SERVICE, USAGE_METRIC]);
    expect(DEFAULT_METRICS_NAMESPACE).toBe('PlexMCP');
    const body = stack.resolve(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody) as string | { 'Fn::Join': [string, unknown[]] };
    // Other widgets name resources by reference; those parts do not matter here.
    const text = typeof body === 'string' ? body : body['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : 'ref')).join('');
    const widgets = (JSON.parse(text) as { widgets: { properties: { title: string; metrics: unknown[][] } }[] }).widgets;
    const widget = (title: string) => widgets.find((w) => w.properties.title === title)!.properties;
    const dims = ['Region', 'us-east-1', 'service', 'plexmcp-gateway'];
    expect(widget('Gateway requests, errors, 429s (usage records)').metrics).toEqual([
      ['PlexMCP', 'Requests', ...dims, { label: 'requests', stat: 'Sum' }],
      ['PlexMCP', 'Errors', ...dims, { label: 'errors', stat: 'Sum' }],
      ['PlexMCP', 'Throttles', ...dims, { label: '429s', stat: 'Sum' }],
    ]);
    expect(widget('Gateway latency: total and gateway time (p50, p99)').metrics).toEqual([
      ['PlexMCP', 'Latency', ...dims, { label: 'total p50', stat: 'p50' }],
      ['PlexMCP', 'Latency', ...dims, { label: 'total p99', stat: 'p99' }],
      ['PlexMCP', 'GatewayLatency', ...dims, { label: 'gateway p50', stat: 'p50', yAxis: 'right' }],
      ['PlexMCP', 'GatewayLatency', ...dims, { label: 'gateway p99', stat: 'p99', yAxis: 'right' }],
    ]);
    expect(widget('Gateway errors by code (usage records)').metrics).toEqual([
      [{ expression: `SEARCH('{PlexMCP,service,Region,ErrorCode} MetricName="Errors" service="plexmcp-gateway" Region="us-east-1"', 'Sum', 300)` }],
    ]);
  });

  test('the request-path alarms: stage 5xx rate and gateway function error rate, to the operator topic', () => {
    const topic = stack.resolve(stack.healthMonitor.operatorAlarmTopic.topicArn);
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
    const rate = alarms.find((a) => /5xx for 10 minutes/.test(a.AlarmDescription));
    expect(rate).toMatchObject({ Threshold: 5, EvaluationPeriods: 2, ComparisonOperator: 'GreaterThanThreshold', AlarmActions: [topic], OKActions: [topic] });
    const expression = rate.Metrics.find((m: { Expression?: string }) => m.Expression !== undefined);
    expect(expression.Expression).toBe('IF(requests >= 20, 100 * errors / requests, 0)');
    const apiMetrics = rate.Metrics.filter((m: { MetricStat?: unknown }) => m.MetricStat !== undefined).map((m: { MetricStat: { Metric: { MetricName: string; Dimensions: unknown } } }) => m.MetricStat.Metric);
    expect(apiMetrics.map((m: { MetricName: string }) => m.MetricName).sort()).toEqual(['5XXError', 'Count']);
    const gateway = alarms.find((a) => /gateway function invocations failed/.test(a.AlarmDescription));
    expect(gateway).toMatchObject({ Threshold: 1, EvaluationPeriods: 2, AlarmActions: [topic] });
    // Consumer errors, lag and dead letters are there too.
    expect(alarms.filter((a) => /^PlexMCP analytics/.test(a.AlarmDescription))).toHaveLength(3);
  });

  test('context plexmcp:timestream=true creates the Timestream database and table', () => {
    for (const value of [true, 'true']) {
      const { template: withTimestream } = stackWith({ 'plexmcp:timestream': value });
      withTimestream.resourceCountIs('AWS::Timestream::Database', 1);
      withTimestream.resourceCountIs('AWS::Timestream::Table', 1);
    }
    stackWith({ 'plexmcp:timestream': 'false' }).template.resourceCountIs('AWS::Timestream::Database', 0);
  });

  test('a context value other than true or false is refused', () => {
    expect(() => stackWith({ 'plexmcp:timestream': 'yes' })).toThrow(/context plexmcp:timestream must be true or false, got "yes"/);
  });

  test.each([0, 100, -1, Number.NaN])('a 5xx rate threshold of %p is refused', (value) => {
    expect(() => new OperationsDashboard(stack, `Bad${String(value)}`, {
      api: stack.api.api,
      stageName: 'prod',
      gatewayFunction: stack.gateway.function,
      adminFunction: stack.adminApi.function,
      healthFunction: stack.healthMonitor.function,
      analytics: stack.analytics,
      tables: {},
      serverErrorRateThreshold: value,
    })).toThrow(/serverErrorRateThreshold must be a percentage above 0 and below 100/);
  });

  test('a gateway error rate threshold of 100 is refused', () => {
    expect(() => new OperationsDashboard(stack, 'BadGateway', {
      api: stack.api.api,
      stageName: 'prod',
      gatewayFunction: stack.gateway.function,
      adminFunction: stack.adminApi.function,
      healthFunction: stack.healthMonitor.function,
      analytics: stack.analytics,
      tables: {},
      gatewayErrorRateThreshold: 100,
    })).toThrow(/gatewayErrorRateThreshold must be a percentage above 0 and below 100/);
  });
});
