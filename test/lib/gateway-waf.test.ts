import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { COMMON_RULE_SET_COUNT_RULES, GatewayWaf, GatewayWafOptions } from '../../lib';
import { testStack } from './helpers';

interface Rule {
  Name: string;
  Priority: number;
  Action?: unknown;
  OverrideAction?: unknown;
  Statement: {
    ManagedRuleGroupStatement?: { VendorName: string; Name: string; RuleActionOverrides?: Array<{ Name: string; ActionToUse: unknown }> };
    RateBasedStatement?: { AggregateKeyType: string; Limit: number; EvaluationWindowSec: number };
  };
  VisibilityConfig: { CloudWatchMetricsEnabled: boolean; SampledRequestsEnabled: boolean; MetricName: string };
}

function build(options: GatewayWafOptions = {}) {
  const stack = testStack();
  const api = new apigateway.RestApi(stack, 'Api');
  api.root.addMethod('GET', new apigateway.MockIntegration());
  const waf = new GatewayWaf(stack, 'Waf', { ...options, stage: api.deploymentStage });
  const template = Template.fromStack(stack);
  const webAcl = Object.values(template.findResources('AWS::WAFv2::WebACL'))[0].Properties;
  return { stack, api, waf, template, webAcl, rules: webAcl.Rules as Rule[] };
}

const ruleNamed = (rules: Rule[], name: string): Rule => {
  const found = rules.filter((r) => r.Name === name);
  expect(found).toHaveLength(1);
  return found[0];
};

