import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildPlexMcpApp, readPlexMcpConfig } from '../../lib';
import { ACCOUNT, testApp } from './helpers';

const config = (context: Record<string, unknown>) => readPlexMcpConfig(testApp(context));

describe('readPlexMcpConfig', () => {
  test('regions as a JSON array, primary defaulting to the first', () => {
    expect(config({ 'plexmcp:regions': ['eu-west-1', 'us-east-1'] })).toEqual({ regions: ['eu-west-1', 'us-east-1'], primaryRegion: 'eu-west-1' });
  });

  test('regions as a comma-separated string (cdk -c), spaces and empty items ignored', () => {
    expect(config({ 'plexmcp:regions': ' us-east-1, ap-southeast-2 ,', 'plexmcp:primaryRegion': 'ap-southeast-2' })).toEqual({
      regions: ['us-east-1', 'ap-southeast-2'],
      primaryRegion: 'ap-southeast-2',
    });
  });

  test('regions as a JSON array in a string; GovCloud and ISO names are valid', () => {
    expect(config({ 'plexmcp:regions': '["us-gov-west-1","us-isob-east-1"]' }).regions).toEqual(['us-gov-west-1', 'us-isob-east-1']);
  });

  test('an optional registry table name', () => {
    expect(config({ 'plexmcp:regions': 'us-east-1', 'plexmcp:registryTableName': 'plexmcp-dev' }).registryTableName).toBe('plexmcp-dev');
  });

  test('an optional gateway reservation: a number from cdk.json or digits from -c', () => {
    expect(config({ 'plexmcp:regions': 'us-east-1' }).gatewayReservedConcurrency).toBeUndefined();
    expect(config({ 'plexmcp:regions': 'us-east-1', 'plexmcp:gatewayReservedConcurrency': 250 }).gatewayReservedConcurrency).toBe(250);
    expect(config({ 'plexmcp:regions': 'us-east-1', 'plexmcp:gatewayReservedConcurrency': ' 0 ' }).gatewayReservedConcurrency).toBe(0);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ...[-1, 1.5, '1.5', '-3', 'lots', true, [100]].map((value): [string, Record<string, unknown>, RegExp] => [
      `a gateway reservation of ${JSON.stringify(value)}`,
      { 'plexmcp:regions': ['us-east-1'], 'plexmcp:gatewayReservedConcurrency': value },
      /plexmcp:gatewayReservedConcurrency must be a whole number \(0 for no reservation\)/,
    ]),
    ['regions unset', {}, /plexmcp:regions is not set/],
    ['regions an empty array', { 'plexmcp:regions': [] }, /plexmcp:regions is empty/],
    ['regions an empty string', { 'plexmcp:regions': ' , ' }, /plexmcp:regions is empty/],
    ['regions not a list', { 'plexmcp:regions': 42 }, /must be an array or a comma-separated string, got 42/],
    ['a region not a string', { 'plexmcp:regions': ['us-east-1', 1] }, /must be an array of region names/],
    ['regions unparsable JSON', { 'plexmcp:regions': '["us-east-1"' }, /does not parse/],
    ['a malformed region', { 'plexmcp:regions': 'us-east-1,useast1,US-WEST-2,eu-west' }, /malformed region names: "useast1", "US-WEST-2", "eu-west"/],
    ['a duplicated region', { 'plexmcp:regions': ['us-east-1', 'eu-west-1', 'us-east-1'] }, /more than once: us-east-1/],
    ['primary not among regions', { 'plexmcp:regions': ['us-east-1'], 'plexmcp:primaryRegion': 'eu-west-1' }, /plexmcp:primaryRegion is eu-west-1, which is not one of plexmcp:regions \(us-east-1\)/],
    ['primary not a string', { 'plexmcp:regions': ['us-east-1'], 'plexmcp:primaryRegion': ['us-east-1'] }, /plexmcp:primaryRegion must be a region name/],
    ['a bad table name', { 'plexmcp:regions': ['us-east-1'], 'plexmcp:registryTableName': 'a b' }, /plexmcp:registryTableName must be a DynamoDB table name/],
  ])('rejects %s', (_name, context, error) => {
    expect(() => config(context)).toThrow(error);
    // buildPlexMcpApp validates before it creates anything.
    const app = testApp(context);
    expect(() => buildPlexMcpApp(app)).toThrow(error);
    expect(app.node.children).toHaveLength(0);
  });
});

