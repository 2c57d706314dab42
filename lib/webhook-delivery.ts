import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { PlexFunction, PROJECT_ROOT } from './lambda-defaults';
import { nagResourceText } from './private/nag';

/** The function's timeout: one attempt takes at most 15 s; ten records run in parallel. */
const FUNCTION_TIMEOUT = Duration.seconds(60);

/** Default physical name of the webhook endpoints table (a global table: the same name in every region). */
export const DEFAULT_WEBHOOK_ENDPOINTS_TABLE_NAME = 'plexmcp-webhook-endpoints';
/** DynamoDB table names: 3-255 of a-z A-Z 0-9 _ . - */
const TABLE_NAME_PATTERN = /^[A-Za-z0-9_.-]{3,255}$/;
/** What DynamoDbWebhookEndpointStore reads with (get, list; the counter repair). */
const ENDPOINT_READS = ['dynamodb:GetItem', 'dynamodb:Query'];
/** What it writes with: create (UpdateItem of the counter, PutItem), replace (PutItem), delete. */
const ENDPOINT_WRITES = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];

export interface WebhookDeliveryProps {
  /** The PlexMCP event bus: every event with a `plexmcp.` source is fanned out to webhooks. */
  readonly eventBus: events.IEventBus;

  /** The registry table: the delivery function reads org plans (`maxWebhookEndpoints`). */
  readonly registryTable: dynamodb.ITableV2;

  /**
   * Physical name of the webhook endpoints table. Fixed, because the endpoints are one global
   * table for every region and the other regions' stacks address their replica by this name; two
   * installations in one account need two names.
   *
   * @default 'plexmcp-webhook-endpoints'
   */
  readonly endpointsTableName?: string;

  /**
   * Regions that get a replica of the endpoints table (this construct owns the global table; its
   * own region must not be listed). Only without {@link endpointsWriterRegion}.
   *
   * @default - none: a single-region table
   */
  readonly endpointsReplicaRegions?: string[];

  /**
   * The region whose stack owns the endpoints global table (the primary's). When set, this
   * construct creates no endpoints table: it uses this region's replica of
   * {@link endpointsTableName}. Every endpoint write goes to the writer region (the admin API's,
   * and the delivery function's failure state): the per-org cap and the version check of each
   * update are conditional writes, which a global table decides within one region only.
   *
   * @default - this construct owns the endpoints table, in its own region
   */
  readonly endpointsWriterRegion?: string;

  /**
   * The key that envelope-encrypts webhook signing secrets (the credentials key): the delivery
   * function may Decrypt, {@link WebhookDelivery.grantManageEndpoints} also GenerateDataKey.
   */
  readonly credentialsKey: kms.IKey;

  /**
   * How often a message is received before it moves to the dead-letter queue. A message fails
   * only when the store or the queue fails (a receiver's failure is a recorded attempt, not an
   * error), so a few tries suffice.
   *
   * @default 5
   */
  readonly maxReceiveCount?: number;

  /**
   * How often the sweep queues deliveries whose message was lost (1 to 60 minutes).
   *
   * @default Duration.minutes(5)
   */
  readonly sweepInterval?: Duration;

  /**
   * The oldest-message alarm's threshold. Retries wait in the queue for up to 15 minutes by
   * design (message delays), so it must be longer than that.
   *
   * @default Duration.minutes(30)
   */
  readonly oldestMessageAgeThreshold?: Duration;

  /**
   * The organisation alerts topic (see {@link HealthMonitor.orgAlertsTopic}). When given, the
   * delivery function emails `webhook.endpoint.disabled` to the org's alert subscribers: it
   * publishes to this topic (PLEXMCP_ORG_ALERTS_TOPIC_ARN) and reads the org's `ALERT#`
   * subscriptions from the registry (Query in `ORG#` partitions).
   *
   * @default - no alert emails: the disabled event goes to the bus only
   */
  readonly orgAlertsTopic?: sns.ITopic;

  /**
   * Where the alarms notify (alarm and OK).
   *
   * @default - no actions: the alarms are in CloudWatch only
   */
  readonly alarmTopic?: sns.ITopic;

  /**
   * Delete the tables with the stack (tests, throwaway stacks).
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;

  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
}

export interface WebhookDeliveryAlarms {
  /** Any message in the dead-letter queue: a delivery message or bus event failed repeatedly. */
  readonly deadLetters: cloudwatch.Alarm;
  /** The oldest message has waited longer than the threshold: the consumer is not keeping up. */
  readonly oldestMessageAge: cloudwatch.Alarm;
}

