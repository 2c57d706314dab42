import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/**
 * A global table whose replication out of this region is watched: DynamoDB emits
 * `ReplicationLatency` in the region that wrote the item, per receiving region.
 */
export interface ReplicatedTable {
  /** Physical name of the table (the same in every region). */
  readonly tableName: string;
  /** The regions that hold a replica, this one excluded. */
  readonly receivingRegions: readonly string[];
}

/**
 * Properties for {@link RegionalOperatorAlarms}.
 */
export interface RegionalOperatorAlarmsProps {
  /** The region's REST API and its stage. */
  readonly api: apigateway.IRestApi;
  readonly stageName: string;

  /** The gateway function. */
  readonly gatewayFunction: lambda.IFunction;

  /** This region's DynamoDB tables whose throttles are watched, by a short label. */
  readonly tables: Readonly<Record<string, dynamodb.ITableV2>>;

  /**
   * Global tables whose replication out of this region is watched, by a short label. Only the
   * tables this region writes: a replica that is never written here emits nothing.
   *
   * @default - none
   */
  readonly replicatedTables?: Readonly<Record<string, ReplicatedTable>>;

  /** The topic every alarm notifies (ALARM and OK). */
  readonly operatorAlarmTopic: sns.ITopic;

  /**
   * p99 of API Gateway's `Latency` (whole stage, milliseconds) above which, for 15 minutes, the
   * latency alarm fires. Streamed answers (SSE, `subscriptions/listen`) can last minutes and lift
   * the p99: keep it above the length of the streams agents hold, or raise it.
   *
   * @default 10000
   */
  readonly apiLatencyP99ThresholdMs?: number;

  /**
   * Throttled gateway invocations in 5 minutes at or above which the throttle alarm fires
   * (each is an agent's request refused by Lambda: reserved or account concurrency exhausted,
   * or a burst faster than Lambda scales).
   *
   * @default 1
   */
  readonly gatewayThrottleThreshold?: number;

  /**
   * The account's Lambda concurrency quota in this region (Service Quotas, "Concurrent
   * executions"). The account concurrency alarm compares the region's `ConcurrentExecutions`
   * (every function, not only PlexMCP's) with {@link accountConcurrencyAlarmPercent} of it.
   *
   * @default 1000 - the default quota
   */
  readonly accountConcurrencyLimit?: number;

  /**
   * Share of {@link accountConcurrencyLimit} (percent) at which the account concurrency alarm
   * fires; also the share of the gateway's reserved concurrency at which the gateway
   * concurrency warning fires (the gateway's own alarm fires on reaching it).
   *
   * @default 80
   */
  readonly concurrencyAlarmPercent?: number;

  /**
   * Read plus write throttle events of one table in 5 minutes at or above which its throttle
   * alarm fires.
   *
   * @default 10
   */
  readonly dynamoDbThrottleThreshold?: number;

  /**
   * Average replication latency to one receiving region above which, for 15 minutes, the
   * replication alarm fires: writes in this region reach that region this late.
   *
   * @default Duration.minutes(1)
   */
  readonly replicationLatencyThreshold?: Duration;
}

/**
 * The operator alarms of one region that no other PlexMCP construct raises, all to the operator
 * topic (ALARM and OK; missing data is not a breach): API Gateway p99 latency, gateway function
 * throttles, the region's Lambda concurrency near the account quota, the gateway near its
 * reserved concurrency, DynamoDB read/write throttles per table, and the replication latency of
 * the global tables this region writes, per receiving region.
 *
 * Raised elsewhere, not here: the stage's 5xx rate and the gateway's error rate
 * ({@link OperationsDashboard}), the gateway at its reserved concurrency (McpGateway), WAF
 * blocked requests (GatewayWaf), failed backups (RegistryBackup), the health monitor's, the
 * analytics pipeline's and the webhooks' own alarms.
 */
export class RegionalOperatorAlarms extends Construct {
  /** Every alarm of this construct, by a short name (`TableThrottles-<label>`, `Replication-<label>-<region>`, ...). */
  public readonly alarms: Readonly<Record<string, cloudwatch.Alarm>>;

