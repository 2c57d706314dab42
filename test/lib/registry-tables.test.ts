import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { REGISTRY_TABLE } from '../../lambda/core/registry-table';
import { RegistryTables } from '../../lib';
import { testApp, testStack } from './helpers';

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
});