describe('GatewayWaf', () => {
  test('a regional web ACL that allows by default, with metrics and sampled requests on for it and every rule', () => {
    const { webAcl, rules } = build();
    expect(webAcl).toMatchObject({
      Scope: 'REGIONAL',
      DefaultAction: { Allow: {} },
      VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true, MetricName: expect.stringMatching(/^[\w-]{1,128}$/) },
    });
    expect(rules).toHaveLength(4);
    for (const rule of rules) {
      expect(rule.VisibilityConfig).toEqual({ CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true, MetricName: rule.Name });
    }
  });

  test('the three AWS managed groups keep their own actions; the core rule set counts the body rules that MCP traffic trips', () => {
    const { rules } = build();
    const managed = rules.filter((r) => r.Statement.ManagedRuleGroupStatement !== undefined);
    expect(managed.map((r) => [r.Priority, r.Statement.ManagedRuleGroupStatement!.VendorName, r.Statement.ManagedRuleGroupStatement!.Name])).toEqual([
      [10, 'AWS', 'AWSManagedRulesAmazonIpReputationList'],
      [30, 'AWS', 'AWSManagedRulesKnownBadInputsRuleSet'],
      [40, 'AWS', 'AWSManagedRulesCommonRuleSet'],
    ]);
    for (const rule of managed) expect(rule.OverrideAction).toEqual({ None: {} });

    const crs = ruleNamed(rules, 'AWSManagedRulesCommonRuleSet').Statement.ManagedRuleGroupStatement!;
    expect(crs.RuleActionOverrides).toEqual(
      ['SizeRestrictions_BODY', 'CrossSiteScripting_BODY', 'GenericLFI_BODY', 'GenericRFI_BODY', 'EC2MetaDataSSRF_BODY'].map((name) => ({
        Name: name,
        ActionToUse: { Count: {} },
      })),
    );
    expect(ruleNamed(rules, 'AWSManagedRulesKnownBadInputsRuleSet').Statement.ManagedRuleGroupStatement!.RuleActionOverrides).toBeUndefined();
    expect(ruleNamed(rules, 'AWSManagedRulesAmazonIpReputationList').Statement.ManagedRuleGroupStatement!.RuleActionOverrides).toBeUndefined();
  });

  test('a per-IP rate-based rule: 2000 requests per 5 minutes, answered with 429', () => {
    const { rules } = build();
    expect(ruleNamed(rules, 'RateLimitPerIp')).toMatchObject({
      Priority: 20,
      Action: { Block: { CustomResponse: { ResponseCode: 429 } } },
      Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: 2000, EvaluationWindowSec: 300 } },
    });
  });

  test('is associated with the stage ARN', () => {
    const { template, stack, api, waf } = build();
    template.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
    // The ARN computed for any IStage equals CDK's own Stage.stageArn.
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: stack.resolve(api.deploymentStage.stageArn),
      WebACLArn: { 'Fn::GetAtt': [stack.getLogicalId(waf.webAcl), 'Arn'] },
    });
    expect(stack.resolve(waf.webAclArn)).toEqual({ 'Fn::GetAtt': [stack.getLogicalId(waf.webAcl), 'Arn'] });
  });

  test('protects an imported stage by its ARN', () => {
    const stack = testStack();
    const api = apigateway.RestApi.fromRestApiId(stack, 'Api', 'a1b2c3d4e5');
    const stage = apigateway.Stage.fromStageAttributes(stack, 'Stage', { restApi: api, stageName: 'live' });
    new GatewayWaf(stack, 'Waf', { stage });
    Template.fromStack(stack).hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':apigateway:us-east-1::/restapis/a1b2c3d4e5/stages/live']] },
    });
  });

  test('groups can be disabled, count lists replaced, the rate limit changed and rules added', () => {
    const extra: wafv2.CfnWebACL.RuleProperty = {
      name: 'BlockAdminFromOutside',
      priority: 5,
      action: { block: {} },
      statement: { byteMatchStatement: { fieldToMatch: { uriPath: {} }, positionalConstraint: 'STARTS_WITH', searchString: '/prod/admin', textTransformations: [{ priority: 0, type: 'NONE' }] } },
      visibilityConfig: { cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName: 'BlockAdminFromOutside' },
    };
    const { webAcl, rules } = build({
      ipReputationList: { enabled: false },
      knownBadInputsRuleSet: { countRules: ['Log4JRCE_BODY'] },
      commonRuleSet: { countRules: [...COMMON_RULE_SET_COUNT_RULES, 'NoUserAgent_HEADER'] },
      rateLimit: 100,
      rateLimitWindow: Duration.minutes(1),
      additionalRules: [extra],
      metricName: 'plexmcp-staging',
    });
    expect(webAcl.VisibilityConfig.MetricName).toBe('plexmcp-staging');
    expect(rules.map((r) => r.Name)).toEqual(['RateLimitPerIp', 'AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesCommonRuleSet', 'BlockAdminFromOutside']);
    expect(ruleNamed(rules, 'AWSManagedRulesKnownBadInputsRuleSet').Statement.ManagedRuleGroupStatement!.RuleActionOverrides).toEqual([
      { Name: 'Log4JRCE_BODY', ActionToUse: { Count: {} } },
    ]);
    const crsOverrides = ruleNamed(rules, 'AWSManagedRulesCommonRuleSet').Statement.ManagedRuleGroupStatement!.RuleActionOverrides!;
    expect(crsOverrides.map((o) => o.Name)).toEqual([...COMMON_RULE_SET_COUNT_RULES, 'NoUserAgent_HEADER']);
    expect(ruleNamed(rules, 'RateLimitPerIp').Statement.RateBasedStatement).toEqual({ AggregateKeyType: 'IP', Limit: 100, EvaluationWindowSec: 60 });
    expect(ruleNamed(rules, 'BlockAdminFromOutside').Priority).toBe(5);
  });

  test('an empty count list makes the core rule set block with all its rules', () => {
    const { rules } = build({ commonRuleSet: { countRules: [] } });
    expect(ruleNamed(rules, 'AWSManagedRulesCommonRuleSet').Statement.ManagedRuleGroupStatement!.RuleActionOverrides).toBeUndefined();
  });

  const rule = (name: string, priority: number): wafv2.CfnWebACL.RuleProperty => ({
    name,
    priority,
    action: { count: {} },
    statement: { geoMatchStatement: { countryCodes: ['AQ'] } },
    visibilityConfig: { cloudWatchMetricsEnabled: true, sampledRequestsEnabled: true, metricName: name },
  });

  test.each<[string, GatewayWafOptions, RegExp]>([
    ['a rate limit below 10', { rateLimit: 9 }, /rateLimit must be an integer from 10 to 2000000000, got 9/],
    ['a rate limit above 2,000,000,000', { rateLimit: 2_000_000_001 }, /rateLimit must be an integer from 10 to 2000000000/],
    ['a fractional rate limit', { rateLimit: 100.5 }, /rateLimit must be an integer/],
    ['a 3-minute window', { rateLimitWindow: Duration.minutes(3) }, /rateLimitWindow must be 1, 2, 5 or 10 minutes, got 180 seconds/],
    ['a rule priority used twice', { additionalRules: [rule('Mine', 20)] }, /rule priorities must be unique; 20 used more than once/],
    ['a rule name used twice', { additionalRules: [rule('RateLimitPerIp', 99)] }, /rule names must be unique; RateLimitPerIp used more than once/],
    ['a metric name with a space', { metricName: 'plex mcp' }, /metricName must be 1-128 of A-Z a-z 0-9 - _/],
    ['a blocked-requests threshold of 0', { blockedRequestsAlarmThreshold: 0 }, /blockedRequestsAlarmThreshold must be a whole number of at least 1, got 0/],
    ['a fractional blocked-requests threshold', { blockedRequestsAlarmThreshold: 2.5 }, /blockedRequestsAlarmThreshold must be a whole number/],
  ])('rejects %s', (_name, options, error) => {
    expect(() => build(options)).toThrow(error);
  });
});

