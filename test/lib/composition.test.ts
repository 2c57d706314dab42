import { Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AdminApi, GatewayWaf, HealthMonitor, McpGateway, PlexApi } from '../../lib';
import { ACCOUNT, roleLogicalIdOf, statementsOfRole, statementWith, testApp } from './helpers';

const KEY_ARN = `arn:aws:kms:eu-central-1:${ACCOUNT}:key/mrk-0123456789abcdef0123456789abcdef`;
const tableArn = (name: string) => ({
  'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:eu-central-1:${ACCOUNT}:table/${name}`]],
});

// Another team's stack that already has a registry table and a key, and only wants the admin
// API on top: the constructs must compose without PlexMcpStack.
class UserStack extends Stack {
  public readonly admin: AdminApi;
  constructor() {
    const app = testApp();
    super(app, 'UserStack', { env: { account: ACCOUNT, region: 'eu-central-1' } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const plexApi = new PlexApi(this, 'PlexApi', { stageName: 'admin', cloudWatchRole: false });
    this.admin = new AdminApi(this, 'PlexAdmin', {
      api: plexApi.api,
      registryTable: dynamodb.TableV2.fromTableName(this, 'Registry', 'team-registry'),
      credentialsKey: kms.Key.fromKeyArn(this, 'Key', KEY_ARN),
    });
  }
}

// A team with its own REST API (their stage settings, their logging) that adds the MCP gateway
// route to it and protects the stage with the gateway's WAF, over imported tables and key.
class GatewayUserStack extends Stack {
  public readonly api: apigateway.RestApi;
  public readonly gateway: McpGateway;
  public readonly waf: GatewayWaf;
  constructor() {
    const app = testApp();
    super(app, 'GatewayUserStack', { env: { account: ACCOUNT, region: 'eu-central-1' } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    this.api = new apigateway.RestApi(this, 'TeamApi', {
      cloudWatchRole: false,
      deployOptions: {
        stageName: 'live',
        tracingEnabled: true,
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        accessLogDestination: new apigateway.LogGroupLogDestination(new logs.LogGroup(this, 'TeamApiLogs')),
        accessLogFormat: apigateway.AccessLogFormat.jsonWithStandardFields(),
      },
    });
    this.gateway = new McpGateway(this, 'PlexGateway', {
      api: this.api,
      registryTable: dynamodb.TableV2.fromTableName(this, 'Registry', 'team-registry'),
      countersTable: dynamodb.TableV2.fromTableName(this, 'Counters', 'team-counters'),
      credentialsKey: kms.Key.fromKeyArn(this, 'Key', KEY_ARN),
    });
    this.waf = new GatewayWaf(this, 'PlexWaf', { stage: this.api.deploymentStage, rateLimit: 600 });
  }
}

const ALARMS_ARN = `arn:aws:sns:eu-central-1:${ACCOUNT}:team-alarms`;
const ALERTS_ARN = `arn:aws:sns:eu-central-1:${ACCOUNT}:team-alerts`;

// A team with its own registry table, key, event bus and topics that runs the health monitor on
// them, and gives its admin API the alerts topic to manage subscriptions on.
class HealthUserStack extends Stack {
  public readonly monitor: HealthMonitor;
  public readonly admin: AdminApi;
  constructor() {
    const app = testApp();
    super(app, 'HealthUserStack', { env: { account: ACCOUNT, region: 'eu-central-1' } });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const registryTable = dynamodb.TableV2.fromTableName(this, 'Registry', 'team-registry');
    const credentialsKey = kms.Key.fromKeyArn(this, 'Key', KEY_ARN);
    const orgAlertsTopic = sns.Topic.fromTopicArn(this, 'Alerts', ALERTS_ARN);
    this.monitor = new HealthMonitor(this, 'PlexHealth', {
      registryTable,
      credentialsKey,
      eventBus: events.EventBus.fromEventBusName(this, 'Bus', 'team-bus'),
      operatorAlarmTopic: sns.Topic.fromTopicArn(this, 'Alarms', ALARMS_ARN),
      orgAlertsTopic,
      shards: 2,
    });
    const plexApi = new PlexApi(this, 'PlexApi', { cloudWatchRole: false });
    this.admin = new AdminApi(this, 'PlexAdmin', { api: plexApi.api, registryTable, credentialsKey, orgAlertsTopic });
  }
}

describe('AdminApi in a user stack with an imported table and key', () => {
  test('creates no table or key, and wires the imported ones into environment and grants', () => {
    const stack = new UserStack();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.resourceCountIs('AWS::ApiGateway::Account', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ PLEXMCP_REGISTRY_TABLE: 'team-registry', PLEXMCP_KMS_KEY_ID: KEY_ARN }) },
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', { StageName: 'admin' });

    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.admin.function));
    expect(statementWith(statements, 'kms:GenerateDataKey')).toEqual({ Effect: 'Allow', Action: ['kms:GenerateDataKey', 'kms:Decrypt'], Resource: KEY_ARN });
    expect(statementWith(statements, 'dynamodb:PutItem').Resource).toEqual(tableArn('team-registry'));
    expect(statements.filter((s) => s.Action === 'dynamodb:Query')).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: tableArn('team-registry/index/gsi1') },
    ]);
  });

  test('passes cdk-nag AwsSolutions without acknowledgements of its own', () => {
    const stack = new UserStack();
    const app = stack.node.root;
    expect(() => Template.fromStack(stack)).not.toThrow();
    expect(new AwsSolutionsChecks().validateScope(app).violations).toEqual([]);
  });
});

