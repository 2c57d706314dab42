import * as path from 'node:path';
import { CfnOutput, CfnResource, Duration, Lazy, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct, type IConstruct } from 'constructs';
import { AUDIT_TABLE, DEFAULT_AUDIT_TABLE_NAME } from '../lambda/core/audit/table';
import { REGISTRY_TABLE } from '../lambda/core/registry-table';
import { PlexFunction, PROJECT_ROOT } from './lambda-defaults';

/** DynamoDB table names: 3-255 of a-z A-Z 0-9 _ . - */
const TABLE_NAME_PATTERN = /^[A-Za-z0-9_.-]{3,255}$/;
/** S3 Object Lock default retention is whole days; more than 100 years is refused here. */
const MAX_RETENTION_DAYS = 36_500;

/**
 * Properties for {@link AuditLog}.
 */
export interface AuditLogProps {
  /** The registry table: the digest function lists the organisations there (its list index). */
  readonly registryTable: dynamodb.ITableV2;

  /**
   * The bus that gets one `audit.digest.created` event per new digest.
   *
   * @default - no events
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Physical name of the audit table. Fixed, so that the admin functions of every region (and the
   * IAM deny statements of every stack) address it by name.
   *
   * @default 'plexmcp-audit'
   */
  readonly tableName?: string;

  /**
   * Regions that hold a read replica of the audit table (a global table). Every write goes to
   * this region's table (see {@link grantAuditAppend}): the per-org sequence claim is a
   * conditional write, which holds only within one region.
   *
   * @default - none
   */
  readonly replicaRegions?: string[];

  /**
   * Whether DynamoDB refuses to delete the audit table.
   *
   * @default true
   */
  readonly deletionProtection?: boolean;

  /**
   * How long each archived digest and entries object is locked (S3 Object Lock, COMPLIANCE mode:
   * no one, the account's root user included, can overwrite or delete a version before then).
   * Whole days, 1 to 36500.
   *
   * @default Duration.days(365)
   */
  readonly retention?: Duration;

  /**
   * How often the digest function runs. Whole minutes, at least 1 minute, at most 7 days.
   *
   * @default Duration.days(1)
   */
  readonly digestInterval?: Duration;

