import { RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { COUNTERS_TABLE } from '../../lambda/core/registry-table';
import { CountersTable } from '../../lib';
import { testStack } from './helpers';

describe('CountersTable', () => {
  test('a regional table: partition key only, TTL, on-demand, no replica in another region', () => {
    const stack = testStack(undefined, 'Test', 'eu-west-1');
    const counters = new CountersTable(stack, 'Counters');
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    const table = Object.values(template.findResources('AWS::DynamoDB::GlobalTable'))[0];
    expect(table.Properties).toMatchObject({
      KeySchema: [{ AttributeName: COUNTERS_TABLE.partitionKey, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      TimeToLiveSpecification: { AttributeName: COUNTERS_TABLE.ttlAttribute, Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
      // The only replica is the stack's own region: nothing is replicated.
      Replicas: [{ Region: 'eu-west-1', PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false } }],
    });
    expect(table.Properties.GlobalSecondaryIndexes).toBeUndefined();
    expect(table.Properties.TableName).toBeUndefined();
    // Counters are ephemeral: the table goes with the stack.
    expect(table.DeletionPolicy).toBe('Delete');
    expect(stack.resolve(counters.table.tableName)).toEqual({ Ref: Object.keys(template.findResources('AWS::DynamoDB::GlobalTable'))[0] });
  });

  test('name, point-in-time recovery and removal policy are configurable', () => {
    const stack = testStack();
    new CountersTable(stack, 'Counters', { tableName: 'plexmcp-counters', pointInTimeRecovery: true, removalPolicy: RemovalPolicy.RETAIN });
    Template.fromStack(stack).hasResource('AWS::DynamoDB::GlobalTable', {
      Properties: {
        TableName: 'plexmcp-counters',
        Replicas: [{ Region: 'us-east-1', PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }],
      },
      DeletionPolicy: 'Retain',
    });
  });
});