describe('McpGateway and GatewayWaf on a user REST API with imported tables and key', () => {
  test('create no table or key; environment and grants name the imported ones', () => {
    const stack = new GatewayUserStack();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::DynamoDB::GlobalTable', 0);
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    template.resourceCountIs('AWS::KMS::Key', 0);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ PLEXMCP_REGISTRY_TABLE: 'team-registry', PLEXMCP_COUNTERS_TABLE: 'team-counters', PLEXMCP_KMS_KEY_ID: KEY_ARN }),
      },
    });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.gateway.function));
    expect(statementWith(statements, 'dynamodb:BatchGetItem').Resource).toEqual(tableArn('team-registry'));
    // The narrowed writes hold for an imported table too: the conditions name partitions, not resources.
    const registryWrites = statements.filter(
      (s) => JSON.stringify(s.Resource).includes('team-registry') && [s.Action].flat().some((a) => /Put|Update|Delete|Write/.test(a)),
    );
    expect(registryWrites).toEqual([
      expect.objectContaining({ Action: 'dynamodb:UpdateItem', Resource: tableArn('team-registry'), Condition: expect.objectContaining({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['KEY#*'] } }) }),
      expect.objectContaining({ Action: 'dynamodb:PutItem', Resource: tableArn('team-registry'), Condition: expect.objectContaining({ 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['CONFIG#session-sealing-key'] } }) }),
    ]);
    expect(statements.filter((s) => JSON.stringify(s.Resource).includes('team-counters'))).toEqual([
      { Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'], Resource: tableArn('team-counters') },
    ]);
    // Reserved by default; the alarm has no action without a topic.
    template.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 100 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ConcurrentExecutions', Threshold: 100 });
    expect(statementWith(statements, 'kms:Decrypt')).toEqual({ Effect: 'Allow', Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: KEY_ARN });
  });

  test("the route streams on the team's API and the WAF protects the team's stage", () => {
    const stack = new GatewayUserStack();
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::ApiGateway::RestApi', 1);
    template.hasResourceProperties('AWS::ApiGateway::Method', {
      RestApiId: { Ref: stack.getLogicalId(stack.api.node.defaultChild as apigateway.CfnRestApi) },
      Integration: Match.objectLike({ ResponseTransferMode: 'STREAM' }),
    });
    template.hasResourceProperties('AWS::WAFv2::WebACLAssociation', {
      ResourceArn: stack.resolve(stack.api.deploymentStage.stageArn),
      WebACLArn: stack.resolve(stack.waf.webAclArn),
    });
    const joined = stack.resolve(stack.gateway.gatewayUrl)['Fn::Join'][1] as unknown[];
    expect(joined[joined.length - 1]).toBe('/mcp/');
  });

  test('passes cdk-nag AwsSolutions: the gateway acknowledges only its own findings, the WAF covers APIG3 of the stage', () => {
    const stack = new GatewayUserStack();
    const app = stack.node.root;
    expect(() => Template.fromStack(stack)).not.toThrow();
    const findings = new AwsSolutionsChecks().validateScope(app).violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`),
    );
    expect(findings).toEqual([]);
  });
});

describe('HealthMonitor and AdminApi in a user stack with an imported table, key, bus and topics', () => {
  test('create no table, key, bus or topic; environment, grants and alarm actions name the imported ones', () => {
    const stack = new HealthUserStack();
    const template = Template.fromStack(stack);
    for (const type of ['AWS::DynamoDB::GlobalTable', 'AWS::DynamoDB::Table', 'AWS::KMS::Key', 'AWS::Events::EventBus', 'AWS::SNS::Topic']) {
      template.resourceCountIs(type, 0);
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          PLEXMCP_REGISTRY_TABLE: 'team-registry',
          PLEXMCP_KMS_KEY_ID: KEY_ARN,
          PLEXMCP_EVENT_BUS_NAME: 'team-bus',
          PLEXMCP_ORG_ALERTS_TOPIC_ARN: ALERTS_ARN,
        }),
      },
    });
    const health = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.monitor.function));
    expect(statementWith(health, 'dynamodb:PutItem')).toEqual({
      Effect: 'Allow',
      Action: 'dynamodb:PutItem',
      Resource: tableArn('team-registry'),
      Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEALTH#*'] }, Null: { 'dynamodb:LeadingKeys': 'false' } },
    });
    expect(health.filter((s) => s.Action === 'dynamodb:Query')).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:Query', Resource: tableArn('team-registry/index/gsi1') },
    ]);
    expect(statementWith(health, 'kms:Decrypt')).toEqual({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: KEY_ARN });
    expect(statementWith(health, 'events:PutEvents').Resource).toEqual({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:events:eu-central-1:${ACCOUNT}:event-bus/team-bus`]],
    });
    // An imported topic knows no key: Publish only.
    expect(statementWith(health, 'sns:Publish')).toEqual({ Effect: 'Allow', Action: 'sns:Publish', Resource: ALERTS_ARN });

    const admin = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.admin.function));
    expect(admin.filter((s) => JSON.stringify(s.Resource).includes('team-alerts'))).toEqual([
      { Effect: 'Allow', Action: 'sns:Subscribe', Resource: ALERTS_ARN },
      { Effect: 'Allow', Action: ['sns:Unsubscribe', 'sns:GetSubscriptionAttributes'], Resource: `${ALERTS_ARN}:*` },
    ]);

    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(4);
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toEqual([ALARMS_ARN]);
    template.resourceCountIs('AWS::Scheduler::Schedule', 2);
  });

  test('passes cdk-nag AwsSolutions: each construct acknowledges only its own findings', () => {
    const stack = new HealthUserStack();
    const app = stack.node.root;
    expect(() => Template.fromStack(stack)).not.toThrow();
    const findings = new AwsSolutionsChecks().validateScope(app).violations.flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath}`),
    );
    expect(findings).toEqual([]);
  });
});