/**
 * Webhook delivery in AWS: an EventBridge rule puts every PlexMCP event on an encrypted SQS
 * queue; the delivery function (SQS event source, partial batch failures) fans each event out
 * into deliveries and makes the attempts, carrying the Standard Webhooks retry schedule in
 * message delays; a dead-letter queue keeps what failed repeatedly, a scheduled sweep re-queues
 * deliveries whose message was lost, and alarms watch both queues. The endpoint and delivery
 * tables are here too, with grants for the admin function.
 *
 * Endpoints are organisation configuration, shared by every region: the primary region's
 * construct owns them as a global table (`endpointsReplicaRegions`), every other region's uses
 * its replica (`endpointsWriterRegion`), so each region delivers the events raised there to every
 * endpoint of the org, wherever it was registered. Deliveries stay regional: a work queue of the
 * events this region raised, attempted from this region.
 */
export class WebhookDelivery extends Construct {
  /**
   * Webhook endpoints (pk `ORG#<orgId>`, sk `WHE#<id>` | `COUNT`): one global table for every
   * region; in this region the table this construct owns or the replica it imported.
   */
  public readonly endpointsTable: dynamodb.ITableV2;
  /** Physical name of the endpoints table, the same in every region. */
  public readonly endpointsTableName: string;
  /** The region where endpoints are written (this one when this construct owns the table). */
  public readonly endpointsWriterRegion: string;
  /** ARN of the endpoints table in the writer region. */
  public readonly endpointsWriterTableArn: string;
  /** Deliveries, this region's only (id; `due` and `byEndpoint` indexes; TTL `expiresAt`). */
  public readonly deliveriesTable: dynamodb.TableV2;
  public readonly queue: sqs.Queue;
  public readonly deadLetterQueue: sqs.Queue;
  public readonly function: PlexFunction;
  /** Bus → queue. */
  public readonly rule: events.Rule;
  /** Schedule → function (the sweep). */
  public readonly sweepRule: events.Rule;
  public readonly alarms: WebhookDeliveryAlarms;
  /**
   * What the admin function (and anything else that manages endpoints) needs in its environment
   * besides the registry and the KMS key: the two tables and the queue URL.
   */
  public readonly environment: Readonly<Record<string, string>>;

  private readonly credentialsKey: kms.IKey;

