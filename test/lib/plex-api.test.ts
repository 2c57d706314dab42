import { CfnResource, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as logs from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ApiWebAcl, PlexApi, PlexApiProps } from '../../lib';
import { testStack } from './helpers';

function build(props: PlexApiProps = {}) {
  const stack = testStack();
  const plexApi = new PlexApi(stack, 'Api', props);
  // A RestApi without a method does not synthesize; the routes are added by other constructs.
  plexApi.api.root.addMethod('GET', new apigateway.MockIntegration());
  return { stack, plexApi, template: Template.fromStack(stack) };
}

const stageProps = (template: Template) => Object.values(template.findResources('AWS::ApiGateway::Stage'))[0].Properties;

describe('PlexApi', () => {
  test('regional REST API with tracing, JSON access logs, ERROR execution logs and stage-wide throttling', () => {
    const { template, plexApi, stack } = build();
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    template.hasResourceProperties('AWS::ApiGateway::RestApi', { EndpointConfiguration: { Types: ['REGIONAL'] } });
    const stage = stageProps(template);
    expect(stage).toMatchObject({
      StageName: 'prod',
      TracingEnabled: true,
      MethodSettings: [
        { HttpMethod: '*', ResourcePath: '/*', LoggingLevel: 'ERROR', DataTraceEnabled: false, MetricsEnabled: true, ThrottlingRateLimit: 1000, ThrottlingBurstLimit: 2000 },
      ],
    });
    const [accessLogGroup] = stage.AccessLogSetting.DestinationArn['Fn::GetAtt'];
    expect(accessLogGroup).toBe(stack.getLogicalId(plexApi.accessLogs.node.defaultChild as CfnResource));
    expect(template.findResources('AWS::Logs::LogGroup')[accessLogGroup]).toMatchObject({ Properties: { RetentionInDays: 30 }, DeletionPolicy: 'Retain' });
    const format = JSON.parse(stage.AccessLogSetting.Format);
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      status: '$context.status',
      ip: '$context.identity.sourceIp',
      wafResponseCode: '$context.wafResponseCode',
    });
    expect(stack.resolve(plexApi.stage.stageName)).toEqual({ Ref: stack.getLogicalId(plexApi.stage.node.defaultChild as CfnResource) });
  });

  test('stage name, throttling and access log retention are configurable', () => {
    const { template } = build({ stageName: 'v1', throttlingRateLimit: 5, throttlingBurstLimit: 10, logRetention: logs.RetentionDays.ONE_WEEK });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 })],
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
  });

  test('the default execute-api endpoint stays on unless disabled (for a custom domain, so that its TLS 1.3 policy cannot be bypassed)', () => {
    build().template.hasResourceProperties('AWS::ApiGateway::RestApi', { DisableExecuteApiEndpoint: Match.absent() });
    build({ disableExecuteApiEndpoint: true }).template.hasResourceProperties('AWS::ApiGateway::RestApi', { DisableExecuteApiEndpoint: true });
    // API Gateway applies the switch with the next deployment; CDK hashes the RestApi's properties
    // into the deployment's logical id, so turning a domain on deploys the API anew.
    const deploymentId = (template: Template) => Object.keys(template.findResources('AWS::ApiGateway::Deployment'));
    expect(deploymentId(build({ disableExecuteApiEndpoint: true }).template)).not.toEqual(deploymentId(build().template));
  });

  test('url is the stage URL', () => {
    const { stack, plexApi } = build({ stageName: 'v1' });
    const joined = stack.resolve(plexApi.url)['Fn::Join'][1] as unknown[];
    expect(joined[0]).toBe('https://');
    expect(joined[joined.length - 1]).toBe('/');
    expect(joined).toContainEqual({ Ref: stack.getLogicalId(plexApi.stage.node.defaultChild as CfnResource) });
  });

  test('by default a GatewayWaf web ACL is created and associated with the stage', () => {
    const { template, stack, plexApi } = build();
    template.resourceCountIs('AWS::WAFv2::WebACL', 1);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    const webAclId = stack.getLogicalId(plexApi.gatewayWaf!.webAcl);
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: stack.resolve(plexApi.stage.stageArn),
      WebACLArn: { 'Fn::GetAtt': [webAclId, 'Arn'] },
    });
    expect(stack.resolve(plexApi.webAclArn)).toEqual({ 'Fn::GetAtt': [webAclId, 'Arn'] });
  });

  test('ApiWebAcl.gatewayWaf passes its options on', () => {
    const { template } = build({ webAcl: ApiWebAcl.gatewayWaf({ rateLimit: 500 }) });
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: Match.arrayWith([Match.objectLike({ Name: 'RateLimitPerIp', Statement: { RateBasedStatement: Match.objectLike({ Limit: 500 }) } })]),
    });
  });

  test('ApiWebAcl.fromWebAclArn associates an existing web ACL and creates none', () => {
    const webAclArn = 'arn:aws:wafv2:us-east-1:123456789012:regional/webacl/plexmcp/abc';
    const { template, stack, plexApi } = build({ webAcl: ApiWebAcl.fromWebAclArn(webAclArn) });
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', { WebACLArn: webAclArn, ResourceArn: stack.resolve(plexApi.stage.stageArn) });
    expect(plexApi.webAclArn).toBe(webAclArn);
    expect(plexApi.gatewayWaf).toBeUndefined();
  });

  test.each([
    ['a CloudFront (global) web ACL', 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/plexmcp/abc'],
    ['a WAF Classic ARN', 'arn:aws:waf-regional:us-east-1:123456789012:webacl/abc'],
    ['not an ARN', 'plexmcp-acl'],
  ])('ApiWebAcl.fromWebAclArn rejects %s', (_name, arn) => {
    expect(() => ApiWebAcl.fromWebAclArn(arn)).toThrow(/expected the ARN of a regional WAFv2 web ACL/);
  });

  test('ApiWebAcl.none associates nothing and records its reason as the APIG3 acknowledgement', () => {
    const reason = 'The stage is associated with the organisation-wide web ACL by Firewall Manager.';
    const { template, stack, plexApi } = build({ webAcl: ApiWebAcl.none(reason) });
    template.resourceCountIs('AWS::WAFv2::WebACL', 0);
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 0);
    expect(plexApi.webAclArn).toBeUndefined();
    const acknowledged = plexApi.stage.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .map((m) => m.data);
    expect(JSON.stringify(acknowledged)).toContain(reason);
    const findings = new AwsSolutionsChecks().validateScope(stack.node.root).violations.map((v) => v.ruleName);
    expect(findings).not.toContain('AwsSolutions-APIG3');
  });

  test('without an acknowledgement an unassociated stage is an APIG3 finding (the check above can fail)', () => {
    const stack = testStack();
    const api = new apigateway.RestApi(stack, 'Bare', { deployOptions: { tracingEnabled: true } });
    api.root.addMethod('GET', new apigateway.MockIntegration());
    const findings = new AwsSolutionsChecks().validateScope(stack.node.root).violations.map((v) => v.ruleName);
    expect(findings).toContain('AwsSolutions-APIG3');
  });

  test('ApiWebAcl.none needs a reason', () => {
    expect(() => ApiWebAcl.none('  ')).toThrow(/give the reason why the stage has no web ACL/);
  });

  test('the account-level CloudWatch role can be left to another stack', () => {
    build().template.resourceCountIs('AWS::ApiGateway::Account', 1);
    build({ cloudWatchRole: false }).template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });
});