  /**
   * Retention of the digest function's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/** `dynamodb:LeadingKeys` patterns of the item families in the audit table (lambda/core/audit/table.ts). */
const ENTRY_KEYS = 'ORG#*';
const HEAD_KEYS = 'HEAD#*';
const DIGEST_KEYS = 'DIGEST#*';

const leadingKeys = (...patterns: string[]) => ({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': patterns } });

/**
 * What the audit writer (the admin function) needs, and nothing more: DynamoDbAuditStore puts
 * entry items (PutItem with attribute_not_exists, `ORG#` keys only), updates only the head items
 * (`HEAD#`: the change lock, the seq claim, the lock release), and reads with GetItem (the head)
 * and Query (the entries). `tableArn` may be another region's table (the writer region).
 */
export function grantAuditAppend(grantee: iam.IGrantable, tableArn: string): iam.Grant {
  return iam.Grant.addToPrincipal({
    grantee,
    actions: ['dynamodb:PutItem'],
    resourceArns: [tableArn],
    conditions: leadingKeys(ENTRY_KEYS),
  })
    .combine(iam.Grant.addToPrincipal({ grantee, actions: ['dynamodb:UpdateItem'], resourceArns: [tableArn], conditions: leadingKeys(HEAD_KEYS) }))
    .combine(grantAuditRead(grantee, tableArn));
}

/** Reading the audit log (entries, heads, digests): GetItem and Query on the table. */
export function grantAuditRead(grantee: iam.IGrantable, tableArn: string): iam.Grant {
  return iam.Grant.addToPrincipal({ grantee, actions: ['dynamodb:GetItem', 'dynamodb:Query'], resourceArns: [tableArn] });
}

/**
 * The statements that make the audit log append-only for every principal they are attached to,
 * whatever else it is granted: the table named `tableName`, in any region of the account
 * (replicas included).
 * - UpdateItem on entries and digests (`dynamodb:LeadingKeys` `ORG#*` or `DIGEST#*`): the writer
 *   updates only `HEAD#` items.
 * - DeleteItem, BatchWriteItem and PartiQL writes on any item: nothing deletes an audit item
 *   (deleting a head would restart an org's chain at seq 1), BatchWriteItem's puts carry no
 *   condition (they could overwrite an entry), and nothing uses PartiQL. Unconditional, because a
 *   request that carries no leading keys would not match a `ForAnyValue` condition at all.
 */
export function auditRewriteDenyStatements(tableName: string, scope: IConstruct): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const table = `arn:${stack.partition}:dynamodb:*:${stack.account}:table/${tableName}`;
  return [
    new iam.PolicyStatement({
      sid: 'DenyAuditEntryAndDigestUpdates',
      effect: iam.Effect.DENY,
      actions: ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
      resources: [table],
      conditions: { 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': [ENTRY_KEYS, DIGEST_KEYS] } },
    }),
    new iam.PolicyStatement({
      sid: 'DenyAuditDeletesAndUnconditionalWrites',
      effect: iam.Effect.DENY,
      actions: ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:PartiQLInsert', 'dynamodb:PartiQLUpdate', 'dynamodb:PartiQLDelete'],
      resources: [table, `${table}/*`],
    }),
  ];
}

/**
 * Attaches {@link auditRewriteDenyStatements} to every IAM role defined in `stack` (each Lambda
 * function's execution role, custom-resource providers' roles included, and every other role),
 * through one customer managed policy. The roles are collected when the policy is resolved, at
 * the end of synthesis, so roles that CDK itself adds late (the cross-region reference writer's
 * provider, made while references are resolved) are covered as well. Returns the policy.
 */
export function denyAuditRewrites(stack: Stack, tableName: string): iam.CfnManagedPolicy {
  return new iam.CfnManagedPolicy(stack, 'AuditRewriteDeny', {
    description: 'PlexMCP: no principal in this stack may update or delete audit entries and digests',
    policyDocument: new iam.PolicyDocument({ statements: auditRewriteDenyStatements(tableName, stack) }),
    // Uncached: reference resolution reads this list once before CDK has added its own late roles.
    roles: Lazy.uncachedList({
      produce: () =>
        stack.node
          .findAll()
          .filter((node): node is CfnResource => node instanceof CfnResource && node.cfnResourceType === 'AWS::IAM::Role' && Stack.of(node) === stack)
          .map((role) => role.ref),
    }),
  });
}

/**
 * The audit log's AWS side: the append-only audit table (entries, heads, digests; PITR,
 * deletion protection, AWS-owned encryption at rest), the asymmetric KMS key that signs digests
 * (ECC_NIST_P256, SIGN_VERIFY: its public key is what `plexmcp audit verify` checks with; the
 * key id is a stack output), the S3 bucket with Object Lock in COMPLIANCE mode that the digests
 * and their entries are archived to, and the digest function on a schedule (daily by default).
 * {@link grantAppend} gives the one writer exactly what DynamoDbAuditStore sends;
 * {@link denyAuditRewrites} puts the deny statements on every role of a stack.
 */
export class AuditLog extends Construct {
  /** The audit table (entries `ORG#`, heads `HEAD#`, digests `DIGEST#`). */
  public readonly table: dynamodb.TableV2;

  /** Physical name of the audit table. */
  public readonly tableName: string;

  /** The asymmetric key that signs digests. */
  public readonly signingKey: kms.Key;

  /** The Object Lock bucket holding the archived digests and entries. */
  public readonly archiveBucket: s3.Bucket;

  /** The scheduled digest function. */
  public readonly digestFunction: lambda.IFunction;

  /** The schedule that invokes the digest function. */
  public readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: AuditLogProps) {
    super(scope, id);

    const tableName = props.tableName ?? DEFAULT_AUDIT_TABLE_NAME;
    if (Token.isUnresolved(tableName) || !TABLE_NAME_PATTERN.test(tableName)) {
      throw new Error(`AuditLog ${id}: tableName must be a literal DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -), got ${JSON.stringify(tableName)}.`);
    }
    this.tableName = tableName;
    const retentionDays = wholeDays(id, 'retention', props.retention ?? Duration.days(365));
    if (retentionDays < 1 || retentionDays > MAX_RETENTION_DAYS) {
      throw new Error(`AuditLog ${id}: retention must be 1 to ${MAX_RETENTION_DAYS} days, got ${retentionDays}.`);
    }
    const interval = props.digestInterval ?? Duration.days(1);
    const intervalMinutes = interval.toMinutes({ integral: false });
    if (!Number.isInteger(intervalMinutes) || intervalMinutes < 1 || intervalMinutes > 7 * 24 * 60) {
      throw new Error(`AuditLog ${id}: digestInterval must be whole minutes, 1 minute to 7 days, got ${interval.toHumanString()}.`);
    }
    const replicaRegions = [...(props.replicaRegions ?? [])];
    const region = Stack.of(this).region;
    if (new Set(replicaRegions).size !== replicaRegions.length || (!Token.isUnresolved(region) && replicaRegions.includes(region))) {
      throw new Error(`AuditLog ${id}: replicaRegions must be distinct regions other than the table's own (${region}).`);
    }

    this.table = new dynamodb.TableV2(this, 'Table', {
      tableName,
      partitionKey: { name: AUDIT_TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: AUDIT_TABLE.sortKey, type: dynamodb.AttributeType.NUMBER },
      billing: dynamodb.Billing.onDemand(),
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      // AWS owned keys would work in every replica region without a key per region; an AWS
      // managed key (aws/dynamodb) is visible and auditable in the account, also per region.
      encryption: dynamodb.TableEncryptionV2.awsManagedKey(),
      // The log is the history: it outlives the stack.
      removalPolicy: RemovalPolicy.RETAIN,
      replicas: replicaRegions.map((replicaRegion) => ({ region: replicaRegion })),
    });

    this.signingKey = new kms.Key(this, 'DigestKey', {
      description: 'PlexMCP: signs audit digests (ECDSA P-256); its public key verifies them offline',
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      // Every digest ever signed must stay verifiable: the key is never deleted with the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.signingKey).acknowledge({
      id: 'AwsSolutions-KMS5',
      reason: 'KMS does not rotate asymmetric keys (rotation is for symmetric encryption keys only); digests are verified with this key\'s one published public key.',
    });
    new CfnOutput(this, 'DigestKeyId', {
      description: 'KMS key that signs audit digests: publish its public key (aws kms get-public-key --key-id <id> --query PublicKey --output text | base64 -d > key.der) for plexmcp audit verify',
      value: this.signingKey.keyId,
    });

    this.archiveBucket = new s3.Bucket(this, 'Archive', {
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(retentionDays)),
      versioned: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.archiveBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Only the digest function writes the archive (every version locked in COMPLIANCE mode) and only IAM principals read it; object-level access is audited with CloudTrail data events (an account-wide choice of the operator). An access-log bucket would itself be unlogged.',
    });
    new CfnOutput(this, 'ArchiveBucketName', {
      description: 'S3 bucket (Object Lock, COMPLIANCE) of the archived audit digests and entries: audit/<org>/<n>.ndjson and .digest.json, audit/_deployment/ for the deployment digests',
      value: this.archiveBucket.bucketName,
    });

    const fn = new PlexFunction(this, 'DigestFunction', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'audit', 'digest-handler.ts'),
      description: 'PlexMCP audit digests: sign, store and archive each org\'s and the deployment\'s digest',
      memorySize: 512,
      timeout: Duration.minutes(5),
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environment: {
        PLEXMCP_AUDIT_TABLE: tableName,
        PLEXMCP_REGISTRY_TABLE: props.registryTable.tableName,
        PLEXMCP_DIGEST_KEY_ID: this.signingKey.keyArn,
        PLEXMCP_AUDIT_BUCKET: this.archiveBucket.bucketName,
        ...(props.eventBus ? { PLEXMCP_EVENT_BUS_NAME: props.eventBus.eventBusName } : {}),
      },
    });
    this.digestFunction = fn;

