import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { REGISTRY_TABLE } from '../../lambda/core/registry-table';
import { RegistryGrants, RegistryTables } from '../../lib';
import { ACCOUNT, actionsOf, statementsOfRole, testApp, testStack } from './helpers';

function roleIn(stack: Stack): { role: iam.Role; statements: () => ReturnType<typeof statementsOfRole> } {
  const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  return { role, statements: () => statementsOfRole(Template.fromStack(stack), stack.getLogicalId(role.node.defaultChild as iam.CfnRole)) };
}

describe('RegistryTables', () => {
  test('key schema, list index and TTL come from lambda/core/registry-table.ts', () => {
    const stack = testStack();
    new RegistryTables(stack, 'Tables');
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    template.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [
        { AttributeName: REGISTRY_TABLE.partitionKey, KeyType: 'HASH' },
        { AttributeName: REGISTRY_TABLE.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayEquals([
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
        { AttributeName: 'gsi1pk', AttributeType: 'S' },
        { AttributeName: 'gsi1sk', AttributeType: 'S' },
      ]),
      GlobalSecondaryIndexes: [
        {
          IndexName: REGISTRY_TABLE.listIndex.name,
          KeySchema: [
            { AttributeName: REGISTRY_TABLE.listIndex.partitionKey, KeyType: 'HASH' },
            { AttributeName: REGISTRY_TABLE.listIndex.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
    });
  });

  test('defaults: on-demand, PITR, deletion protection, retained, generated name, no replica', () => {
    const stack = testStack();
    new RegistryTables(stack, 'Tables');
    Template.fromStack(stack).hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        TableName: Match.absent(),
        Replicas: [
          {
            Region: 'us-east-1',
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
            GlobalSecondaryIndexes: [{ IndexName: 'gsi1' }],
          },
        ],
      },
    });
  });

  test('one replica per replica region, each with PITR and deletion protection', () => {
    const stack = testStack();
    new RegistryTables(stack, 'Tables', { replicaRegions: ['eu-west-1', 'ap-southeast-2'], tableName: 'reg' });
    const table = Object.values(Template.fromStack(stack).findResources('AWS::DynamoDB::GlobalTable'))[0];
    expect(table.Properties.TableName).toBe('reg');
    const replicas = table.Properties.Replicas as Array<Record<string, unknown>>;
    expect(replicas.map((r) => r.Region).sort()).toEqual(['ap-southeast-2', 'eu-west-1', 'us-east-1']);
    for (const replica of replicas) {
      expect(replica).toMatchObject({
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
      });
    }
  });

  test('deletion protection and removal policy can be turned off (test environments)', () => {
    const stack = testStack();
    new RegistryTables(stack, 'Tables', { deletionProtection: false, removalPolicy: RemovalPolicy.DESTROY });
    Template.fromStack(stack).hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Delete',
      Properties: { Replicas: [Match.objectLike({ DeletionProtectionEnabled: false })] },
    });
  });

  test('exposes the table as ITableV2 with the generated name', () => {
    const stack = testStack();
    const tables = new RegistryTables(stack, 'Tables');
    expect(stack.resolve(tables.registry.tableName)).toEqual({ Ref: expect.stringMatching(/^TablesRegistry/) });
  });

  test('rejects its own region as a replica', () => {
    expect(() => new RegistryTables(testStack(), 'Tables', { replicaRegions: ['us-east-1'] })).toThrow(
      /must not contain the stack's own region us-east-1/,
    );
  });

  test('rejects duplicate replica regions', () => {
    expect(() => new RegistryTables(testStack(), 'Tables', { replicaRegions: ['eu-west-1', 'eu-west-1'] })).toThrow(/duplicates/);
  });

  test('rejects replicas in an environment-agnostic stack', () => {
    const stack = new Stack(testApp(), 'Agnostic');
    expect(() => new RegistryTables(stack, 'Tables', { replicaRegions: ['eu-west-1'] })).toThrow(/concrete region/);
  });

  test('write grants: one statement each on the base table (never an index), limited by dynamodb:LeadingKeys that must be present', () => {
    const stack = testStack();
    const tables = new RegistryTables(stack, 'Tables');
    const { role, statements } = roleIn(stack);
    tables.grantKeyUsageWrites(role);
    tables.grantSessionKeyCreation(role);
    tables.grantHealthWrites(role);
    const table = { 'Fn::GetAtt': [stack.resolve(tables.registry.tableName).Ref, 'Arn'] };
    const present = { Null: { 'dynamodb:LeadingKeys': 'false' } };
    expect(statements()).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:UpdateItem',
        Resource: table,
        Condition: {
          'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['KEY#*'] },
          // IAM needs the key attributes listed; UpdateItem cannot change them anyway.
          'ForAllValues:StringEquals': { 'dynamodb:Attributes': [REGISTRY_TABLE.partitionKey, REGISTRY_TABLE.sortKey, 'lastUsedAt'] },
          ...present,
        },
      },
      { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: table, Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['CONFIG#session-sealing-key'] }, ...present } },
      { Effect: 'Allow', Action: 'dynamodb:PutItem', Resource: table, Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEALTH#*'] }, ...present } },
    ]);
  });

  test('the same grants on an imported table name its ARN; readData is grantReadData', () => {
    const stack = testStack();
    const grants = RegistryGrants.of(dynamodb.TableV2.fromTableName(stack, 'Imported', 'team-registry'));
    const { role, statements } = roleIn(stack);
    grants.readData(role);
    grants.healthWrites(role);
    const arn = { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:us-east-1:${ACCOUNT}:table/team-registry`]] };
    const all = statements();
    expect(all.filter((s) => actionsOf(s).includes('dynamodb:GetItem')).map((s) => s.Resource)).toEqual([arn]);
    expect(all.filter((s) => actionsOf(s).includes('dynamodb:PutItem'))).toEqual([
      expect.objectContaining({ Resource: arn, Condition: expect.objectContaining({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEALTH#*'] } }) }),
    ]);
    for (const action of ['dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem']) {
      expect(all.flatMap(actionsOf)).not.toContain(action);
    }
  });

  test('a table encrypted with a customer managed key: a write grant also grants the key', () => {
    const stack = testStack();
    const key = new kms.Key(stack, 'TableKey');
    const table = new dynamodb.TableV2(stack, 'Encrypted', {
      partitionKey: { name: 'pk', type: dynamodb.AttributeType.STRING },
      encryption: dynamodb.TableEncryptionV2.customerManagedKey(key),
    });
    const { role, statements } = roleIn(stack);
    RegistryGrants.of(table).healthWrites(role);
    const keyArn = { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as kms.CfnKey), 'Arn'] };
    expect(statements().filter((s) => JSON.stringify(s.Resource) === JSON.stringify(keyArn)).flatMap(actionsOf)).toEqual(
      expect.arrayContaining(['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*']),
    );
  });
});