  constructor(scope: Construct, id: string, props: RegionalOperatorAlarmsProps) {
    super(scope, id);
    const latencyThreshold = props.apiLatencyP99ThresholdMs ?? 10_000;
    const throttleThreshold = props.gatewayThrottleThreshold ?? 1;
    const accountLimit = props.accountConcurrencyLimit ?? 1000;
    const percent = props.concurrencyAlarmPercent ?? 80;
    const tableThrottleThreshold = props.dynamoDbThrottleThreshold ?? 10;
    const replicationThreshold = props.replicationLatencyThreshold ?? Duration.minutes(1);
    const positiveInteger = (name: string, value: number) => {
      if (!Number.isInteger(value) || value < 1) throw new Error(`RegionalOperatorAlarms: ${name} must be a whole number of at least 1, got ${value}.`);
    };
    positiveInteger('apiLatencyP99ThresholdMs', latencyThreshold);
    positiveInteger('gatewayThrottleThreshold', throttleThreshold);
    positiveInteger('accountConcurrencyLimit', accountLimit);
    positiveInteger('dynamoDbThrottleThreshold', tableThrottleThreshold);
    if (!Number.isFinite(percent) || percent <= 0 || percent > 100) {
      throw new Error(`RegionalOperatorAlarms: concurrencyAlarmPercent must be a percentage above 0 and at most 100, got ${percent}.`);
    }
    const replicationMs = replicationThreshold.toMilliseconds();
    if (replicationMs < 1000) {
      throw new Error(`RegionalOperatorAlarms: replicationLatencyThreshold must be at least 1 second, got ${replicationThreshold.toHumanString()}.`);
    }

    const region = Stack.of(this).region;
    const fiveMinutes = Duration.minutes(5);
    const action = new cloudwatchActions.SnsAction(props.operatorAlarmTopic);
    const alarms: Record<string, cloudwatch.Alarm> = {};
    const alarm = (name: string, alarmProps: Omit<cloudwatch.AlarmProps, 'treatMissingData'>): void => {
      const created = new cloudwatch.Alarm(this, `${name}Alarm`, { ...alarmProps, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING });
      created.addAlarmAction(action);
      created.addOkAction(action);
      alarms[name] = created;
    };

    alarm('ApiLatencyP99', {
      alarmDescription: `PlexMCP API: p99 latency of the stage above ${latencyThreshold} ms for 15 minutes (gateway and admin API; streamed answers count their whole length). Compare IntegrationLatency and the gateway's GatewayLatency on the dashboard: upstream MCP servers, DynamoDB or the gateway.`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/ApiGateway',
        metricName: 'Latency',
        dimensionsMap: { ApiName: props.api.restApiName, Stage: props.stageName },
        statistic: cloudwatch.Stats.percentile(99),
        period: fiveMinutes,
      }),
      threshold: latencyThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });

    const gateway = props.gatewayFunction;
    alarm('GatewayThrottles', {
      alarmDescription: `PlexMCP gateway: ${throttleThreshold} or more invocations throttled by Lambda in 5 minutes; agents got errors. Reserved or account concurrency is exhausted (see the concurrency alarms) or traffic grew faster than Lambda scales.`,
      metric: gateway.metricThrottles({ period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
      threshold: throttleThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
    });

    const accountThreshold = Math.ceil((accountLimit * percent) / 100);
    alarm('AccountConcurrency', {
      alarmDescription: `PlexMCP region ${region}: Lambda ConcurrentExecutions of the whole account reached ${accountThreshold} (${percent}% of the quota of ${accountLimit}); functions without a reservation (admin API, health monitor, analytics, webhooks, and the gateway when it has none) are about to be throttled. Ask for a higher quota (Service Quotas, Lambda, Concurrent executions) and set accountConcurrencyLimit to it.`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Lambda',
        metricName: 'ConcurrentExecutions',
        statistic: cloudwatch.Stats.MAXIMUM,
        period: Duration.minutes(1),
      }),
      threshold: accountThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
    });

    // The reservation as synthesized, wherever it was decided (McpGateway's default included).
    const reserved = reservedConcurrencyOf(gateway);
    if (reserved !== undefined && percent < 100) {
      const warnAt = Math.max(1, Math.floor((reserved * percent) / 100));
      alarm('GatewayConcurrencyWarning', {
        alarmDescription: `PlexMCP gateway: ConcurrentExecutions reached ${warnAt} of its reserved ${reserved} (${percent}%) for 3 minutes; at ${reserved} requests are throttled. Raise reservedConcurrentExecutions or find the keys holding long streams.`,
        metric: gateway.metric('ConcurrentExecutions', { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: warnAt,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
      });
    }

    for (const [label, table] of Object.entries(props.tables)) {
      alarm(`TableThrottles-${label}`, {
        alarmDescription: `PlexMCP DynamoDB ${label} table: ${tableThrottleThreshold} or more read and write throttle events in 5 minutes in ${region} (on-demand tables throttle on hot partitions and sudden doublings of traffic); requests that use it fail or slow down.`,
        metric: new cloudwatch.MathExpression({
          expression: 'reads + writes',
          usingMetrics: {
            reads: table.metric('ReadThrottleEvents', { period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
            writes: table.metric('WriteThrottleEvents', { period: fiveMinutes, statistic: cloudwatch.Stats.SUM }),
          },
          period: fiveMinutes,
          label: `${label} throttle events`,
        }),
        threshold: tableThrottleThreshold,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
      });
    }

    for (const [label, table] of Object.entries(props.replicatedTables ?? {})) {
      if (new Set(table.receivingRegions).size !== table.receivingRegions.length || table.receivingRegions.some((r) => Token.isUnresolved(r) || r === region)) {
        throw new Error(`RegionalOperatorAlarms: replicatedTables.${label}.receivingRegions must be distinct literal regions other than ${region}.`);
      }
      for (const receivingRegion of table.receivingRegions) {
        alarm(`Replication-${label}-${receivingRegion}`, {
          alarmDescription: `PlexMCP DynamoDB ${label} global table (${table.tableName}): writes in ${region} reach the replica in ${receivingRegion} more than ${replicationThreshold.toHumanString()} late (average, 15 minutes). Reads there are stale: revocations and registry changes take effect late in ${receivingRegion}.`,
          metric: new cloudwatch.Metric({
            namespace: 'AWS/DynamoDB',
            metricName: 'ReplicationLatency',
            dimensionsMap: { TableName: table.tableName, ReceivingRegion: receivingRegion },
            statistic: cloudwatch.Stats.AVERAGE,
            period: fiveMinutes,
          }),
          threshold: replicationMs,
          comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 3,
        });
      }
    }
    this.alarms = alarms;
  }
}

/** The reserved concurrency of `fn` when it is a function of this app with a literal reservation. */
function reservedConcurrencyOf(fn: lambda.IFunction): number | undefined {
  const cfn = fn.node.defaultChild;
  if (!(cfn instanceof lambda.CfnFunction)) return undefined;
  const reserved = cfn.reservedConcurrentExecutions;
  return typeof reserved === 'number' && !Token.isUnresolved(reserved) && reserved > 0 ? reserved : undefined;
}