describe('GatewayWaf logging and the blocked-requests alarm', () => {
  test('the web ACL is named by its metric name (the WebACL dimension of its metrics)', () => {
    const { webAcl, waf } = build({ metricName: 'plexmcp-prod' });
    expect(webAcl.Name).toBe('plexmcp-prod');
    expect(waf.webAclName).toBe('plexmcp-prod');
  });

  test('logs every request to an aws-waf-logs- log group (bare group ARN), with authorization and x-api-key redacted', () => {
    const { template, stack, waf } = build();
    const groups = template.findResources('AWS::Logs::LogGroup');
    expect(Object.keys(groups)).toHaveLength(1);
    const [groupId, group] = Object.entries(groups)[0];
    expect(group.Properties.LogGroupName).toMatch(/^aws-waf-logs-[\w-]+$/);
    expect(group.Properties.RetentionInDays).toBe(30);
    expect(group.DeletionPolicy).toBe('Delete');
    expect(groupId).toBe(stack.getLogicalId(waf.logGroup.node.defaultChild as logs.CfnLogGroup));
    template.resourceCountIs('AWS::WAFv2::LoggingConfiguration', 1);
    template.hasResourceProperties('AWS::WAFv2::LoggingConfiguration', {
      ResourceArn: { 'Fn::GetAtt': [stack.getLogicalId(waf.webAcl), 'Arn'] },
      LogDestinationConfigs: [
        { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:logs:us-east-1:123456789012:log-group:${group.Properties.LogGroupName}`]] },
      ],
      RedactedFields: [{ SingleHeader: { Name: 'authorization' } }, { SingleHeader: { Name: 'x-api-key' } }],
    });
    // Not the GetAtt Arn of the group, which ends in ':*' and is refused by WAF.
    expect(JSON.stringify(template.findResources('AWS::WAFv2::LoggingConfiguration'))).not.toContain(groupId);
  });

  test('log retention and removal policy are props', () => {
    const { template } = build({ logRetention: logs.RetentionDays.ONE_YEAR, logRemovalPolicy: RemovalPolicy.RETAIN });
    const group = Object.values(template.findResources('AWS::Logs::LogGroup'))[0];
    expect(group.Properties.RetentionInDays).toBe(365);
    expect(group.DeletionPolicy).toBe('Retain');
  });

  test('no alarm without a topic; notify() creates it once, on BlockedRequests of the web ACL (all rules, this region), to the topic', () => {
    expect(build().template.findResources('AWS::CloudWatch::Alarm')).toEqual({});
    const stack = testStack();
    const api = new apigateway.RestApi(stack, 'Api');
    api.root.addMethod('GET', new apigateway.MockIntegration());
    const waf = new GatewayWaf(stack, 'Waf', { stage: api.deploymentStage, metricName: 'plexmcp-prod' });
    expect(waf.blockedRequestsAlarm).toBeUndefined();
    const topic = new sns.Topic(stack, 'Ops');
    const alarm = waf.notify(topic);
    expect(waf.blockedRequestsAlarm).toBe(alarm);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 1);
    const topicRef = { Ref: stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic) };
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/WAFV2',
      MetricName: 'BlockedRequests',
      // Sorted by name in the template.
      Dimensions: [{ Name: 'Region', Value: 'us-east-1' }, { Name: 'Rule', Value: 'ALL' }, { Name: 'WebACL', Value: 'plexmcp-prod' }],
      Statistic: 'Sum',
      Period: 300,
      Threshold: 1000,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [topicRef],
      OKActions: [topicRef],
      AlarmDescription: Match.stringLikeRegexp('1000 or more requests blocked in 5 minutes.*aws-waf-logs-'),
    });
  });

  test('alarmTopic and the threshold as props', () => {
    const stack = testStack();
    const api = new apigateway.RestApi(stack, 'Api');
    api.root.addMethod('GET', new apigateway.MockIntegration());
    const topic = new sns.Topic(stack, 'Ops');
    const waf = new GatewayWaf(stack, 'Waf', { stage: api.deploymentStage, alarmTopic: topic, blockedRequestsAlarmThreshold: 50 });
    expect(waf.blockedRequestsAlarm).toBeDefined();
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'BlockedRequests', Threshold: 50 });
  });
});
