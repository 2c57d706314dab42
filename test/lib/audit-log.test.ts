import { CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AuditLog, type AuditLogProps, denyAuditRewrites } from '../../lib/audit-log';
import { PlexFunction } from '../../lib/lambda-defaults';
import { ACCOUNT, actionsOf, roleLogicalIdOf, statementsOfRole, testStack } from './helpers';

function build(props: Partial<AuditLogProps> = {}, stack: Stack = testStack()) {
  const registryTable = new dynamodb.TableV2(stack, 'Registry', { partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING } });
  const eventBus = new events.EventBus(stack, 'Bus');
  const audit = new AuditLog(stack, 'Audit', { registryTable, eventBus, ...props });
  return { stack, audit, registryTable };
}

const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnResource);

describe('AuditLog', () => {
  test('the audit table: pk string / sk number, on-demand, PITR, deletion protection, KMS encryption, retained', () => {
    const { stack } = build({ replicaRegions: ['eu-west-1'] });
    const template = Template.fromStack(stack);
    template.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        TableName: 'plexmcp-audit',
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'N' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true, SSEType: 'KMS' },
        Replicas: [
          Match.objectLike({ Region: 'eu-west-1', DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
          Match.objectLike({ Region: 'us-east-1', DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }),
        ],
      }),
    });
  });

  test('deletionProtection false is passed through', () => {
    const { stack } = build({ deletionProtection: false });
    Template.fromStack(stack).hasResourceProperties('AWS::DynamoDB::GlobalTable', { Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })] });
  });

  test('the signing key: asymmetric ECC_NIST_P256 for SIGN_VERIFY, retained, its id an output', () => {
    const { stack, audit } = build();
    const template = Template.fromStack(stack);
    template.hasResource('AWS::KMS::Key', { DeletionPolicy: 'Retain', Properties: Match.objectLike({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' }) });
    const outputs = template.findOutputs('*', { Value: { Ref: logicalId(stack, audit.signingKey) } });
    expect(Object.keys(outputs)).toHaveLength(1);
  });

  test('the archive bucket: Object Lock COMPLIANCE with the default 365 days, versioned, encrypted, no public access, TLS only', () => {
    const { stack, audit } = build();
    const template = Template.fromStack(stack);
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        ObjectLockEnabled: true,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 365 } } },
        VersioningConfiguration: { Status: 'Enabled' },
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      }),
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logicalId(stack, audit.archiveBucket) },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('retention and digest interval props', () => {
    const { stack } = build({ retention: Duration.days(2555), digestInterval: Duration.hours(6) });
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::S3::Bucket', { ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 2555 } } } });
    template.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'rate(6 hours)' });
  });

  test('the digest function runs on a daily schedule with its environment', () => {
    const { stack, audit, registryTable } = build();
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 day)',
      State: 'ENABLED',
      Target: Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(stack, audit.digestFunction), 'Arn'] }, RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 3 }) }),
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Handler: 'index.handler',
      Environment: {
        Variables: Match.objectLike({
          PLEXMCP_AUDIT_TABLE: 'plexmcp-audit',
          PLEXMCP_REGISTRY_TABLE: { Ref: logicalId(stack, registryTable) },
          PLEXMCP_DIGEST_KEY_ID: { 'Fn::GetAtt': [logicalId(stack, audit.signingKey), 'Arn'] },
          PLEXMCP_AUDIT_BUCKET: { Ref: logicalId(stack, audit.archiveBucket) },
          PLEXMCP_EVENT_BUS_NAME: Match.anyValue(),
          POWERTOOLS_SERVICE_NAME: 'plexmcp-audit',
        }),
      },
    });
  });

  test('the digest function may sign, read heads/entries/digests, put only digests, archive, list orgs', () => {
    const { stack, audit } = build();
    const template = Template.fromStack(stack);
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, audit.digestFunction));
    const table = { 'Fn::GetAtt': [logicalId(stack, audit.table), 'Arn'] };
    const byAction = (action: string) => statements.filter((s) => actionsOf(s).includes(action));
    expect(byAction('dynamodb:PutItem')).toEqual([expect.objectContaining({ Resource: table, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['DIGEST#*'] } } })]);
    expect(byAction('dynamodb:GetItem')).toEqual([expect.objectContaining({ Resource: table, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEAD#*'] } } })]);
    expect(byAction('dynamodb:UpdateItem')).toEqual([]);
    expect(byAction('dynamodb:DeleteItem')).toEqual([]);
    expect(byAction('kms:Sign')).toEqual([expect.objectContaining({ Action: ['kms:Sign', 'kms:GetPublicKey'] })]);
    expect(byAction('s3:PutObject')).toHaveLength(1);
    expect(byAction('s3:DeleteObject')).toEqual([]);
    expect(byAction('events:PutEvents')).toHaveLength(1);
  });

  test('grantAppend: PutItem only on ORG# keys, UpdateItem only on HEAD# keys, GetItem/Query; grantRead: GetItem/Query', () => {
    const { stack, audit } = build();
    const writer = new PlexFunction(stack, 'Writer', { entry: 'lambda/admin/handler.ts' });
    const reader = new PlexFunction(stack, 'Reader', { entry: 'lambda/admin/handler.ts' });
    audit.grantAppend(writer);
    audit.grantRead(reader);
    const template = Template.fromStack(stack);
    const table = { 'Fn::GetAtt': [logicalId(stack, audit.table), 'Arn'] };
    const writes = statementsOfRole(template, roleLogicalIdOf(template, stack, writer)).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(writes).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: table, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['ORG#*'] } } },
      { Effect: 'Allow', Action: 'dynamodb:UpdateItem', Resource: table, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEAD#*'] } } },
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Query'], Resource: table },
    ]);
    const reads = statementsOfRole(template, roleLogicalIdOf(template, stack, reader)).filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(reads).toEqual([{ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Query'], Resource: table }]);
  });

  test('denyAuditRewrites puts the deny statements on every role of the stack, roles made later included', () => {
    const { stack, audit } = build();
    denyAuditRewrites(stack, audit.tableName);
    const later = new lambda.Function(stack, 'Later', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=()=>1') });
    new iam.Role(stack, 'Other', { assumedBy: new iam.ServicePrincipal('states.amazonaws.com') });
    const template = Template.fromStack(stack);
    // Any region of the account: the replicas, and the writer region's table seen from a regional stack.
    const tableArn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:*:${ACCOUNT}:table/plexmcp-audit`]] };
    const tableChildren = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:*:${ACCOUNT}:table/plexmcp-audit/*`]] };
    const policies = template.findResources('AWS::IAM::ManagedPolicy');
    expect(Object.keys(policies)).toHaveLength(1);
    const [policy] = Object.values(policies) as Array<{ Properties: { Roles: Array<{ Ref: string }>; PolicyDocument: { Statement: unknown[] } } }>;
    expect(policy!.Properties.PolicyDocument.Statement).toEqual([
      {
        Sid: 'DenyAuditEntryAndDigestUpdates',
        Effect: 'Deny',
        Action: ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'],
        Resource: tableArn,
        Condition: { 'ForAnyValue:StringLike': { 'dynamodb:LeadingKeys': ['ORG#*', 'DIGEST#*'] } },
      },
      {
        Sid: 'DenyAuditDeletesAndUnconditionalWrites',
        Effect: 'Deny',
        Action: ['dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:PartiQLInsert', 'dynamodb:PartiQLUpdate', 'dynamodb:PartiQLDelete'],
        Resource: [tableArn, tableChildren],
      },
    ]);
    const attached = policy!.Properties.Roles.map((r) => r.Ref).sort();
    const allRoles = Object.keys(template.findResources('AWS::IAM::Role')).sort();
    expect(attached).toEqual(allRoles);
    // Every function's role is among them, the one defined after the call too.
    for (const [, fn] of Object.entries(template.findResources('AWS::Lambda::Function'))) {
      expect(attached).toContain((fn as { Properties: { Role: { 'Fn::GetAtt': [string, string] } } }).Properties.Role['Fn::GetAtt'][0]);
    }
    expect(attached).toContain(stack.getLogicalId(later.role!.node.defaultChild as CfnResource));
  });

  test.each<[string, Partial<AuditLogProps>, string]>([
    ['a bad table name', { tableName: 'a b' }, 'tableName must be a literal DynamoDB table name'],
    ['retention in hours', { retention: Duration.hours(36) }, 'retention must be whole days'],
    ['zero retention', { retention: Duration.days(0) }, 'retention must be 1 to 36500 days'],
    ['retention beyond 100 years', { retention: Duration.days(36_501) }, 'retention must be 1 to 36500 days'],
    ['an interval in seconds', { digestInterval: Duration.seconds(90) }, 'digestInterval must be whole minutes'],
    ['an interval over 7 days', { digestInterval: Duration.days(8) }, 'digestInterval must be whole minutes'],
    ['its own region as a replica', { replicaRegions: ['us-east-1'] }, 'replicaRegions must be distinct regions'],
    ['a replica region twice', { replicaRegions: ['eu-west-1', 'eu-west-1'] }, 'replicaRegions must be distinct regions'],
  ])('refuses %s', (_label, props, message) => {
    expect(() => build(props)).toThrow(message);
  });

  const auditFindings = (stack: Stack) =>
    new AwsSolutionsChecks()
      .validateScope(stack)
      // The Registry and Bus test fixtures are not the construct's; only its own resources count.
      .violations.map((v) => ({ rule: v.ruleName, paths: v.violatingResources.map((r) => r.constructPath).filter((p) => !p?.includes('/Registry/') && !p?.includes('/Bus/')) }))
      .filter((v) => v.paths.length > 0);

  test('cdk-nag AwsSolutions: no findings', () => {
    expect(auditFindings(build().stack)).toEqual([]);
  });

  test('cdk-nag check above is not vacuous: a plain bucket inside the construct is reported', () => {
    const { stack, audit } = build();
    new s3.Bucket(audit, 'Probe');
    expect(auditFindings(stack).map((f) => f.rule)).toContain('AwsSolutions-S10');
  });
});
