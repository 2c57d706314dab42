import { CfnResource } from 'aws-cdk-lib';
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

describe('identity provider context', () => {
  const provider = { issuer: 'https://acme.okta.com', clientId: '0oa1example', orgClaim: 'groups', orgs: { 'PlexMCP Admins': 'acme' }, clientSecretName: 'plexmcp/idp' };

  test('an object from cdk.json or a JSON string from -c', () => {
    expect(config({ 'plexmcp:regions': 'us-east-1', 'plexmcp:identityProvider': provider }).identityProvider).toEqual(provider);
    expect(config({ 'plexmcp:regions': 'us-east-1', 'plexmcp:identityProvider': JSON.stringify(provider) }).identityProvider).toEqual(provider);
    expect(config({ 'plexmcp:regions': 'us-east-1' }).identityProvider).toBeUndefined();
  });

  test('every region’s OAuth function gets it, reading the named secret in its own region', () => {
    const { stacks } = buildPlexMcpApp(testApp({ 'plexmcp:regions': 'us-east-1,eu-west-1', 'plexmcp:identityProvider': provider }), { account: ACCOUNT });
    for (const stack of stacks) {
      Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
        Description: Match.stringLikeRegexp('^PlexMCP OAuth'),
        Environment: {
          Variables: Match.objectLike({
            PLEXMCP_IDP: JSON.stringify({ issuer: provider.issuer, clientId: provider.clientId, orgClaim: 'groups', orgs: provider.orgs }),
            PLEXMCP_IDP_CLIENT_SECRET_ARN: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:secretsmanager:${stack.region}:${ACCOUNT}:secret:plexmcp/idp`]] },
          }),
        },
      });
    }
  });

  test.each<[string, unknown, RegExp]>([
    ['not JSON', '{issuer:', /plexmcp:identityProvider must be a JSON object/],
    ['an array', [provider], /plexmcp:identityProvider must be an object/],
    ['a misspelt field', { ...provider, org: { a: 'b' } }, /plexmcp:identityProvider has unknown fields: org/],
    ['an http issuer', { ...provider, issuer: 'http://acme.okta.com' }, /plexmcp:identityProvider: issuer must be an https:\/\/ URL/],
    ['no org claim', { ...provider, orgClaim: '' }, /plexmcp:identityProvider: orgClaim must be the name of an ID token claim/],
    ['a secret name that is not a string', { ...provider, clientSecretName: 7 }, /plexmcp:identityProvider: clientSecretName must be the name of a Secrets Manager secret/],
  ])('rejects %s', (_name, value, error) => {
    expect(() => config({ 'plexmcp:regions': 'us-east-1', 'plexmcp:identityProvider': value })).toThrow(error);
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

const DOMAIN_CONTEXT = {
  'plexmcp:regions': 'us-east-1,eu-west-1',
  'plexmcp:domainName': 'mcp.example.com',
  'plexmcp:hostedZoneId': 'Z123ABC',
};
const certArn = (region: string) => `arn:aws:acm:${region}:${ACCOUNT}:certificate/11111111-2222-3333-4444-555555555555`;

describe('custom domain context', () => {
  test('domain and zone; the zone name defaults to the domain\'s parent', () => {
    expect(config(DOMAIN_CONTEXT).domain).toEqual({ domainName: 'mcp.example.com', hostedZone: { hostedZoneId: 'Z123ABC', zoneName: 'example.com' } });
    expect(config({ ...DOMAIN_CONTEXT, 'plexmcp:hostedZoneName': 'mcp.example.com' }).domain?.hostedZone?.zoneName).toBe('mcp.example.com');
    expect(config({ 'plexmcp:regions': 'us-east-1' }).domain).toBeUndefined();
  });

  test('certificates per region, as -c pairs or as a JSON object, with or without a zone', () => {
    const pairs = `us-east-1=${certArn('us-east-1')}, eu-west-1=${certArn('eu-west-1')}`;
    const expected = { 'us-east-1': certArn('us-east-1'), 'eu-west-1': certArn('eu-west-1') };
    expect(config({ ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': pairs }).domain?.certificateArns).toEqual(expected);
    const noZone = { 'plexmcp:regions': 'us-east-1,eu-west-1', 'plexmcp:domainName': 'mcp.example.com' };
    expect(config({ ...noZone, 'plexmcp:certificateArns': JSON.stringify(expected) }).domain).toEqual({ domainName: 'mcp.example.com', certificateArns: expected });
    expect(config({ ...noZone, 'plexmcp:certificateArns': expected }).domain?.certificateArns).toEqual(expected);
  });

  test.each<[string, Record<string, unknown>, RegExp]>([
    ['a domain without zone or certificates', { 'plexmcp:regions': 'us-east-1', 'plexmcp:domainName': 'mcp.example.com' }, /plexmcp:domainName needs plexmcp:hostedZoneId .* or plexmcp:certificateArns/],
    ['an uppercase domain', { ...DOMAIN_CONTEXT, 'plexmcp:domainName': 'MCP.example.com' }, /plexmcp:domainName must be a lowercase DNS name/],
    ['a one-label domain', { ...DOMAIN_CONTEXT, 'plexmcp:domainName': 'mcp' }, /plexmcp:domainName must be a lowercase DNS name/],
    ['a domain not a string', { ...DOMAIN_CONTEXT, 'plexmcp:domainName': 42 }, /plexmcp:domainName must be a DNS name/],
    ['a malformed zone ID', { ...DOMAIN_CONTEXT, 'plexmcp:hostedZoneId': '/hostedzone/Z123' }, /plexmcp:hostedZoneId must be a Route 53 hosted zone ID/],
    ['a zone that does not contain the domain', { ...DOMAIN_CONTEXT, 'plexmcp:hostedZoneName': 'example.org' }, /plexmcp:hostedZoneName is example\.org, which does not contain plexmcp:domainName mcp\.example\.com/],
    ['a malformed zone name', { ...DOMAIN_CONTEXT, 'plexmcp:hostedZoneName': 'Example Com' }, /plexmcp:hostedZoneName must be a lowercase DNS name/],
    ['a two-label domain whose parent is a TLD', { ...DOMAIN_CONTEXT, 'plexmcp:domainName': 'example.com' }, /plexmcp:hostedZoneName is needed: the default, the parent of example\.com \(com\)/],
    ['a zone name without a zone ID', { 'plexmcp:regions': 'us-east-1', 'plexmcp:domainName': 'mcp.example.com', 'plexmcp:hostedZoneName': 'example.com', 'plexmcp:certificateArns': `us-east-1=${certArn('us-east-1')}` }, /plexmcp:hostedZoneName needs plexmcp:hostedZoneId/],
    ['a zone without a domain', { 'plexmcp:regions': 'us-east-1', 'plexmcp:hostedZoneId': 'Z123ABC' }, /plexmcp:hostedZoneId needs plexmcp:domainName/],
    ['certificates without a domain', { 'plexmcp:regions': 'us-east-1', 'plexmcp:certificateArns': `us-east-1=${certArn('us-east-1')}` }, /plexmcp:certificateArns needs plexmcp:domainName/],
    ['a certificate missing for a region', { ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': `us-east-1=${certArn('us-east-1')}` }, /plexmcp:certificateArns has no certificate for eu-west-1/],
    ['a certificate for an unknown region', { ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': `us-east-1=${certArn('us-east-1')},eu-west-1=${certArn('eu-west-1')},ap-south-1=${certArn('ap-south-1')}` }, /plexmcp:certificateArns names ap-south-1, which is not one of plexmcp:regions/],
    ['a certificate of another region', { ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': `us-east-1=${certArn('us-east-1')},eu-west-1=${certArn('us-east-1')}` }, /plexmcp:certificateArns for eu-west-1 is a certificate in us-east-1/],
    ['a certificate that is not an ARN', { ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': 'us-east-1=cert-1,eu-west-1=cert-2' }, /plexmcp:certificateArns for us-east-1 must be an ACM certificate ARN/],
    ['a certificate item without a region', { ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': certArn('us-east-1') }, /plexmcp:certificateArns must list <region>=<certificate arn> items/],
    ['certificates as unparsable JSON', { ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': '{"us-east-1":' }, /plexmcp:certificateArns looks like JSON but does not parse/],
    ['certificates as a list', { ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': [certArn('us-east-1')] }, /plexmcp:certificateArns must be an object/],
  ])('rejects %s', (_name, context, error) => {
    expect(() => config(context)).toThrow(error);
    const app = testApp(context);
    expect(() => buildPlexMcpApp(app)).toThrow(error);
    expect(app.node.children).toHaveLength(0);
  });
});

describe('buildPlexMcpApp with a custom domain', () => {
  test('every regional stack: certificate, TLS 1.3 domains with root mappings, /healthz health check, latency alias with SetIdentifier and Region; execute-api disabled', () => {
    const { stacks } = buildPlexMcpApp(testApp(DOMAIN_CONTEXT), { account: ACCOUNT });
    expect(stacks.map((s) => s.region)).toEqual(['us-east-1', 'eu-west-1']);
    for (const stack of stacks) {
      const region = stack.region;
      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::ApiGateway::RestApi', { DisableExecuteApiEndpoint: true });
      template.hasResourceProperties('AWS::CertificateManager::Certificate', {
        DomainName: 'mcp.example.com',
        SubjectAlternativeNames: [`${region}.mcp.example.com`],
        ValidationMethod: 'DNS',
      });
      for (const name of ['mcp.example.com', `${region}.mcp.example.com`]) {
        template.hasResourceProperties('AWS::ApiGateway::DomainName', { DomainName: name, SecurityPolicy: 'SecurityPolicy_TLS13_1_3_2025_09', EndpointAccessMode: 'STRICT' });
      }
      const apiRef = { Ref: stack.getLogicalId(stack.api.api.node.defaultChild as CfnResource) };
      const mappings = Object.values(template.findResources('AWS::ApiGateway::BasePathMapping'));
      expect(mappings).toHaveLength(2);
      for (const m of mappings) expect(m.Properties).toEqual({ DomainName: expect.anything(), RestApiId: apiRef, Stage: { Ref: stack.getLogicalId(stack.api.stage.node.defaultChild as CfnResource) } });
      template.hasResourceProperties('AWS::Route53::HealthCheck', {
        HealthCheckConfig: Match.objectLike({ Type: 'HTTPS', FullyQualifiedDomainName: `${region}.mcp.example.com`, Port: 443, ResourcePath: '/healthz' }),
      });
      template.hasResourceProperties('AWS::Route53::RecordSet', {
        Name: 'mcp.example.com.',
        HostedZoneId: 'Z123ABC',
        SetIdentifier: region,
        Region: region,
        HealthCheckId: { Ref: stack.getLogicalId(stack.domain!.healthCheck!.node.defaultChild as CfnResource) },
        AliasTarget: Match.objectLike({ EvaluateTargetHealth: false }),
      });
      // The /healthz route the check calls, and the outputs with the one URL.
      expect(Object.values(template.findResources('AWS::ApiGateway::Resource')).map((r) => r.Properties.PathPart)).toContain('healthz');
      template.hasOutput('AgentUrl', { Value: 'https://mcp.example.com/mcp/{slug}' });
      template.hasOutput('AdminUrl', { Value: 'https://mcp.example.com/admin/v1' });
      template.hasOutput('GatewayUrl', { Value: `https://${region}.mcp.example.com/mcp/` });
    }
  });

  test('without a domain: the execute-api endpoint stays on and there is no custom domain, record or health check', () => {
    const { stacks, healthAlarms } = buildPlexMcpApp(testApp({ 'plexmcp:regions': 'us-east-1,eu-west-1' }), { account: ACCOUNT });
    expect(healthAlarms).toBeUndefined();
    for (const stack of stacks) {
      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::ApiGateway::RestApi', { DisableExecuteApiEndpoint: false });
      for (const type of ['AWS::ApiGateway::DomainName', 'AWS::ApiGateway::BasePathMapping', 'AWS::CertificateManager::Certificate', 'AWS::Route53::HealthCheck', 'AWS::Route53::RecordSet']) {
        template.resourceCountIs(type, 0);
      }
      expect(template.findOutputs('AgentUrl')).toEqual({});
    }
  });

  test('health check alarms: us-east-1 alarms its own check; the other regions\' in a us-east-1 stack, to the us-east-1 operator topic', () => {
    const app = testApp(DOMAIN_CONTEXT);
    const { stacks, healthAlarms } = buildPlexMcpApp(app, { account: ACCOUNT });
    const [east, west] = stacks;
    const route53Alarms = (template: Template) => Object.values(template.findResources('AWS::CloudWatch::Alarm', { Properties: { Namespace: 'AWS/Route53' } }));
    const eastAlarms = route53Alarms(Template.fromStack(east));
    expect(eastAlarms).toHaveLength(1);
    expect(eastAlarms[0].Properties.Dimensions).toEqual([{ Name: 'HealthCheckId', Value: { Ref: east.getLogicalId(east.domain!.healthCheck!.node.defaultChild as CfnResource) } }]);
    expect(route53Alarms(Template.fromStack(west))).toHaveLength(0);

    expect(healthAlarms?.region).toBe('us-east-1');
    expect(healthAlarms?.stackName).toBe('PlexMcp-health-alarms');
    const alarms = route53Alarms(Template.fromStack(healthAlarms!));
    expect(alarms).toHaveLength(1);
    expect(alarms[0].Properties).toMatchObject({ MetricName: 'HealthCheckStatus', Threshold: 1, ComparisonOperator: 'LessThanThreshold' });
    expect(alarms[0].Properties.AlarmDescription).toContain('https://eu-west-1.mcp.example.com/healthz');
    // eu-west-1's health check ID arrives as a cross-region reference; the topic is us-east-1's.
    expect(JSON.stringify(alarms[0].Properties.Dimensions)).toContain('ExportsReader');
    expect(JSON.stringify(alarms[0].Properties.AlarmActions)).toContain('HealthMonitorOperatorAlarmTopic');
    expect(healthAlarms!.dependencies).toEqual(expect.arrayContaining([west]));
  });

  test('without us-east-1 among the regions, the alarm stack has its own encrypted topic (an output) for all regions', () => {
    const { healthAlarms } = buildPlexMcpApp(testApp({ ...DOMAIN_CONTEXT, 'plexmcp:regions': 'eu-west-1,ap-northeast-1' }), { account: ACCOUNT });
    const template = Template.fromStack(healthAlarms!);
    expect(Object.values(template.findResources('AWS::CloudWatch::Alarm'))).toHaveLength(2);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    const topicRef = { Ref: Object.keys(template.findResources('AWS::SNS::Topic'))[0] };
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topicRef], OKActions: [topicRef] });
    template.hasOutput('AlarmTopicArn', { Value: topicRef });
  });

  test('imported certificates: no certificate is created, each region uses its own', () => {
    const { stacks } = buildPlexMcpApp(testApp({ ...DOMAIN_CONTEXT, 'plexmcp:certificateArns': `us-east-1=${certArn('us-east-1')},eu-west-1=${certArn('eu-west-1')}` }), { account: ACCOUNT });
    for (const stack of stacks) {
      const template = Template.fromStack(stack);
      template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
      template.allResourcesProperties('AWS::ApiGateway::DomainName', { RegionalCertificateArn: certArn(stack.region) });
    }
  });

  test('cdk-nag AwsSolutions: no unacknowledged error or warning with a custom domain', () => {
    const app = testApp(DOMAIN_CONTEXT);
    buildPlexMcpApp(app, { account: ACCOUNT });
    app.synth();
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
    expect(findings).toEqual([]);
  });
});
