import { Duration, Stack } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { UsageAnalytics } from './analytics';
import type { RegistryBackup } from './backups';
import type { GatewayWaf } from './gateway-waf';
import type { RegionalOperatorAlarms } from './operator-alarms';
import { PLEX_METRICS_NAMESPACE } from './lambda-defaults';

/**
 * The gateway's request metrics that the analytics consumer emits as EMF from the usage records
 * (lambda/adapters/usage-metrics.ts; its test and this construct's pin the same names): namespace
 * PlexMCP, dimensions `service` = `plexmcp-gateway` and `Region`, and for the errors by code also
 * `ErrorCode`.
 */
export const GATEWAY_USAGE_METRICS = {
  service: 'plexmcp-gateway',
  requests: 'Requests',
  errors: 'Errors',
  throttles: 'Throttles',
  latency: 'Latency',
  gatewayLatency: 'GatewayLatency',
} as const;

/** Below this many requests in a period, an error rate says nothing: the rate alarms read 0. */
export const ERROR_RATE_MIN_REQUESTS = 20;

/**
 * Properties for {@link OperationsDashboard}.
 */
export interface OperationsDashboardProps {
  /** The region's REST API and its stage (gateway and admin API share it). */
  readonly api: apigateway.IRestApi;
  readonly stageName: string;

  readonly gatewayFunction: lambda.IFunction;
  readonly adminFunction: lambda.IFunction;
  readonly healthFunction: lambda.IFunction;
  readonly analytics: UsageAnalytics;

  /** The DynamoDB tables to chart, by a short label. */
  readonly tables: Readonly<Record<string, dynamodb.ITableV2>>;

  /**
   * Share of requests answered 5xx (whole stage) above which the 5xx alarm fires, in percent.
   *
   * @default 5
   */
  readonly serverErrorRateThreshold?: number;

  /**
   * Share of gateway invocations that failed (function errors: crashes, timeouts) above which
   * the gateway error alarm fires, in percent.
   *
   * @default 1
   */
  readonly gatewayErrorRateThreshold?: number;

  /**
   * The topic the two alarms notify (ALARM and OK).
   *
   * @default - the alarms are created without actions
   */
  readonly operatorAlarmTopic?: sns.ITopic;

  /**
   * The region's web ACL: allowed, blocked and counted requests, and its blocked-requests alarm.
   *
   * @default - no WAF section
   */
  readonly waf?: GatewayWaf;

  /**
   * The backup plan (the primary region's stack): jobs completed and failed, and its alarms.
   *
   * @default - no backup widgets
   */
  readonly backup?: RegistryBackup;

  /**
   * The region's further operator alarms, shown as one alarm status widget.
   *
   * @default - none
   */
  readonly operatorAlarms?: RegionalOperatorAlarms;
}

/** The alarms of an {@link OperationsDashboard}. */
export interface OperationsDashboardAlarms {
  /** The stage answered more than the threshold share of 5xx for 10 minutes. */
  readonly serverErrorRate: cloudwatch.IAlarm;
  /** The gateway function failed more than the threshold share of invocations for 10 minutes. */
  readonly gatewayErrorRate: cloudwatch.IAlarm;
}

/**
 * One CloudWatch dashboard per region: the REST API (requests, 4xx/5xx, latency), the gateway,
 * admin and health functions, the analytics pipeline (consumer lag, errors, dead letters,
 * export deliveries) and the DynamoDB tables; and the request-path error alarms (5xx rate of the
 * stage, function error rate of the gateway).
 *
 * Built from aws-cloudwatch directly rather than cdk-monitoring-constructs: the stack's alarms
 * follow one pattern (operator topic on ALARM and OK, missing data not breaching, thresholds
 * stated in the description) that the template tests pin down, and the handful of widgets here
 * does not pay for a second alarm and naming layer and its dependency tree.
 */
export class OperationsDashboard extends Construct {
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;