    const tableArn = this.table.tableArn;
    // Heads (GetItem), entries to archive and digests (Query); new digests (PutItem on DIGEST#).
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [tableArn], conditions: leadingKeys(HEAD_KEYS) }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:Query'], resources: [tableArn], conditions: leadingKeys(ENTRY_KEYS, DIGEST_KEYS) }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [tableArn], conditions: leadingKeys(DIGEST_KEYS) }));
    // The organisations: Query on the registry's list index (gsi1pk = ORGS).
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${props.registryTable.tableArn}/index/${REGISTRY_TABLE.listIndex.name}`],
      }),
    );
    this.signingKey.grant(fn, 'kms:Sign', 'kms:GetPublicKey');
    // PutObject of the archive objects; GetObject for HeadObject (has()), and ListBucket so that
    // HeadObject of an object not archived yet answers 404 rather than 403.
    const archiveObjects = this.archiveBucket.arnForObjects('audit/*');
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:PutObject', 's3:GetObject'], resources: [archiveObjects] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.archiveBucket.bucketArn] }));
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.archiveBucket.node.defaultChild as s3.CfnBucket)}.Arn>/audit/*]`,
      reason: 'The digest function writes one object per digest under audit/<scope>/ in the archive bucket; object keys are only known at run time. Every version is locked by Object Lock.',
    });
    props.eventBus?.grantPutEventsTo(fn);

    // Its own role, allowed to invoke this function (unqualified) and nothing else; the target's
    // default role would be a stack-wide singleton granting `<function arn>:*` too.
    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', { conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } } }),
      description: 'EventBridge Scheduler: invoke the PlexMCP audit digest function',
    });
    schedulerRole.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    Validations.of(schedulerRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(fn.node.defaultChild as lambda.CfnFunction)}.Arn>:*]`,
      reason: 'The Scheduler Lambda target grants lambda:InvokeFunction on the digest function and its versions/aliases (<function arn>:*); it is the one function this role can invoke.',
    });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'PlexMCP: produce the audit digests',
      schedule: scheduler.ScheduleExpression.rate(interval),
      target: new schedulerTargets.LambdaInvoke(fn, { retryAttempts: 3, role: schedulerRole }),
    });
  }

  /** See {@link grantAuditAppend}: the one audit writer (the admin function). */
  grantAppend(grantee: iam.IGrantable): iam.Grant {
    return grantAuditAppend(grantee, this.table.tableArn);
  }

  /** See {@link grantAuditRead}. */
  grantRead(grantee: iam.IGrantable): iam.Grant {
    return grantAuditRead(grantee, this.table.tableArn);
  }
}

function wholeDays(id: string, prop: string, value: Duration): number {
  const days = value.toDays({ integral: false });
  if (!Number.isInteger(days)) throw new Error(`AuditLog ${id}: ${prop} must be whole days, got ${value.toHumanString()}.`);
  return days;
}