describe('buildPlexMcpApp', () => {
  test('one stack per region; the primary replicates to the others, which depend on it', () => {
    const app = testApp({ 'plexmcp:regions': 'us-east-1,eu-west-1,ap-northeast-1', 'plexmcp:primaryRegion': 'eu-west-1' });
    const { primary, stacks } = buildPlexMcpApp(app, { account: ACCOUNT });
    expect(stacks.map((s) => s.stackName)).toEqual(['PlexMcp-eu-west-1', 'PlexMcp-us-east-1', 'PlexMcp-ap-northeast-1']);
    expect(primary.region).toBe('eu-west-1');
    expect(primary.replicaRegions).toEqual(['us-east-1', 'ap-northeast-1']);
    for (const regional of stacks.slice(1)) {
      expect(regional.isPrimary).toBe(false);
      expect(regional.dependencies).toContain(primary);
      expect(regional.account).toBe(ACCOUNT);
    }
  });

  test('one operator secret for the deployment: created by the primary, replicated, imported by name elsewhere', () => {
    const app = testApp({ 'plexmcp:regions': 'us-east-1,eu-west-1,ap-northeast-1', 'plexmcp:operatorSecretName': 'plexmcp-test/operator' });
    const { primary, stacks } = buildPlexMcpApp(app, { account: ACCOUNT });
    Template.fromStack(primary).hasResourceProperties('AWS::SecretsManager::Secret', {
      Name: 'plexmcp-test/operator',
      ReplicaRegions: [{ Region: 'eu-west-1' }, { Region: 'ap-northeast-1' }],
    });
    for (const regional of stacks.slice(1)) {
      const template = Template.fromStack(regional);
      template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: Match.objectLike({
            PLEXMCP_OPERATOR_SECRET_ARN: {
              'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:${regional.region}:${ACCOUNT}:secret:plexmcp-test/operator`]],
            },
          }),
        },
      });
    }
  });

  test('the account comes from CDK_DEFAULT_ACCOUNT and may be absent', () => {
    const saved = process.env.CDK_DEFAULT_ACCOUNT;
    try {
      process.env.CDK_DEFAULT_ACCOUNT = '210987654321';
      expect(buildPlexMcpApp(testApp({ 'plexmcp:regions': 'us-east-1' })).primary.account).toBe('210987654321');
      delete process.env.CDK_DEFAULT_ACCOUNT;
      const { primary } = buildPlexMcpApp(testApp({ 'plexmcp:regions': 'us-east-1' }));
      expect(primary.resolve(primary.account)).toEqual({ Ref: 'AWS::AccountId' });
    } finally {
      if (saved === undefined) delete process.env.CDK_DEFAULT_ACCOUNT;
      else process.env.CDK_DEFAULT_ACCOUNT = saved;
    }
  });

  test('the gateway reservation from context applies to the gateway of every region', () => {
    const app = testApp({ 'plexmcp:regions': 'us-east-1,eu-west-1', 'plexmcp:gatewayReservedConcurrency': '300' });
    const { stacks } = buildPlexMcpApp(app, { account: ACCOUNT });
    for (const stack of stacks) {
      expect(stack.gateway.reservedConcurrentExecutions).toBe(300);
      Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', { Description: Match.stringLikeRegexp('^PlexMCP gateway'), ReservedConcurrentExecutions: 300 });
    }
  });

  test('cdk-nag AwsSolutions: no unacknowledged error or warning in a two-region app', () => {
    const app = testApp({ 'plexmcp:regions': ['us-east-1', 'eu-west-1'] });
    buildPlexMcpApp(app, { account: ACCOUNT });
    // synth runs the registered plugin (and throws on an error); it also creates what CDK adds
    // late, such as the cross-region reference resources, so the check below sees everything.
    app.synth();
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
  });

  test('cdk-nag is registered on the app: an unacknowledged finding fails synthesis', () => {
    const app = testApp({ 'plexmcp:regions': ['us-east-1'] });
    const { primary } = buildPlexMcpApp(app, { account: ACCOUNT });
    new sqs.Queue(primary, 'Unencrypted');
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS4/);
  });
});
