import { ArnFormat, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** Default name of the backup vault, in the primary region and in the copy region alike. */
export const DEFAULT_BACKUP_VAULT_NAME = 'plexmcp-backups';

/** Backup vault names: 2-50 of A-Z a-z 0-9 - _ . */
const VAULT_NAME_PATTERN = /^[A-Za-z0-9_.-]{2,50}$/;
const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** AWS Backup keeps a recovery point at most 100 years. */
const MAX_RETENTION_DAYS = 36_500;

/**
 * AWS Backup Vault Lock on the vault(s) of a {@link RegistryBackup}. A locked vault refuses any
 * backup or copy whose retention is outside [minRetention, maxRetention], and refuses to delete a
 * recovery point before its retention ends, for every principal.
 */
export interface BackupVaultLockOptions {
  /** Shortest retention a recovery point in the vault may have (whole days, at least 1). */
  readonly minRetention: Duration;

  /**
   * Longest retention a recovery point in the vault may have (whole days).
   *
   * @default - no maximum
   */
  readonly maxRetention?: Duration;

  /**
   * Time before the lock becomes immutable (compliance mode): at least 3 days (AWS Backup's
   * cooling-off period). After it, no one (the account's root user included) can change or
   * remove the lock, or delete a recovery point before its retention ends.
   *
   * @default - governance mode: a principal allowed `backup:DeleteBackupVaultLockConfiguration` can remove the lock
   */
  readonly changeableFor?: Duration;
}

/**
 * Options of a {@link RegistryBackup}: everything but the tables and the topic.
 */
export interface RegistryBackupOptions {
  /**
   * When the backup runs (UTC).
   *
   * @default - daily at 05:00 UTC
   */
  readonly schedule?: events.Schedule;

  /**
   * How long each daily recovery point is kept (whole days, 1 to 36500). Point-in-time recovery
   * covers the last 35 days to the second on its own; the plan adds recovery points that a
   * deleted table, a deleted replica or a lost region does not take with it.
   *
   * @default Duration.days(35)
   */
  readonly retention?: Duration;

  /**
   * Region that every recovery point is copied to (the copy lands in a vault of
   * {@link vaultName} there, created by {@link BackupCopyVault}: PlexMcpStack creates it in the
   * copy region's stack). `null` for no copy.
   *
   * @default - none (PlexMcpStack: the first replica region, if there is one)
   */
  readonly copyRegion?: string | null;

  /**
   * How long each copy is kept in the copy region (whole days).
   *
   * @default - {@link retention}
   */
  readonly copyRetention?: Duration;

  /**
   * Name of the backup vault (and of the copy vault in {@link copyRegion}). Two installations in
   * one account need two names.
   *
   * @default 'plexmcp-backups'
   */
  readonly vaultName?: string;

  /**
   * Vault Lock on the vault and the copy vault.
   *
   * @default - no lock
   */
  readonly vaultLock?: BackupVaultLockOptions;
}

/**
 * Properties for {@link RegistryBackup}.
 */
export interface RegistryBackupProps extends RegistryBackupOptions {
  /** The tables to back up, by a short label (registry, audit, webhook endpoints). */
  readonly tables: Readonly<Record<string, dynamodb.ITableV2>>;

  /**
   * The topic the backup-job-failed and copy-job-failed alarms notify (ALARM and OK).
   *
   * @default - the alarms have no actions
   */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * Properties for {@link EncryptedBackupVault}.
 */
export interface EncryptedBackupVaultProps {
  /** @default 'plexmcp-backups' */
  readonly vaultName?: string;
  /** @default - no lock */
  readonly vaultLock?: BackupVaultLockOptions;
}

/**
 * A backup vault encrypted with its own customer managed KMS key (rotation on). Vault and key are
 * retained when they leave the stack: they hold the recovery points.
 *
 * With AWS Backup's advanced DynamoDB backup (on by default in accounts created since November
 * 2021), DynamoDB recovery points are encrypted with the vault's key; without it they are
 * DynamoDB's own backups, encrypted like the table, and cannot be copied to another region.
 */
export class EncryptedBackupVault extends Construct {
  public readonly vault: backup.BackupVault;
  public readonly key: kms.Key;
  public readonly vaultName: string;

  constructor(scope: Construct, id: string, props: EncryptedBackupVaultProps = {}) {
    super(scope, id);
    const vaultName = props.vaultName ?? DEFAULT_BACKUP_VAULT_NAME;
    if (Token.isUnresolved(vaultName) || !VAULT_NAME_PATTERN.test(vaultName)) {
      throw new Error(`${new.target.name} ${id}: vaultName must be a literal backup vault name (2-50 of A-Z a-z 0-9 - _ .), got ${JSON.stringify(vaultName)}.`);
    }
    if (props.vaultLock !== undefined) validateLock(`${new.target.name} ${id}`, props.vaultLock);
    this.vaultName = vaultName;
    this.key = new kms.Key(this, 'Key', {
      description: `PlexMCP: encrypts the recovery points in backup vault ${vaultName}`,
      enableKeyRotation: true,
      // Deleting the key would make every recovery point in the vault unreadable.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.vault = new backup.BackupVault(this, 'Vault', {
      backupVaultName: vaultName,
      encryptionKey: this.key,
      lockConfiguration: props.vaultLock,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

/**
 * The copy region's vault of a {@link RegistryBackup}: same name, its own key. Created by the
 * stack of the copy region; the primary's plan addresses it by name.
 */
export class BackupCopyVault extends EncryptedBackupVault {}

/**
 * AWS Backup for the tables every region shares (the registry, the audit log, the webhook
 * endpoints), beside their point-in-time recovery: a vault with its own KMS key (and an optional
 * Vault Lock), a plan (daily by default, 35 days' retention, a copy to a second region), the
 * selection of the tables with a backup role, and alarms on failed backup and copy jobs.
 *
 * The tables are global tables: the plan backs up the primary region's replica, which holds every
 * item (replicas converge); a restore creates a new, single-region table (docs/dr.md).
 */
export class RegistryBackup extends Construct {
  /** The vault in this region. */
  public readonly vault: EncryptedBackupVault;

  public readonly plan: backup.BackupPlan;

  /** The role AWS Backup assumes to back up the tables and to restore them (start-restore-job --iam-role-arn). */
  public readonly role: iam.Role;

  /** The copy region, when recovery points are copied. */
  public readonly copyRegion?: string;

  /** ARN of the copy vault in {@link copyRegion}. */
  public readonly copyVaultArn?: string;

  public readonly retention: Duration;

  /** The Vault Lock of the vault, which the copy vault takes too. */
  public readonly vaultLock?: BackupVaultLockOptions;

  public readonly alarms: { readonly backupJobsFailed: cloudwatch.Alarm; readonly copyJobsFailed?: cloudwatch.Alarm };

  constructor(scope: Construct, id: string, props: RegistryBackupProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const retention = props.retention ?? Duration.days(35);
    const label = `RegistryBackup ${id}`;
    const retentionDays = wholeDays(label, 'retention', retention);
    const copyRetention = props.copyRetention ?? retention;
    const copyRetentionDays = wholeDays(label, 'copyRetention', copyRetention);
    for (const [name, days] of [['retention', retentionDays], ['copyRetention', copyRetentionDays]] as const) {
      if (days < 1 || days > MAX_RETENTION_DAYS) throw new Error(`RegistryBackup ${id}: ${name} must be 1 to ${MAX_RETENTION_DAYS} days, got ${days}.`);
      const lock = props.vaultLock;
      if (lock !== undefined) {
        const min = wholeDays(label, 'vaultLock.minRetention', lock.minRetention);
        const max = lock.maxRetention === undefined ? undefined : wholeDays(label, 'vaultLock.maxRetention', lock.maxRetention);
        // A locked vault fails every job whose retention is outside its bounds: refuse at synth.
        if (days < min || (max !== undefined && days > max)) {
          throw new Error(`RegistryBackup ${id}: ${name} (${days} days) must lie within the vault lock's retention bounds (${min} to ${max ?? 'unbounded'} days).`);
        }
      }
    }
    const copyRegion = props.copyRegion ?? undefined;
    if (copyRegion !== undefined) {
      if (Token.isUnresolved(copyRegion) || !REGION_PATTERN.test(copyRegion)) {
        throw new Error(`RegistryBackup ${id}: copyRegion must be a literal region name, got ${JSON.stringify(copyRegion)}.`);
      }
      if (copyRegion === stack.region) {
        throw new Error(`RegistryBackup ${id}: copyRegion must be another region than the stack's own (${stack.region}).`);
      }
    } else if (props.copyRetention !== undefined) {
      throw new Error(`RegistryBackup ${id}: copyRetention needs a copyRegion.`);
    }
    const tables = Object.entries(props.tables);
    if (tables.length === 0) throw new Error(`RegistryBackup ${id}: tables must name at least one table.`);

    this.retention = retention;
    this.vaultLock = props.vaultLock;
    this.vault = new EncryptedBackupVault(this, 'Vault', { vaultName: props.vaultName, vaultLock: props.vaultLock });
    const vaultName = this.vault.vaultName;
    this.copyRegion = copyRegion;
    this.copyVaultArn =
      copyRegion === undefined
        ? undefined
        : stack.formatArn({ service: 'backup', region: copyRegion, resource: 'backup-vault', resourceName: vaultName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    this.plan = new backup.BackupPlan(this, 'Plan', {
      backupPlanName: `${vaultName}-daily`,
      backupVault: this.vault.vault,
    });
    this.plan.addRule(
      new backup.BackupPlanRule({
        ruleName: 'Daily',
        scheduleExpression: props.schedule ?? events.Schedule.cron({ minute: '0', hour: '5' }),
        startWindow: Duration.hours(1),
        completionWindow: Duration.hours(8),
        deleteAfter: retention,
        copyActions:
          this.copyVaultArn === undefined
            ? undefined
            : [{ destinationBackupVault: backup.BackupVault.fromBackupVaultArn(this, 'CopyVault', this.copyVaultArn), deleteAfter: copyRetention }],
      }),
    );

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('backup.amazonaws.com'),
      description: 'PlexMCP: AWS Backup backs up (and restores) the PlexMCP tables',
      managedPolicies: [
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSBackupServiceRolePolicyForBackup'),
        iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSBackupServiceRolePolicyForRestores'),
      ],
    });
    for (const policy of ['AWSBackupServiceRolePolicyForBackup', 'AWSBackupServiceRolePolicyForRestores']) {
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`,
        reason: `${policy} is the policy AWS maintains for the AWS Backup service role: it follows every resource type and the advanced DynamoDB backup actions as AWS Backup adds them. Only backup.amazonaws.com can assume this role, and the selection names the PlexMCP tables alone.`,
      });
    }
    this.plan.addSelection('Tables', {
      backupSelectionName: 'plexmcp-tables',
      resources: tables.map(([, table]) => backup.BackupResource.fromArn(table.tableArn)),
      role: this.role,
    });

    // AWS Backup emits a data point only in hours with jobs: missing data is not a failure.
    const action = props.alarmTopic === undefined ? undefined : new cloudwatchActions.SnsAction(props.alarmTopic);
    const alarm = (alarmId: string, metricName: string, description: string): cloudwatch.Alarm => {
      const created = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: description,
        metric: this.metric(metricName),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (action !== undefined) {
        created.addAlarmAction(action);
        created.addOkAction(action);
      }
      return created;
    };
    this.alarms = {
      backupJobsFailed: alarm(
        'BackupJobsFailedAlarm',
        'NumberOfBackupJobsFailed',
        `PlexMCP backups: a backup job into vault ${vaultName} failed (aws backup list-backup-jobs --by-state FAILED --by-backup-vault-name ${vaultName}); today's recovery point is missing. Point-in-time recovery is unaffected.`,
      ),
      copyJobsFailed:
        copyRegion === undefined
          ? undefined
          : alarm(
              'CopyJobsFailedAlarm',
              'NumberOfCopyJobsFailed',
              `PlexMCP backups: copying a recovery point from vault ${vaultName} to ${copyRegion} failed (aws backup list-copy-jobs --by-state FAILED); does the vault ${vaultName} exist in ${copyRegion}, and is advanced DynamoDB backup on?`,
            ),
    };
  }

  /** An AWS/Backup metric of this vault, hourly sums by default. */
  metric(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Backup',
      metricName,
      dimensionsMap: { BackupVaultName: this.vault.vaultName },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.hours(1),
      ...props,
    });
  }
}

function wholeDays(id: string, prop: string, value: Duration): number {
  const days = value.toDays({ integral: false });
  if (!Number.isInteger(days)) throw new Error(`${id}: ${prop} must be whole days, got ${value.toHumanString()}.`);
  return days;
}

function validateLock(id: string, lock: BackupVaultLockOptions): void {
  const min = wholeDays(id, 'vaultLock.minRetention', lock.minRetention);
  if (min < 1 || min > MAX_RETENTION_DAYS) throw new Error(`${id}: vaultLock.minRetention must be 1 to ${MAX_RETENTION_DAYS} days, got ${min}.`);
  if (lock.maxRetention !== undefined) {
    const max = wholeDays(id, 'vaultLock.maxRetention', lock.maxRetention);
    if (max < min || max > MAX_RETENTION_DAYS) throw new Error(`${id}: vaultLock.maxRetention must be from minRetention (${min} days) to ${MAX_RETENTION_DAYS} days, got ${max}.`);
  }
  if (lock.changeableFor !== undefined && lock.changeableFor.toHours({ integral: false }) < 72) {
    throw new Error(`${id}: vaultLock.changeableFor must be at least 3 days (AWS Backup's cooling-off period), got ${lock.changeableFor.toHumanString()}.`);
  }
}