  constructor(scope: Construct, id: string, props: WebhookDeliveryProps) {
    super(scope, id);
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new Error(`WebhookDelivery: maxReceiveCount must be an integer from 1 to 1000, got ${maxReceiveCount}.`);
    }
    const sweepInterval = props.sweepInterval ?? Duration.minutes(5);
    if (!Token.isUnresolved(sweepInterval.toSeconds()) && (sweepInterval.toSeconds() < 60 || sweepInterval.toSeconds() > 3600 || sweepInterval.toSeconds() % 60 !== 0)) {
      throw new Error(`WebhookDelivery: sweepInterval must be whole minutes from 1 to 60, got ${sweepInterval.toHumanString()}.`);
    }
    const ageThreshold = props.oldestMessageAgeThreshold ?? Duration.minutes(30);
    if (ageThreshold.toSeconds() <= 900) {
      throw new Error(`WebhookDelivery: oldestMessageAgeThreshold must be longer than 15 minutes (retries wait that long in the queue), got ${ageThreshold.toHumanString()}.`);
    }
    this.credentialsKey = props.credentialsKey;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    const endpointsTableName = props.endpointsTableName ?? DEFAULT_WEBHOOK_ENDPOINTS_TABLE_NAME;
    if (Token.isUnresolved(endpointsTableName) || !TABLE_NAME_PATTERN.test(endpointsTableName)) {
      throw new Error(`WebhookDelivery ${id}: endpointsTableName must be a literal DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got ${JSON.stringify(endpointsTableName)}.`);
    }
    this.endpointsTableName = endpointsTableName;
    const region = Stack.of(this).region;
    const replicaRegions = [...(props.endpointsReplicaRegions ?? [])];
    if (props.endpointsWriterRegion !== undefined) {
      // A regional stack: the owner's global table, through this region's replica.
      const writerRegion = props.endpointsWriterRegion;
      if (replicaRegions.length > 0) {
        throw new Error(`WebhookDelivery ${id}: endpointsReplicaRegions belong to the construct that owns the endpoints table, not to one with endpointsWriterRegion.`);
      }
      if (Token.isUnresolved(writerRegion) || Token.isUnresolved(region) || writerRegion === region) {
        throw new Error(`WebhookDelivery ${id}: endpointsWriterRegion must be a literal region other than the stack's own (${region}), got ${JSON.stringify(writerRegion)}.`);
      }
      this.endpointsTable = dynamodb.TableV2.fromTableName(this, 'EndpointsTable', endpointsTableName);
      this.endpointsWriterRegion = writerRegion;
      this.endpointsWriterTableArn = Stack.of(this).formatArn({ service: 'dynamodb', region: writerRegion, resource: 'table', resourceName: endpointsTableName });
    } else {
      if (replicaRegions.length > 0 && Token.isUnresolved(region)) {
        // TableV2 needs to know which replica is local; an environment-agnostic stack cannot say.
        throw new Error(`WebhookDelivery ${id}: endpointsReplicaRegions need a stack with a concrete region (set env.region).`);
      }
      if (new Set(replicaRegions).size !== replicaRegions.length || replicaRegions.includes(region)) {
        throw new Error(`WebhookDelivery ${id}: endpointsReplicaRegions must be distinct regions other than the stack's own (${region}).`);
      }
      // Replica-level settings (PITR, deletion protection) are set on the table and inherited by
      // every replica (TableOptionsV2), as for the registry.
      const table = new dynamodb.TableV2(this, 'EndpointsTable', {
        tableName: endpointsTableName,
        partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
        sortKey: { name: 'sk', type: dynamodb.AttributeType.STRING },
        billing: dynamodb.Billing.onDemand(),
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
        removalPolicy,
        replicas: replicaRegions.map((replicaRegion) => ({ region: replicaRegion })),
      });
      this.endpointsTable = table;
      // An environment-agnostic stack (tests, composition) writes in the function's own region.
      this.endpointsWriterRegion = region;
      this.endpointsWriterTableArn = table.tableArn;
    }
    this.deliveriesTable = new dynamodb.TableV2(this, 'DeliveriesTable', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      removalPolicy,
      globalSecondaryIndexes: [
        {
          indexName: 'due',
          partitionKey: { name: 'dueShard', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'nextAttemptAt', type: dynamodb.AttributeType.NUMBER },
        },
        {
          indexName: 'byEndpoint',
          partitionKey: { name: 'endpointId', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'enqueuedAt', type: dynamodb.AttributeType.NUMBER },
        },
      ],
    });

    // SSE-SQS: EventBridge can write to it without key permissions.
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the webhook delivery queue (and of the bus rule\'s target); an alarm watches it.',
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(4),
      // Six times the function timeout, as Lambda asks of an SQS event source.
      visibilityTimeout: Duration.seconds(FUNCTION_TIMEOUT.toSeconds() * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });

    this.function = new PlexFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'webhooks', 'handler.ts'),
      description: 'PlexMCP webhooks: fan out bus events, deliver with Standard Webhooks signatures and retries',
      memorySize: 512,
      timeout: FUNCTION_TIMEOUT,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environment: {
        PLEXMCP_MODE: 'aws',
        PLEXMCP_REGISTRY_TABLE: props.registryTable.tableName,
        PLEXMCP_KMS_KEY_ID: props.credentialsKey.keyArn,
        PLEXMCP_EVENT_BUS_NAME: props.eventBus.eventBusName,
        PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: endpointsTableName,
        PLEXMCP_WEBHOOK_ENDPOINTS_REGION: this.endpointsWriterRegion,
        PLEXMCP_WEBHOOK_DELIVERIES_TABLE: this.deliveriesTable.tableName,
        PLEXMCP_WEBHOOK_QUEUE_URL: this.queue.queueUrl,
        ...(props.orgAlertsTopic ? { PLEXMCP_ORG_ALERTS_TOPIC_ARN: props.orgAlertsTopic.topicArn } : {}),
      },
    });
    this.environment = {
      PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: endpointsTableName,
      PLEXMCP_WEBHOOK_ENDPOINTS_REGION: this.endpointsWriterRegion,
      PLEXMCP_WEBHOOK_DELIVERIES_TABLE: this.deliveriesTable.tableName,
      PLEXMCP_WEBHOOK_QUEUE_URL: this.queue.queueUrl,
    };
    this.function.addEventSource(new SqsEventSource(this.queue, { batchSize: 10, reportBatchItemFailures: true }));
    const fn = this.function;
    // Endpoints: read in this region's replica (fan-out, signing secrets); recordOutcome's
    // failingSince and disabling are written (PutItem) in the writer region, which it also reads
    // after a miss or a lost race (ReplicaEndpointStore in lambda/webhooks/handler.ts).
    if (props.endpointsWriterRegion !== undefined) {
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ENDPOINT_READS, resources: [this.endpointsTable.tableArn] }));
    }
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: [...ENDPOINT_READS, 'dynamodb:PutItem'], resources: [this.endpointsWriterTableArn] }));
    this.deliveriesTable.grantReadWriteData(fn);
    this.queue.grantSendMessages(fn); // the next attempt
    // The registry is read for one thing, the org's plan: GetItem on the base table, nothing else.
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [props.registryTable.tableArn] }));
    props.registryTable.encryptionKey?.grantDecrypt(fn);
    props.credentialsKey.grant(fn, 'kms:Decrypt'); // signing secrets: decrypt only
    props.eventBus.grantPutEventsTo(fn); // webhook.endpoint.disabled
    if (props.orgAlertsTopic) {
      // The disabled endpoint's alert email: the org's subscriptions (ALERT# items in its ORG#
      // partition, a consistent Query on the base table) and Publish on the topic (and its key).
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: [props.registryTable.tableArn],
          conditions: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['ORG#*'] }, Null: { 'dynamodb:LeadingKeys': 'false' } },
        }),
      );
      props.orgAlertsTopic.grantPublish(fn);
      if (props.orgAlertsTopic.masterKey !== undefined) {
        Validations.of(fn.role!).acknowledge({
          id: 'AwsSolutions-IAM5[Action::kms:GenerateDataKey*]',
          reason: 'grantPublish on the KMS-encrypted organisation alerts topic: SNS needs kms:GenerateDataKey* (and Decrypt) from the publisher, on the topic\'s key only.',
        });
      }
    }
    this.acknowledgeIndexes(fn.role!, 'the webhook delivery function queries the due index (sweep) and byEndpoint');

    this.rule = new events.Rule(this, 'Rule', {
      description: 'PlexMCP events to the webhook delivery queue',
      eventBus: props.eventBus,
      eventPattern: { source: events.Match.prefix('plexmcp.') },
      targets: [new targets.SqsQueue(this.queue, { deadLetterQueue: this.deadLetterQueue, retryAttempts: 10 })],
    });

    this.sweepRule = new events.Rule(this, 'SweepRule', {
      description: 'PlexMCP webhooks: re-queue deliveries whose message was lost',
      schedule: events.Schedule.rate(sweepInterval),
      targets: [new targets.LambdaFunction(fn, { event: events.RuleTargetInput.fromObject({ sweep: true }), retryAttempts: 2 })],
    });

    const alarm = (alarmId: string, alarmProps: Omit<cloudwatch.AlarmProps, 'evaluationPeriods' | 'treatMissingData'>) => {
      const created = new cloudwatch.Alarm(this, alarmId, { ...alarmProps, evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING });
      if (props.alarmTopic) {
        const action = new cloudwatchActions.SnsAction(props.alarmTopic);
        created.addAlarmAction(action);
        created.addOkAction(action);
      }
      return created;
    };
    this.alarms = {
      deadLetters: alarm('DeadLettersAlarm', {
        alarmDescription: 'PlexMCP webhooks: messages in the dead-letter queue (a bus event or delivery message failed repeatedly; the store still has the delivery, the sweep retries it).',
        metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
      oldestMessageAge: alarm('OldestMessageAgeAlarm', {
        alarmDescription: `PlexMCP webhooks: a message has waited more than ${ageThreshold.toHumanString()} in the delivery queue; the delivery function is not keeping up.`,
        metric: this.queue.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(5), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: ageThreshold.toSeconds(),
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
    };
  }

  /**
   * What the admin API's webhook routes need: read and write endpoints (in the writer region,
   * where the admin API makes every endpoint change) and this region's deliveries (create, rotate,
   * list deliveries, redeliver), send `{deliveryId}` messages (test events, redeliveries), and
   * GenerateDataKey/Decrypt on the credentials key (new secrets are encrypted there). Put
   * {@link environment} into the grantee's environment as well.
   */
  grantManageEndpoints(grantee: iam.IGrantable): iam.Grant {
    const grant = iam.Grant.addToPrincipal({ grantee, actions: [...ENDPOINT_READS, ...ENDPOINT_WRITES], resourceArns: [this.endpointsWriterTableArn] });
    this.deliveriesTable.grantReadWriteData(grantee);
    this.queue.grantSendMessages(grantee);
    this.credentialsKey.grant(grantee, 'kms:GenerateDataKey', 'kms:Decrypt');
    const role = (grantee.grantPrincipal as iam.IRole).roleName !== undefined ? (grantee.grantPrincipal as iam.Role) : undefined;
    if (role) this.acknowledgeIndexes(role, 'the admin API lists an endpoint\'s deliveries on the byEndpoint index');
    return grant;
  }

  private acknowledgeIndexes(role: iam.IRole, why: string): void {
    // The endpoints table has no index and its grants name the table only.
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceText(this, `${this.deliveriesTable.tableArn}/index/*`)}]`,
      reason: `grantReadWriteData on the webhook deliveries table covers that table's own secondary indexes (<table>/index/*); ${why}. No other table is reachable.`,
    });
  }
}
