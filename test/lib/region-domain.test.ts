import { App, CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as sns from 'aws-cdk-lib/aws-sns';
import { PlexApi, RegionDomain, RegionDomainOptions } from '../../lib';
import { testApp, testStack } from './helpers';

const ZONE = { hostedZoneId: 'Z123ABC', zoneName: 'example.com' };
const CERT_ARN = 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';

function build(options: Partial<RegionDomainOptions> = {}, region = 'eu-west-1', withTopic = true) {
  const stack = testStack(testApp(), 'Test', region);
  const plexApi = new PlexApi(stack, 'Api', { disableExecuteApiEndpoint: true });
  plexApi.api.root.addMethod('GET', new apigateway.MockIntegration());
  const topic = withTopic ? new sns.Topic(stack, 'Alarms') : undefined;
  const domain = new RegionDomain(stack, 'Domain', { domainName: 'mcp.example.com', hostedZone: ZONE, ...options, api: plexApi.api, operatorAlarmTopic: topic });
  return { stack, plexApi, domain, topic, template: Template.fromStack(stack) };
}

const ref = (stack: Stack, construct: { node: { defaultChild?: unknown } }) => ({ Ref: stack.getLogicalId(construct.node.defaultChild as CfnResource) });

describe('RegionDomain', () => {
  test('one certificate for <domain> and <region>.<domain>, validated by DNS in the hosted zone', () => {
    const { template } = build();
    template.resourceCountIs('AWS::CertificateManager::Certificate', 1);
    template.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'mcp.example.com',
      SubjectAlternativeNames: ['eu-west-1.mcp.example.com'],
      ValidationMethod: 'DNS',
      DomainValidationOptions: [
        { DomainName: 'mcp.example.com', HostedZoneId: 'Z123ABC' },
        { DomainName: 'eu-west-1.mcp.example.com', HostedZoneId: 'Z123ABC' },
      ],
    });
  });

  test('two regional API Gateway domains with the TLS 1.3 policy in strict mode, both on that certificate, each mapped at its root to the stage', () => {
    const { template, stack, plexApi, domain } = build();
    const certificate = { Ref: stack.getLogicalId(domain.certificate.node.defaultChild as CfnResource) };
    template.resourceCountIs('AWS::ApiGateway::DomainName', 2);
    for (const name of ['mcp.example.com', 'eu-west-1.mcp.example.com']) {
      template.hasResourceProperties('AWS::ApiGateway::DomainName', {
        DomainName: name,
        EndpointConfiguration: { Types: ['REGIONAL'] },
        SecurityPolicy: 'SecurityPolicy_TLS13_1_3_2025_09',
        EndpointAccessMode: 'STRICT',
        RegionalCertificateArn: certificate,
      });
    }
    const mappings = Object.values(template.findResources('AWS::ApiGateway::BasePathMapping')).map((m) => m.Properties);
    expect(mappings).toEqual(
      [domain.domain, domain.regionalDomain].map((d) => ({
        DomainName: ref(stack, d),
        RestApiId: ref(stack, plexApi.api),
        Stage: ref(stack, plexApi.stage),
      })),
    );
    // No BasePath: API Gateway would strip it, and /mcp/{slug} would no longer match.
    for (const mapping of mappings) expect(mapping).not.toHaveProperty('BasePath');
  });

  test('Route 53: <region>.<domain> alias; HTTPS health check on /healthz there; latency alias of <domain> with the region as set identifier, tied to the check', () => {
    const { template, stack, domain } = build();
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'eu-west-1.mcp.example.com.',
      Type: 'A',
      HostedZoneId: 'Z123ABC',
      AliasTarget: {
        DNSName: { 'Fn::GetAtt': [stack.getLogicalId(domain.regionalDomain.node.defaultChild as CfnResource), 'RegionalDomainName'] },
        HostedZoneId: { 'Fn::GetAtt': [stack.getLogicalId(domain.regionalDomain.node.defaultChild as CfnResource), 'RegionalHostedZoneId'] },
      },
      SetIdentifier: Match.absent(),
      Region: Match.absent(),
    });
    template.resourceCountIs('AWS::Route53::HealthCheck', 1);
    template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: {
        Type: 'HTTPS',
        FullyQualifiedDomainName: 'eu-west-1.mcp.example.com',
        Port: 443,
        ResourcePath: '/healthz',
        RequestInterval: 30,
        FailureThreshold: 3,
        EnableSNI: true,
        Inverted: false,
        MeasureLatency: false,
      },
    });
    const domainId = stack.getLogicalId(domain.domain.node.defaultChild as CfnResource);
    template.hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'mcp.example.com.',
      Type: 'A',
      HostedZoneId: 'Z123ABC',
      SetIdentifier: 'eu-west-1',
      Region: 'eu-west-1',
      HealthCheckId: { Ref: stack.getLogicalId(domain.healthCheck!.node.defaultChild as CfnResource) },
      AliasTarget: {
        DNSName: { 'Fn::GetAtt': [domainId, 'RegionalDomainName'] },
        HostedZoneId: { 'Fn::GetAtt': [domainId, 'RegionalHostedZoneId'] },
        EvaluateTargetHealth: false,
      },
    });
    template.resourceCountIs('AWS::Route53::RecordSet', 2);
  });

  test('health check interval and failure threshold are configurable; out-of-range values are refused', () => {
    build({ healthCheck: { requestInterval: Duration.seconds(10), failureThreshold: 2 } }).template.hasResourceProperties('AWS::Route53::HealthCheck', {
      HealthCheckConfig: Match.objectLike({ RequestInterval: 10, FailureThreshold: 2 }),
    });
    expect(() => build({ healthCheck: { requestInterval: Duration.seconds(20) } })).toThrow(/requestInterval must be 10 or 30 seconds, got 20 s/);
    for (const failureThreshold of [0, 11, 1.5]) {
      expect(() => build({ healthCheck: { failureThreshold } })).toThrow(/failureThreshold must be a whole number from 1 to 10/);
    }
  });

  test('outside us-east-1 no alarm here: Route 53 metrics exist only in us-east-1', () => {
    const { template, domain } = build();
    expect(template.findResources('AWS::CloudWatch::Alarm', { Properties: { Namespace: 'AWS/Route53' } })).toEqual({});
    expect(domain.healthCheckAlarm).toBeUndefined();
  });

  test('in us-east-1: an alarm on HealthCheckStatus below 1, ALARM and OK to the operator topic', () => {
    const { template, stack, domain, topic } = build({}, 'us-east-1');
    const topicRef = ref(stack, topic!);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Route53',
      MetricName: 'HealthCheckStatus',
      Dimensions: [{ Name: 'HealthCheckId', Value: { Ref: stack.getLogicalId(domain.healthCheck!.node.defaultChild as CfnResource) } }],
      Statistic: 'Minimum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      AlarmActions: [topicRef],
      OKActions: [topicRef],
      AlarmDescription: Match.stringLikeRegexp('https://us-east-1\\.mcp\\.example\\.com/healthz'),
    });
    expect(domain.healthCheckAlarm).toBeDefined();
  });

  test('addHealthCheckAlarm refuses a stack outside us-east-1', () => {
    const app = new App();
    const stack = new Stack(app, 'Elsewhere', { env: { region: 'eu-west-1' } });
    const healthCheck = route53.HealthCheck.fromHealthCheckId(stack, 'Check', 'abc');
    expect(() => RegionDomain.addHealthCheckAlarm(stack, 'Alarm', { healthCheck, region: 'eu-west-1', domainName: 'mcp.example.com' })).toThrow(
      /Route 53 publishes health check metrics in us-east-1 only; Elsewhere is in eu-west-1/,
    );
  });

  test('an imported certificate: no new certificate, both domains use it; without a zone no records and no health check', () => {
    const { template, domain } = build({ hostedZone: undefined, certificateArn: CERT_ARN });
    template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    template.resourceCountIs('AWS::ApiGateway::DomainName', 2);
    template.allResourcesProperties('AWS::ApiGateway::DomainName', { RegionalCertificateArn: CERT_ARN, SecurityPolicy: 'SecurityPolicy_TLS13_1_3_2025_09' });
    template.resourceCountIs('AWS::Route53::RecordSet', 0);
    template.resourceCountIs('AWS::Route53::HealthCheck', 0);
    expect(domain.healthCheck).toBeUndefined();
  });

  test('an imported certificate with a zone: records and health check, no new certificate', () => {
    const { template } = build({ certificateArn: CERT_ARN });
    template.resourceCountIs('AWS::CertificateManager::Certificate', 0);
    template.resourceCountIs('AWS::Route53::HealthCheck', 1);
    template.resourceCountIs('AWS::Route53::RecordSet', 2);
  });

  test('URLs: the one agent URL, the admin URL, and the regional ones', () => {
    const { domain } = build();
    expect(domain.agentUrl).toBe('https://mcp.example.com/mcp/{slug}');
    expect(domain.adminUrl).toBe('https://mcp.example.com/admin/v1');
    expect(domain.regionalGatewayUrl).toBe('https://eu-west-1.mcp.example.com/mcp/');
    expect(domain.regionalAdminUrl).toBe('https://eu-west-1.mcp.example.com/admin/v1');
  });

  test.each<[string, Partial<RegionDomainOptions>, RegExp]>([
    ['an uppercase domain', { domainName: 'MCP.example.com' }, /domainName must be a lowercase DNS name/],
    ['a one-label domain', { domainName: 'localhost' }, /domainName must be a lowercase DNS name/],
    ['a domain outside the zone', { domainName: 'mcp.example.org' }, /mcp\.example\.org is not in the hosted zone example\.com/],
    ['a domain that only ends like the zone', { domainName: 'notexample.com' }, /notexample\.com is not in the hosted zone example\.com/],
    ['neither zone nor certificate', { hostedZone: undefined }, /give a hostedZone .* or a certificateArn/],
    ['a health check without a zone', { hostedZone: undefined, certificateArn: CERT_ARN, healthCheck: {} }, /healthCheck needs a hostedZone/],
  ])('refuses %s', (_name, options, error) => {
    expect(() => build(options)).toThrow(error);
  });
});
