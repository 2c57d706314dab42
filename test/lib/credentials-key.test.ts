import { CfnResource, Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { CredentialsKey } from '../../lib';
import { ACCOUNT, testStack } from './helpers';

const PRIMARY_ARN = `arn:aws:kms:us-east-1:${ACCOUNT}:key/mrk-1234abcd12ab34cd56ef1234567890ab`;

describe('CredentialsKey', () => {
  test('primary: symmetric multi-Region key with rotation, retained', () => {
    const stack = testStack();
    const key = new CredentialsKey(stack, 'Creds');
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::KMS::ReplicaKey', 0);
    template.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        MultiRegion: true,
        EnableKeyRotation: true,
        KeySpec: 'SYMMETRIC_DEFAULT',
        KeyUsage: 'ENCRYPT_DECRYPT',
        PendingWindowInDays: 30,
      },
    });
    expect(key.isReplica).toBe(false);
    expect(stack.resolve(key.key.keyArn)).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^CredsKey/), 'Arn'] });
  });

  test('replica: AWS::KMS::ReplicaKey of the given primary, policy lets IAM delegate, retained', () => {
    const stack = testStack(undefined, 'Regional', 'eu-west-1');
    const key = new CredentialsKey(stack, 'Creds', { primaryKeyArn: PRIMARY_ARN, pendingWindow: Duration.days(7) });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.hasResource('AWS::KMS::ReplicaKey', {
      DeletionPolicy: 'Retain',
      Properties: {
        PrimaryKeyArn: PRIMARY_ARN,
        Enabled: true,
        PendingWindowInDays: 7,
        KeyPolicy: {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'kms:*',
              Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${ACCOUNT}:root`]] } },
              Resource: '*',
            },
          ],
        },
      },
    });
    expect(key.isReplica).toBe(true);
    const replicaId = stack.getLogicalId(key.node.findChild('Key') as CfnResource);
    expect(stack.resolve(key.key.keyArn)).toEqual({ 'Fn::GetAtt': [replicaId, 'Arn'] });
  });

  test('a grant on the replica key names the replica ARN', () => {
    const stack = testStack(undefined, 'Regional', 'eu-west-1');
    const key = new CredentialsKey(stack, 'Creds', { primaryKeyArn: PRIMARY_ARN });
    const role = new iam.Role(stack, 'Role', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    key.key.grant(role, 'kms:Decrypt');
    const replicaId = stack.getLogicalId(key.node.findChild('Key') as CfnResource);
    Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: stack.getLogicalId(role.node.defaultChild as CfnResource) }],
      PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: { 'Fn::GetAtt': [replicaId, 'Arn'] } }] },
    });
  });

  test('removal policy is configurable', () => {
    const stack = testStack();
    new CredentialsKey(stack, 'Creds', { removalPolicy: RemovalPolicy.DESTROY });
    Template.fromStack(stack).hasResource('AWS::KMS::Key', { DeletionPolicy: 'Delete' });
  });

  test('rejects a pending window outside 7 to 30 days', () => {
    expect(() => new CredentialsKey(testStack(), 'Creds', { pendingWindow: Duration.days(3) })).toThrow(/7 to 30 days, got 3/);
    expect(() => new CredentialsKey(testStack(), 'Creds', { primaryKeyArn: PRIMARY_ARN, pendingWindow: Duration.days(31) })).toThrow(
      /7 to 30 days, got 31/,
    );
  });
});
