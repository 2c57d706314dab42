import { Duration } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PlexMcpStack } from '../../lib';
import { BackupCopyVault, RegistryBackup, type RegistryBackupOptions } from '../../lib/backups';
import { ACCOUNT, testApp, testStack } from './helpers';

function build(options: RegistryBackupOptions = {}, region = 'us-east-1') {
  const stack = testStack(testApp(), 'Test', region);
  const table = new dynamodb.TableV2(stack, 'Table', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
  const topic = new sns.Topic(stack, 'Ops', { enforceSSL: true });
  const backup = new RegistryBackup(stack, 'Backup', { ...options, tables: { registry: table }, alarmTopic: topic });
  return { stack, table, topic, backup, template: Template.fromStack(stack) };
}

const ref = (stack: { getLogicalId(e: never): string }, construct: { node: { defaultChild?: unknown } }) => ({ Ref: stack.getLogicalId(construct.node.defaultChild as never) });

describe('RegistryBackup', () => {
  test('a vault encrypted with its own rotating KMS key, both retained', () => {
    const { template, stack, backup } = build();
    template.resourceCountIs('AWS::Backup::BackupVault', 1);
    template.hasResource('AWS::Backup::BackupVault', {
      DeletionPolicy: 'Retain',
      Properties: { BackupVaultName: 'plexmcp-backups', EncryptionKeyArn: { 'Fn::GetAtt': [stack.getLogicalId(backup.vault.key.node.defaultChild as never), 'Arn'] } },
    });
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: { EnableKeyRotation: true } });
    // No Vault Lock unless asked for.
    expect(Object.values(template.findResources('AWS::Backup::BackupVault'))[0].Properties.LockConfiguration).toBeUndefined();
  });

  test('a daily plan at 05:00 UTC keeping 35 days, into the vault, with no copy by default', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: {
        BackupPlanName: 'plexmcp-backups-daily',
        BackupPlanRule: [
          {
            RuleName: 'Daily',
            ScheduleExpression: 'cron(0 5 * * ? *)',
            StartWindowMinutes: 60,
            CompletionWindowMinutes: 480,
            Lifecycle: { DeleteAfterDays: 35 },
            TargetBackupVault: Match.anyValue(),
            CopyActions: Match.absent(),
          },
        ],
      },
    });
  });

  test('selects the tables by ARN with its own backup role (AWS managed backup and restore policies)', () => {
    const { template, stack, table, backup } = build();
    template.hasResourceProperties('AWS::Backup::BackupSelection', {
      BackupSelection: {
        SelectionName: 'plexmcp-tables',
        IamRoleArn: { 'Fn::GetAtt': [stack.getLogicalId(backup.role.node.defaultChild as never), 'Arn'] },
        Resources: [{ 'Fn::GetAtt': [stack.getLogicalId(table.node.defaultChild as never), 'Arn'] }],
      },
    });
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'backup.amazonaws.com' } }] },
      ManagedPolicyArns: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup']] },
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores']] },
      ],
    });
  });

  test('a copy region adds a copy action to the same-named vault there, kept copyRetention days', () => {
    const { template, backup } = build({ copyRegion: 'eu-west-1', retention: Duration.days(14), copyRetention: Duration.days(90) });
    expect(backup.copyVaultArn).toBeDefined();
    template.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: {
        BackupPlanRule: [
          Match.objectLike({
            Lifecycle: { DeleteAfterDays: 14 },
            CopyActions: [
              {
                DestinationBackupVaultArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:backup:eu-west-1:${ACCOUNT}:backup-vault:plexmcp-backups`]] },
                Lifecycle: { DeleteAfterDays: 90 },
              },
            ],
          }),
        ],
      },
    });
  });

  test('alarms on failed backup jobs of the vault, and on failed copies when there is a copy, to the topic', () => {
    const { template, stack, topic } = build({ copyRegion: 'eu-west-1' });
    const topicRef = ref(stack, topic);
    for (const metricName of ['NumberOfBackupJobsFailed', 'NumberOfCopyJobsFailed']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/Backup',
        MetricName: metricName,
        Dimensions: [{ Name: 'BackupVaultName', Value: 'plexmcp-backups' }],
        Statistic: 'Sum',
        Period: 3600,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [topicRef],
        OKActions: [topicRef],
      });
    }
    expect(Object.values(build().template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.MetricName)).toEqual(['NumberOfBackupJobsFailed']);
  });

  test('schedule, retention, vault name and a Vault Lock are props', () => {
    const { template } = build({
      schedule: events.Schedule.cron({ minute: '30', hour: '1' }),
      retention: Duration.days(30),
      vaultName: 'team-backups',
      vaultLock: { minRetention: Duration.days(7), maxRetention: Duration.days(365), changeableFor: Duration.days(3) },
    });
    template.hasResourceProperties('AWS::Backup::BackupVault', {
      BackupVaultName: 'team-backups',
      LockConfiguration: { MinRetentionDays: 7, MaxRetentionDays: 365, ChangeableForDays: 3 },
    });
    template.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: { BackupPlanName: 'team-backups-daily', BackupPlanRule: [Match.objectLike({ ScheduleExpression: 'cron(30 1 * * ? *)', Lifecycle: { DeleteAfterDays: 30 } })] },
    });
  });

  test.each<[string, RegistryBackupOptions, RegExp]>([
    ['a retention of 0 days', { retention: Duration.days(0) }, /retention must be 1 to 36500 days, got 0/],
    ['a retention in hours', { retention: Duration.hours(36) }, /retention must be whole days, got 1 day 12 hours/],
    ['a copy retention over 100 years', { copyRegion: 'eu-west-1', copyRetention: Duration.days(36_501) }, /copyRetention must be 1 to 36500 days/],
    ['a copy retention without a copy region', { copyRetention: Duration.days(10) }, /copyRetention needs a copyRegion/],
    ['a copy to the own region', { copyRegion: 'us-east-1' }, /copyRegion must be another region than the stack's own \(us-east-1\)/],
    ['a copy region that is no region', { copyRegion: 'Europe' }, /copyRegion must be a literal region name, got "Europe"/],
    ['a vault name with a space', { vaultName: 'my vault' }, /vaultName must be a literal backup vault name/],
    ['a retention below the lock minimum', { vaultLock: { minRetention: Duration.days(60) } }, /retention \(35 days\) must lie within the vault lock's retention bounds \(60 to unbounded days\)/],
    ['a copy retention above the lock maximum', { copyRegion: 'eu-west-1', copyRetention: Duration.days(400), vaultLock: { minRetention: Duration.days(1), maxRetention: Duration.days(365) } }, /copyRetention \(400 days\) must lie within/],
    ['a lock maximum below its minimum', { retention: Duration.days(10), vaultLock: { minRetention: Duration.days(10), maxRetention: Duration.days(5) } }, /retention \(10 days\) must lie within|maxRetention must be from minRetention/],
    ['a lock that becomes immutable within 3 days', { vaultLock: { minRetention: Duration.days(1), changeableFor: Duration.days(2) } }, /changeableFor must be at least 3 days/],
  ])('rejects %s', (_name, options, error) => {
    expect(() => build(options)).toThrow(error);
  });

  test('rejects an empty table list', () => {
    const stack = testStack();
    expect(() => new RegistryBackup(stack, 'Backup', { tables: {} })).toThrow(/tables must name at least one table/);
  });

  test('a lock maximum below its minimum is refused by the vault itself', () => {
    const stack = testStack();
    expect(() => new BackupCopyVault(stack, 'Copy', { vaultLock: { minRetention: Duration.days(10), maxRetention: Duration.days(5) } })).toThrow(
      /BackupCopyVault Copy: vaultLock.maxRetention must be from minRetention \(10 days\)/,
    );
  });
});

describe('backups in PlexMcpStack', () => {
  function app(primaryProps: Partial<ConstructorParameters<typeof PlexMcpStack>[2]> = {}, regions = ['eu-west-1']) {
    const cdkApp = testApp();
    const primary = new PlexMcpStack(cdkApp, 'PlexMcp-us-east-1', { env: { account: ACCOUNT, region: 'us-east-1' }, replicaRegions: regions, ...primaryProps });
    const regional = regions.map((region) => new PlexMcpStack(cdkApp, `PlexMcp-${region}`, { env: { account: ACCOUNT, region }, primary }));
    return { cdkApp, primary, regional };
  }

  test('the primary backs up the registry, audit and webhook endpoints tables and copies to the first replica region, whose stack has the copy vault', () => {
    const { primary, regional } = app({}, ['eu-west-1', 'ap-southeast-2']);
    const template = Template.fromStack(primary);
    const selection = Object.values(template.findResources('AWS::Backup::BackupSelection'))[0].Properties.BackupSelection;
    const tableIds = [primary.registryTable, primary.auditLog!.table, primary.webhooks.endpointsTable].map((t) => primary.getLogicalId(t.node.defaultChild as never));
    expect(selection.Resources).toEqual(tableIds.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] })));
    expect(primary.backup!.copyRegion).toBe('eu-west-1');
    template.hasOutput('BackupVaultName', { Value: 'plexmcp-backups' });
    template.hasOutput('BackupRoleArn', {});

    const copy = Template.fromStack(regional[0]);
    copy.resourceCountIs('AWS::Backup::BackupVault', 1);
    copy.hasResourceProperties('AWS::Backup::BackupVault', { BackupVaultName: 'plexmcp-backups' });
    copy.resourceCountIs('AWS::Backup::BackupPlan', 0);
    expect(regional[0].backupCopyVault).toBeDefined();
    // The other replica region has neither.
    Template.fromStack(regional[1]).resourceCountIs('AWS::Backup::BackupVault', 0);
    expect(regional[1].backup).toBeUndefined();
  });

  test('a single-region deployment has no copy; copyRegion null turns it off; the copy vault takes the lock', () => {
    const single = new PlexMcpStack(testApp(), 'Solo', { env: { account: ACCOUNT, region: 'us-east-1' } });
    expect(single.backup!.copyRegion).toBeUndefined();
    Template.fromStack(single).hasResourceProperties('AWS::Backup::BackupPlan', { BackupPlan: { BackupPlanRule: [Match.objectLike({ CopyActions: Match.absent() })] } });

    const off = app({ backup: { copyRegion: null } });
    expect(off.primary.backup!.copyRegion).toBeUndefined();
    expect(off.regional[0].backupCopyVault).toBeUndefined();

    const locked = app({ backup: { vaultLock: { minRetention: Duration.days(7) } } });
    Template.fromStack(locked.regional[0]).hasResourceProperties('AWS::Backup::BackupVault', { LockConfiguration: { MinRetentionDays: 7 } });
  });

  test('backup on a regional stack is refused', () => {
    const cdkApp = testApp();
    const primary = new PlexMcpStack(cdkApp, 'P', { env: { account: ACCOUNT, region: 'us-east-1' }, replicaRegions: ['eu-west-1'] });
    expect(() => new PlexMcpStack(cdkApp, 'R', { env: { account: ACCOUNT, region: 'eu-west-1' }, primary, backup: {} })).toThrow(/backup belongs to the primary stack/);
  });

  test('cdk-nag AwsSolutions: the primary and the copy region stacks are clean', () => {
    const { cdkApp } = app();
    for (const stack of cdkApp.node.children) Template.fromStack(stack as PlexMcpStack);
    expect(new AwsSolutionsChecks().validateScope(cdkApp).violations).toEqual([]);
  });

  test('cdk-nag AwsSolutions: the construct alone is clean (the backup role acknowledges its two AWS managed policies)', () => {
    const { stack } = build({ copyRegion: 'eu-west-1', vaultLock: { minRetention: Duration.days(1) } });
    expect(new AwsSolutionsChecks().validateScope(stack.node.root).violations).toEqual([]);
  });
});
