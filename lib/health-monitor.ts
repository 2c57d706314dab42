import * as path from 'node:path';
import { ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { REGISTRY_TABLE } from '../lambda/core/registry-table';
import { PlexFunction, PROJECT_ROOT } from './lambda-defaults';
import { nagResourceText } from './private/nag';
import { RegistryGrants } from './registry-tables';

/** Lambda's longest timeout: a cycle never runs longer than this, whatever the interval. */
const LAMBDA_MAX_TIMEOUT = Duration.minutes(15);

/**
 * How much earlier than the next cycle a cycle must have ended: the function's timeout is the
 * interval (at most 15 minutes) minus this, so consecutive cycles of one shard do not overlap.
 */
export const HEALTH_CYCLE_MARGIN = Duration.seconds(10);

/** Shortest and longest check interval, in minutes. */
const INTERVAL_MINUTES = { min: 1, max: 60 } as const;

/** The registry partitions of the once-markers (lambda/adapters/health-runtime.ts noticeItemKey). */
const NOTICE_PARTITIONS = 'NOTICE#*';

/** Most schedules (shards) one monitor may have. */
const MAX_SHARDS = 50;

/**
 * The Duration alarm fires when one cycle used more than this share of its timeout: the cycle
 * is about to be cut off, and the deployment needs more shards (or a longer interval).
 */
const DURATION_ALARM_SHARE = 0.9;

/**
 * Properties for {@link HealthMonitor}.
 */
export interface HealthMonitorProps {
  /** The registry table in this region (the local replica of the global table). */
  readonly registryTable: dynamodb.ITableV2;

  /** The KMS key in this region that envelope-encrypts upstream credentials. */
  readonly credentialsKey: kms.IKey;

  /**
   * The event bus that health changes and metadata changes are put on (one event per change,
   * for EventBridge rules of the operator or of integrations).
   *
   * @default - a new event bus with a generated name (see {@link HealthMonitor.eventBus})
   */
  readonly eventBus?: events.IEventBus;

  /**
   * How often every endpoint is checked: whole minutes from 1 to 60. It is also the deadline of
   * a cycle: the function's timeout is this interval (at most 15 minutes) minus 10 seconds.
   *
   * @default Duration.minutes(1)
   */
  readonly interval?: Duration;

  /**
   * Number of schedules, each invoking the function with its own shard of the endpoints
   * (input `{"shard": i, "shards": n}`; MCP servers, with all their endpoints, are assigned to
   * shards by a stable hash of their org and slug). One
   * invocation checks every endpoint when it can do so within the interval; a deployment with
   * more endpoints than that needs more shards, which then run in parallel. 1 to 50.
   *
   * @default 1
   */
  readonly shards?: number;

  /**
   * The topic that the monitor's CloudWatch alarms notify (ALARM and OK). A given topic must
   * accept `sns:Publish` from `cloudwatch.amazonaws.com`, and, when it is encrypted, CloudWatch
   * must be allowed to use its key.
   *
   * @default - a new topic, encrypted with a new customer managed key (CloudWatch cannot
   * publish to a topic encrypted with the AWS managed key), publishing over TLS only
   */
  readonly operatorAlarmTopic?: sns.ITopic;

  /**
   * The topic that per-organisation alerts are published to, with the message attribute
   * `orgId`. Organisations' subscriptions (with a filter policy on `orgId`) are added at runtime
   * by the admin API; pass this topic to {@link AdminApiProps.orgAlertsTopic}.
   *
   * @default - a new topic, encrypted with the same customer managed key as the default alarm
   * topic, publishing over TLS only
   */
  readonly orgAlertsTopic?: sns.ITopic;

  /**
   * Reserved concurrency of the health function. At least {@link shards}: every shard's cycle
   * runs at the same time.
   *
   * @default - no reserved concurrency (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * Whether the monitor also announces API keys that expire within 7 days (`key.expiring` on the
   * bus, once per key), in an hourly scan that rides on shard 0's cycles. Its once-per-key marker
   * is a conditional write on the registry, a global table whose conditions only decide within one
   * region: enable it in exactly one region (PlexMcpStack: the primary).
   *
   * @default true
   */
  readonly keyExpiryScan?: boolean;

  /**
   * Retention of the function's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/** The CloudWatch alarms of a {@link HealthMonitor}; all of them notify the operator topic. */
export interface HealthMonitorAlarms {
  /** A cycle failed (function error or timeout). */
  readonly errors: cloudwatch.IAlarm;
  /** A cycle used more than 90% of its timeout: add shards before cycles are cut off. */
  readonly duration: cloudwatch.IAlarm;
  /** A cycle was throttled (reserved or account concurrency exhausted). */
  readonly throttles: cloudwatch.IAlarm;
  /** EventBridge Scheduler could not invoke the function: its event is in the dead-letter queue. */
  readonly deadLetters: cloudwatch.IAlarm;
}

/**
 * The health monitor of one region: a Lambda function that probes every MCP endpoint at the
 * MCP level (initialize, list tools/resources/prompts), records health and discovered metadata
 * in the registry, puts change events on an event bus and publishes per-organisation alerts to
 * an SNS topic. EventBridge Scheduler invokes it every {@link HealthMonitorProps.interval}, one
 * schedule per shard, all in a schedule group of their own (the scheduler role trusts only it).
 *
 * Scheduler invokes the function asynchronously. When Lambda refuses an invocation, Scheduler
 * tries twice more within one interval, then moves the event to an encrypted dead-letter queue.
 * Lambda itself does not retry a failed cycle (the next cycle comes an interval later) and drops
 * a cycle still queued after one interval. Alarms on errors, near-timeout durations, throttles
 * and dead letters notify the operator topic.
 *
 * The function may read the registry and query its `gsi1` index, write health items only
 * (PutItem on partitions `HEALTH#*`: endpoint states, transition history, discovered metadata;
 * see {@link RegistryGrants.healthWrites}), `Decrypt` with the credentials key (upstream
 * credentials; it never encrypts), put events on the bus and publish to the organisation
 * alerts topic. It probes third-party servers and parses what they answer, so it cannot change
 * or delete anything else in the registry.
 */
export class HealthMonitor extends Construct {
  /** The health function. */
  public readonly function: lambda.IFunction;

  /** The event bus that health and metadata change events are put on. */
  public readonly eventBus: events.IEventBus;

  /** The topic that the alarms notify. */
  public readonly operatorAlarmTopic: sns.ITopic;

  /** The topic that per-organisation alerts are published to (message attribute `orgId`). */
  public readonly orgAlertsTopic: sns.ITopic;

  /** The key that encrypts the topics created here; undefined when both topics were given. */
  public readonly topicKey?: kms.IKey;

  /** The schedule group that holds the schedules. */
  public readonly scheduleGroup: scheduler.IScheduleGroup;

  /** One schedule per shard, in shard order. */
  public readonly schedules: readonly scheduler.ISchedule[];

  /** The role that EventBridge Scheduler assumes to invoke the function. */
  public readonly schedulerRole: iam.IRole;

  /** Where Scheduler puts an invocation that it could not deliver. */
  public readonly deadLetterQueue: sqs.IQueue;

  /** The check interval. */
  public readonly interval: Duration;

  /** The number of shards (schedules). */
  public readonly shards: number;

  /** The alarms, all notifying {@link operatorAlarmTopic}. */
  public readonly alarms: HealthMonitorAlarms;

  constructor(scope: Construct, id: string, props: HealthMonitorProps) {
    super(scope, id);

    const interval = props.interval ?? Duration.minutes(1);
    const intervalMillis = interval.toMilliseconds({ integral: false });
    const intervalMinutes = intervalMillis / 60_000;
    if (!Number.isInteger(intervalMinutes) || intervalMinutes < INTERVAL_MINUTES.min || intervalMinutes > INTERVAL_MINUTES.max) {
      throw new Error(
        `HealthMonitor: interval must be a whole number of minutes from ${INTERVAL_MINUTES.min} to ${INTERVAL_MINUTES.max}, got ${interval.toHumanString()}.`,
      );
    }
    const shards = props.shards ?? 1;
    // A literal: it sets how many schedules are created.
    if (!Number.isInteger(shards) || shards < 1 || shards > MAX_SHARDS) {
      throw new Error(`HealthMonitor: shards must be an integer from 1 to ${MAX_SHARDS}, got ${shards}.`);
    }
    const reserved = props.reservedConcurrentExecutions;
    if (reserved !== undefined && !Token.isUnresolved(reserved) && (!Number.isInteger(reserved) || reserved < shards)) {
      throw new Error(
        `HealthMonitor: reservedConcurrentExecutions must be an integer of at least shards (${shards}): every shard's cycle runs at the same time; got ${reserved}.`,
      );
    }
    this.interval = interval;
    this.shards = shards;
    const keyExpiryScan = props.keyExpiryScan ?? true;
    const stack = Stack.of(this);

    // A cycle ends before the next one of its shard starts; Lambda stops at 15 minutes anyway.
    const budgetSeconds = Math.min(interval.toSeconds(), LAMBDA_MAX_TIMEOUT.toSeconds());
    const timeout = Duration.seconds(budgetSeconds - HEALTH_CYCLE_MARGIN.toSeconds());

    this.eventBus =
      props.eventBus ?? new events.EventBus(this, 'EventBus', { description: 'PlexMCP: MCP endpoint health and metadata changes' });

    // One customer managed key for the topics created here. CloudWatch alarms cannot publish to
    // a topic encrypted with the AWS managed key (aws/sns), whose policy cannot be changed.
    const topicKey =
      props.operatorAlarmTopic === undefined || props.orgAlertsTopic === undefined
        ? new kms.Key(this, 'TopicKey', {
            description: 'PlexMCP: server-side encryption of the health monitor topics (operator alarms, organisation alerts)',
            enableKeyRotation: true,
            // SNS keeps no messages at rest: once the topics are gone the key protects nothing.
            removalPolicy: RemovalPolicy.DESTROY,
          })
        : undefined;
    this.topicKey = topicKey;

    if (props.operatorAlarmTopic !== undefined) {
      this.operatorAlarmTopic = props.operatorAlarmTopic;
    } else {
      const topic = new sns.Topic(this, 'OperatorAlarmTopic', {
        displayName: 'PlexMCP operator alarms',
        masterKey: topicKey,
        enforceSSL: true,
      });
      // The topic policy that enforceSSL creates replaces SNS's default policy, so CloudWatch
      // needs an explicit allow; limited to alarms of this account and region.
      const fromAlarmsHere = {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }),
        },
      };
      const cloudwatchPrincipal = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
      topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowCloudWatchAlarmsToPublish',
          principals: [cloudwatchPrincipal],
          actions: ['sns:Publish'],
          resources: [topic.topicArn],
          conditions: fromAlarmsHere,
        }),
      );
      topicKey!.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'AllowCloudWatchAlarmsToPublishToEncryptedTopics',
          principals: [cloudwatchPrincipal],
          actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          resources: ['*'],
          conditions: fromAlarmsHere,
        }),
      );
      this.operatorAlarmTopic = topic;
    }

    this.orgAlertsTopic =
      props.orgAlertsTopic ??
      new sns.Topic(this, 'OrgAlertsTopic', {
        displayName: 'PlexMCP organisation alerts',
        masterKey: topicKey,
        enforceSSL: true,
      });

    const fn = new PlexFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'health', 'handler.ts'),
      description: `PlexMCP health monitor: MCP-level checks of every endpoint every ${intervalMinutes} min`,
      memorySize: 1024,
      timeout,
      reservedConcurrentExecutions: reserved,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environment: {
        PLEXMCP_MODE: 'aws',
        PLEXMCP_REGISTRY_TABLE: props.registryTable.tableName,
        PLEXMCP_KMS_KEY_ID: props.credentialsKey.keyArn,
        PLEXMCP_EVENT_BUS_NAME: this.eventBus.eventBusName,
        PLEXMCP_ORG_ALERTS_TOPIC_ARN: this.orgAlertsTopic.topicArn,
        PLEXMCP_KEY_EXPIRY_SCAN: keyExpiryScan ? 'on' : 'off',
      },
    });
    this.function = fn;
    // A failed cycle is not retried (the next one comes an interval later), and a cycle still
    // queued (throttled) after one interval is dropped: it would only overlap with the next.
    fn.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: interval });

    const registry = RegistryGrants.of(props.registryTable);
    registry.readData(fn);
    registry.healthWrites(fn);
    // An imported table (TableV2.fromTableName) knows no indexes, so the grant above covers the
    // base table only. Query on the list index is granted explicitly, for exactly that index.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${props.registryTable.tableArn}/index/${REGISTRY_TABLE.listIndex.name}`],
      }),
    );
    if (keyExpiryScan) {
      // The key-expiry scan's once-per-key markers (claim and release: UpdateItem), in NOTICE#
      // partitions only; PutEvents below carries its key.expiring events.
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:UpdateItem'],
          resources: [props.registryTable.tableArn],
          conditions: {
            'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': [NOTICE_PARTITIONS] },
            Null: { 'dynamodb:LeadingKeys': 'false' },
          },
        }),
      );
      props.registryTable.encryptionKey?.grantEncryptDecrypt(fn);
    }
    // Upstream credentials are only read here: Decrypt, nothing else.
    props.credentialsKey.grant(fn, 'kms:Decrypt');
    this.eventBus.grantPutEventsTo(fn);
    this.orgAlertsTopic.grantPublish(fn);

    const role = fn.role!;
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceText(fn, `${props.registryTable.tableArn}/index/*`)}]`,
      reason: 'grantReadData on the registry covers the registry table\'s own secondary indexes (<table>/index/*) for reads only; the health function queries the gsi1 list index. No other table is reachable, and its only registry write (PutItem of HEALTH# items) is granted on the base table ARN.',
    });
    if (this.orgAlertsTopic.masterKey !== undefined) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
        reason: 'grantPublish on the KMS-encrypted organisation alerts topic: SNS needs kms:GenerateDataKey* (and Decrypt) from the publisher, on the topic\'s key only.',
      });
    }

    // Undeliverable invocations. SSE-SQS, so that Scheduler needs no key permissions.
    const deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself a dead-letter queue: EventBridge Scheduler moves health invocations it could not deliver here (DeadLetterConfig of the schedules), and an alarm watches it.',
    });
    this.deadLetterQueue = deadLetterQueue;

    const scheduleGroup = new scheduler.ScheduleGroup(this, 'ScheduleGroup', {
      // The group only holds this monitor's schedules, which CloudFormation deletes with it.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.scheduleGroup = scheduleGroup;
    // Only schedules of this group, in this account, may use the role (confused deputy).
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account, 'aws:SourceArn': scheduleGroup.scheduleGroupArn },
        },
      }),
      description: 'EventBridge Scheduler: invoke the PlexMCP health function, dead-letter what cannot be delivered',
    });
    this.schedulerRole = schedulerRole;
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceText(fn, `${fn.functionArn}:*`)}]`,
      reason: 'LambdaInvoke grants lambda:InvokeFunction on the health function and its qualified ARNs (<function arn>:*, versions and aliases of this one function); no other function is reachable.',
    });

    const schedules: scheduler.ISchedule[] = [];
    for (let shard = 0; shard < shards; shard++) {
      const schedule = new scheduler.Schedule(this, `Shard${shard}`, {
        description: `PlexMCP health checks, shard ${shard + 1} of ${shards}`,
        scheduleGroup,
        schedule: scheduler.ScheduleExpression.rate(interval),
        timeWindow: scheduler.TimeWindow.off(),
        target: new schedulerTargets.LambdaInvoke(fn, {
          role: schedulerRole,
          input: scheduler.ScheduleTargetInput.fromObject({ shard, shards }),
          // A refused invocation (throttled, service error) is tried twice more; an event older
          // than one interval is superseded by the next cycle and goes to the dead-letter queue.
          retryAttempts: 2,
          maxEventAge: interval,
          deadLetterQueue,
        }),
      });
      // The schedule names its group by a plain string: CloudFormation must create the group first.
      schedule.node.addDependency(scheduleGroup);
      schedules.push(schedule);
    }
    this.schedules = schedules;

    // One data point per cycle (per period of one interval), summed over the shards.
    const perCycle = { period: interval };
    const alarmAction = new cloudwatchActions.SnsAction(this.operatorAlarmTopic);
    // One breaching period is enough; no data (no cycle ran, or nothing to count) is not a breach.
    const alarm = (alarmId: string, alarmProps: Omit<cloudwatch.AlarmProps, 'evaluationPeriods' | 'treatMissingData'>): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        ...alarmProps,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      created.addAlarmAction(alarmAction);
      created.addOkAction(alarmAction);
      return created;
    };
    this.alarms = {
      errors: alarm('ErrorsAlarm', {
        alarmDescription: 'PlexMCP health monitor: a health check cycle failed (function error or timeout).',
        metric: fn.metricErrors({ ...perCycle, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      }),
      duration: alarm('DurationAlarm', {
        alarmDescription: `PlexMCP health monitor: a cycle ran longer than ${DURATION_ALARM_SHARE * 100}% of its ${timeout.toSeconds()} s timeout; cycles are about to be cut off. Add shards or lengthen the interval.`,
        metric: fn.metricDuration({ ...perCycle, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: Math.round(timeout.toMilliseconds() * DURATION_ALARM_SHARE),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      throttles: alarm('ThrottlesAlarm', {
        alarmDescription: 'PlexMCP health monitor: a cycle was throttled (reserved or account concurrency exhausted); endpoints may go unchecked.',
        metric: fn.metricThrottles({ ...perCycle, statistic: cloudwatch.Stats.SUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      }),
      deadLetters: alarm('DeadLettersAlarm', {
        alarmDescription: 'PlexMCP health monitor: EventBridge Scheduler could not invoke the health function; the undelivered events are in the dead-letter queue.',
        metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      }),
    };
  }
}