  /** The request-path alarms. */
  public readonly alarms: OperationsDashboardAlarms;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const serverThreshold = props.serverErrorRateThreshold ?? 5;
    const gatewayThreshold = props.gatewayErrorRateThreshold ?? 1;
    for (const [name, value] of [['serverErrorRateThreshold', serverThreshold], ['gatewayErrorRateThreshold', gatewayThreshold]] as const) {
      if (!Number.isFinite(value) || value <= 0 || value >= 100) {
        throw new Error(`OperationsDashboard: ${name} must be a percentage above 0 and below 100, got ${value}.`);
      }
    }

    const fiveMinutes = Duration.minutes(5);
    const apiMetric = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName,
        dimensionsMap: { ApiName: props.api.restApiName, Stage: props.stageName },
        statistic,
        period: fiveMinutes,
        label,
      });
    const requests = apiMetric('Count', cloudwatch.Stats.SUM, 'Requests');
    const serverErrors = apiMetric('5XXError', cloudwatch.Stats.SUM, '5xx');
    const clientErrors = apiMetric('4XXError', cloudwatch.Stats.SUM, '4xx');
    const serverErrorRate = new cloudwatch.MathExpression({
      expression: `IF(requests >= ${ERROR_RATE_MIN_REQUESTS}, 100 * errors / requests, 0)`,
      usingMetrics: { requests, errors: serverErrors },
      period: fiveMinutes,
      label: '5xx rate (%)',
    });
    const gateway = props.gatewayFunction;
    const gatewayInvocations = gateway.metricInvocations({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM });
    const gatewayErrors = gateway.metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM });
    const gatewayErrorRate = new cloudwatch.MathExpression({
      expression: `IF(invocations >= ${ERROR_RATE_MIN_REQUESTS}, 100 * errors / invocations, 0)`,
      usingMetrics: { invocations: gatewayInvocations, errors: gatewayErrors },
      period: fiveMinutes,
      label: 'Gateway function error rate (%)',
    });

    const action = props.operatorAlarmTopic !== undefined ? new cloudwatchActions.SnsAction(props.operatorAlarmTopic) : undefined;
    const alarm = (alarmId: string, alarmProps: cloudwatch.AlarmProps): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, alarmId, alarmProps);
      if (action !== undefined) {
        created.addAlarmAction(action);
        created.addOkAction(action);
      }
      return created;
    };
    // Two 5-minute periods: a single burst of upstream failures does not page the operator.
    this.alarms = {
      serverErrorRate: alarm('ServerErrorRateAlarm', {
        alarmDescription: `PlexMCP API: more than ${serverThreshold}% of requests (gateway and admin API, at least ${ERROR_RATE_MIN_REQUESTS} per 5 minutes) were answered 5xx for 10 minutes; upstream MCP servers or the gateway are failing.`,
        metric: serverErrorRate,
        threshold: serverThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
      gatewayErrorRate: alarm('GatewayErrorRateAlarm', {
        alarmDescription: `PlexMCP gateway: more than ${gatewayThreshold}% of gateway function invocations failed (crash, timeout) for 10 minutes.`,
        metric: gatewayErrorRate,
        threshold: gatewayThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 2,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      }),
    };

    const functionWidgets = (title: string, fn: lambda.IFunction): cloudwatch.IWidget[] => [
      new cloudwatch.GraphWidget({
        title: `${title}: invocations, errors, throttles`,
        left: [
          fn.metricInvocations({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
          fn.metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
          fn.metricThrottles({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${title}: duration (p50, p99)`,
        left: [
          fn.metricDuration({ period: fiveMinutes, statistic: cloudwatch.Stats.percentile(50), label: 'p50' }),
          fn.metricDuration({ period: fiveMinutes, statistic: cloudwatch.Stats.percentile(99), label: 'p99' }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: `${title}: concurrent executions`,
        left: [fn.metric('ConcurrentExecutions', { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM })],
        width: 8,
      }),
    ];

    const analytics = props.analytics;
    const consumer = analytics.function;
    const tableWidgets = Object.entries(props.tables).map(
      ([label, table]) =>
        new cloudwatch.GraphWidget({
          title: `DynamoDB ${label}: consumed capacity and throttles`,
          left: [
            table.metricConsumedReadCapacityUnits({ period: fiveMinutes, label: 'RCU' }),
            table.metricConsumedWriteCapacityUnits({ period: fiveMinutes, label: 'WCU' }),
          ],
          right: [
            table.metric('ReadThrottleEvents', { period: fiveMinutes, statistic: cloudwatch.Stats.SUM, label: 'read throttles' }),
            table.metric('WriteThrottleEvents', { period: fiveMinutes, statistic: cloudwatch.Stats.SUM, label: 'write throttles' }),
          ],
          width: 8,
        }),
    );

    // The gateway's own view of its requests (from the usage records, by the consumer): what the
    // agents saw, including the gateway's error codes, which API Gateway's metrics cannot tell apart.
    const usageDimensions = { service: GATEWAY_USAGE_METRICS.service, Region: Stack.of(this).region };
    const usageMetric = (metricName: string, statistic: string, label: string) =>
      new cloudwatch.Metric({ namespace: PLEX_METRICS_NAMESPACE, metricName, dimensionsMap: usageDimensions, statistic, period: fiveMinutes, label });
    const usageWidgets: cloudwatch.IWidget[] = [
      new cloudwatch.GraphWidget({
        title: 'Gateway requests, errors, 429s (usage records)',
        left: [
          usageMetric(GATEWAY_USAGE_METRICS.requests, cloudwatch.Stats.SUM, 'requests'),
          usageMetric(GATEWAY_USAGE_METRICS.errors, cloudwatch.Stats.SUM, 'errors'),
          usageMetric(GATEWAY_USAGE_METRICS.throttles, cloudwatch.Stats.SUM, '429s'),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Gateway errors by code (usage records)',
        left: [
          new cloudwatch.MathExpression({
            // One series per ErrorCode value that occurred, however many there are.
            // An empty label: each series is labelled with its ErrorCode, not the expression.
            label: '',
            expression: `SEARCH('{${PLEX_METRICS_NAMESPACE},service,Region,ErrorCode} MetricName="${GATEWAY_USAGE_METRICS.errors}" service="${GATEWAY_USAGE_METRICS.service}" Region="${Stack.of(this).region}"', 'Sum', 300)`,
            period: fiveMinutes,
          }),
        ],
        width: 8,
      }),
      new cloudwatch.GraphWidget({
        title: 'Gateway latency: total and gateway time (p50, p99)',
        left: [
          usageMetric(GATEWAY_USAGE_METRICS.latency, cloudwatch.Stats.percentile(50), 'total p50'),
          usageMetric(GATEWAY_USAGE_METRICS.latency, cloudwatch.Stats.percentile(99), 'total p99'),
        ],
        right: [
          usageMetric(GATEWAY_USAGE_METRICS.gatewayLatency, cloudwatch.Stats.percentile(50), 'gateway p50'),
          usageMetric(GATEWAY_USAGE_METRICS.gatewayLatency, cloudwatch.Stats.percentile(99), 'gateway p99'),
        ],
        width: 8,
      }),
    ];

    // Edge (WAF) and recovery (backups), and every other operator alarm of the region at a glance.
    const edgeWidgets: cloudwatch.IWidget[] = [];
    if (props.waf !== undefined) {
      edgeWidgets.push(
        new cloudwatch.GraphWidget({
          title: 'WAF: allowed, blocked, counted requests',
          left: [
            props.waf.metric('AllowedRequests', { label: 'allowed' }),
            props.waf.metric('BlockedRequests', { label: 'blocked' }),
            props.waf.metric('CountedRequests', { label: 'counted' }),
          ],
          width: 8,
        }),
        ...(props.waf.blockedRequestsAlarm === undefined ? [] : [new cloudwatch.AlarmWidget({ title: 'WAF blocked requests', alarm: props.waf.blockedRequestsAlarm, width: 8 })]),
      );
    }
    if (props.backup !== undefined) {
      const backup = props.backup;
      edgeWidgets.push(
        new cloudwatch.GraphWidget({
          title: `Backups (${backup.vault.vaultName}): jobs completed, failed; copies failed`,
          left: [
            backup.metric('NumberOfBackupJobsCompleted', { label: 'backups completed' }),
            backup.metric('NumberOfBackupJobsFailed', { label: 'backups failed' }),
            ...(backup.copyRegion === undefined ? [] : [backup.metric('NumberOfCopyJobsFailed', { label: `copies to ${backup.copyRegion} failed` })]),
          ],
          width: 8,
        }),
      );
    }
    const statusAlarms: cloudwatch.IAlarm[] = [
      ...Object.values(props.operatorAlarms?.alarms ?? {}),
      ...(props.backup === undefined ? [] : [props.backup.alarms.backupJobsFailed, ...(props.backup.alarms.copyJobsFailed === undefined ? [] : [props.backup.alarms.copyJobsFailed])]),
    ];
    const statusWidgets: cloudwatch.IWidget[] =
      statusAlarms.length === 0
        ? []
        : [new cloudwatch.AlarmStatusWidget({ title: 'Operator alarms (latency, throttles, concurrency, DynamoDB, replication, backups)', alarms: statusAlarms, width: 24 })];

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [new cloudwatch.TextWidget({ markdown: '## Gateway and API (requests, errors, latency)', width: 24, height: 1 })],
        [
          new cloudwatch.GraphWidget({ title: 'API requests, 4xx, 5xx', left: [requests, clientErrors, serverErrors], width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'API latency (p50, p99)',
            left: [apiMetric('Latency', cloudwatch.Stats.percentile(50), 'p50'), apiMetric('Latency', cloudwatch.Stats.percentile(99), 'p99')],
            width: 8,
          }),
          new cloudwatch.AlarmWidget({ title: '5xx rate', alarm: this.alarms.serverErrorRate, width: 8 }),
        ],
        usageWidgets,
        functionWidgets('Gateway', gateway),
        [new cloudwatch.TextWidget({ markdown: '## Admin API and health monitor', width: 24, height: 1 })],
        functionWidgets('Admin', props.adminFunction),
        functionWidgets('Health', props.healthFunction),
        [new cloudwatch.TextWidget({ markdown: '## Analytics (usage stream, consumer, export)', width: 24, height: 1 })],
        [
          new cloudwatch.AlarmWidget({ title: 'Consumer lag (IteratorAge, max)', alarm: analytics.alarms.iteratorAge, width: 8 }),
          new cloudwatch.GraphWidget({
            title: 'Consumer invocations and errors',
            left: [
              consumer.metricInvocations({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
              consumer.metricErrors({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
            ],
            width: 8,
          }),
          new cloudwatch.AlarmWidget({ title: 'Dead-lettered batches', alarm: analytics.alarms.deadLetters, width: 8 }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Usage stream: incoming records',
            left: [analytics.stream.metricIncomingRecords({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM })],
            right: [analytics.stream.metricPutRecordsThrottledRecords({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM, label: 'throttled' })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'S3 export: records delivered',
            left: [analytics.export.deliveryStream.metric('DeliveryToS3.Records', { period: fiveMinutes, statistic: cloudwatch.Stats.SUM })],
            right: [analytics.export.deliveryStream.metric('DeliveryToS3.DataFreshness', { period: fiveMinutes, statistic: cloudwatch.Stats.MAXIMUM, label: 'freshness (s)' })],
            width: 12,
          }),
        ],
        [new cloudwatch.TextWidget({ markdown: '## DynamoDB', width: 24, height: 1 })],
        tableWidgets,
        ...(edgeWidgets.length + statusWidgets.length === 0
          ? []
          : [[new cloudwatch.TextWidget({ markdown: '## Edge (WAF), backups and operator alarms', width: 24, height: 1 })], edgeWidgets, statusWidgets]),
      ],
    });
  }
}
