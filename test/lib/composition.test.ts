import { Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks } from 'cdk-nag';
import { AdminApi, PlexApi } from '../../lib';
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
