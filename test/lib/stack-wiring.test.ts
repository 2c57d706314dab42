import { CfnResource } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { PlexMcpStack } from '../../lib';
import { ACCOUNT, actionsOf, roleLogicalIdOf, statementsOfRole, testApp, type Statement } from './helpers';

/**
 * How PlexMcpStack wires the event, webhook and digest parts together, in the primary and in a
 * regional stack: the webhook delivery on the region's bus, the admin function's events, webhook
 * routes and digest key, the gateway's quota events, and the one region that scans for expiring keys.
 */
function twoRegions() {
  const app = testApp();
  const primary = new PlexMcpStack(app, 'Primary', { env: { account: ACCOUNT, region: 'us-east-1' }, replicaRegions: ['eu-west-1'] });
  const regional = new PlexMcpStack(app, 'Regional', { env: { account: ACCOUNT, region: 'eu-west-1' }, primary });
  return { primary, regional, stacks: [primary, regional] as const };
}

const envOf = (template: Template, stack: PlexMcpStack, fn: { node: { defaultChild?: unknown } }) =>
  template.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as CfnResource)].Properties.Environment.Variables as Record<string, unknown>;
const logicalId = (stack: PlexMcpStack, construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnResource);
const withAction = (statements: Statement[], action: string) => statements.filter((s) => actionsOf(s).includes(action));
const busArn = (stack: PlexMcpStack) => stack.resolve(stack.healthMonitor.eventBus.eventBusArn);

describe('PlexMcpStack wiring', () => {
  test('(a) every stack delivers webhooks from its own bus: plexmcp.* rule to the queue, function on the registry, credentials key and org alerts topic, alarms to the operator topic', () => {
    for (const stack of twoRegions().stacks) {
      const template = Template.fromStack(stack);
      const webhooks = stack.webhooks;
      template.hasResourceProperties('AWS::SQS::Queue', {
        SqsManagedSseEnabled: true,
        RedrivePolicy: { deadLetterTargetArn: stack.resolve(webhooks.deadLetterQueue.queueArn), maxReceiveCount: 5 },
      });
      template.hasResourceProperties('AWS::Events::Rule', {
        EventBusName: stack.resolve(stack.healthMonitor.eventBus.eventBusName),
        EventPattern: { source: [{ prefix: 'plexmcp.' }] },
        Targets: [Match.objectLike({ Arn: stack.resolve(webhooks.queue.queueArn) })],
      });
      expect(envOf(template, stack, webhooks.function)).toMatchObject({
        PLEXMCP_REGISTRY_TABLE: stack.resolve(stack.registryTable.tableName),
        PLEXMCP_KMS_KEY_ID: stack.resolve(stack.credentialsKey.keyArn),
        PLEXMCP_EVENT_BUS_NAME: stack.resolve(stack.healthMonitor.eventBus.eventBusName),
        // webhook.endpoint.disabled emails go to the region's organisation alerts topic.
        PLEXMCP_ORG_ALERTS_TOPIC_ARN: stack.resolve(stack.healthMonitor.orgAlertsTopic.topicArn),
      });
      const delivery = statementsOfRole(template, roleLogicalIdOf(template, stack, webhooks.function));
      expect(withAction(delivery, 'sns:Publish').map((s) => s.Resource)).toEqual([stack.resolve(stack.healthMonitor.orgAlertsTopic.topicArn)]);
      // The topic is encrypted with the health monitor's key: publishing needs it too.
      expect(withAction(delivery, 'kms:GenerateDataKey*').map((s) => s.Resource)).toEqual([stack.resolve(stack.healthMonitor.topicKey!.keyArn)]);
      const topic = stack.resolve(stack.healthMonitor.operatorAlarmTopic.topicArn);
      for (const alarm of [webhooks.alarms.deadLetters, webhooks.alarms.oldestMessageAge]) {
        const props = template.toJSON().Resources[logicalId(stack, alarm)].Properties;
        expect([props.AlarmActions, props.OKActions]).toEqual([[topic], [topic]]);
      }
    }
  });

  test('(a) every admin function manages webhook endpoints: the environment of WebhookDelivery, read/write on its two tables, SendMessage on its queue, GenerateDataKey/Decrypt on the credentials key', () => {
    for (const stack of twoRegions().stacks) {
      const template = Template.fromStack(stack);
      const webhooks = stack.webhooks;
      const env = envOf(template, stack, stack.adminApi.function);
      expect(Object.keys(webhooks.environment).sort()).toEqual([
        'PLEXMCP_WEBHOOK_DELIVERIES_TABLE',
        'PLEXMCP_WEBHOOK_ENDPOINTS_REGION',
        'PLEXMCP_WEBHOOK_ENDPOINTS_TABLE',
        'PLEXMCP_WEBHOOK_QUEUE_URL',
      ]);
      for (const [name, value] of Object.entries(webhooks.environment)) expect(env[name]).toEqual(stack.resolve(value));
      expect(env).toMatchObject({
        // One global table, one name; written in the primary's region from every region.
        PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: 'plexmcp-webhook-endpoints',
        PLEXMCP_WEBHOOK_ENDPOINTS_REGION: 'us-east-1',
        PLEXMCP_WEBHOOK_DELIVERIES_TABLE: { Ref: logicalId(stack, webhooks.deliveriesTable) },
        PLEXMCP_WEBHOOK_QUEUE_URL: { Ref: logicalId(stack, webhooks.queue) },
      });

      const admin = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.adminApi.function));
      const puts = withAction(admin, 'dynamodb:PutItem').map((s) => JSON.stringify(s.Resource));
      expect(puts.some((r) => r.includes(logicalId(stack, webhooks.deliveriesTable)))).toBe(true);
      expect(puts).toContain(JSON.stringify(stack.resolve(webhooks.endpointsWriterTableArn)));
      expect(withAction(admin, 'sqs:SendMessage').map((s) => s.Resource)).toEqual([stack.resolve(webhooks.queue.queueArn)]);
      const keyArn = stack.resolve(stack.credentialsKey.keyArn);
      // Both the upstream credentials and the webhook secrets: one key, these two actions only.
      for (const s of admin.filter((x) => JSON.stringify(x.Resource) === JSON.stringify(keyArn))) {
        expect(actionsOf(s).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      }
      expect(withAction(admin, 'kms:GenerateDataKey').length).toBeGreaterThan(0);
    }
  });

  test('(a) one endpoints table for every region: the primary owns it as a global table with a replica in each replica region; the regional stack creates none and uses its replica', () => {
    const { primary, regional } = twoRegions();
    const p = Template.fromStack(primary);
    const owned = p.toJSON().Resources[logicalId(primary, primary.webhooks.endpointsTable)];
    expect(owned).toMatchObject({ Type: 'AWS::DynamoDB::GlobalTable', DeletionPolicy: 'Retain', Properties: { TableName: 'plexmcp-webhook-endpoints' } });
    expect(owned.Properties.Replicas.map((r: { Region: string }) => r.Region).sort()).toEqual(['eu-west-1', 'us-east-1']);
    for (const replica of owned.Properties.Replicas) {
      expect(replica).toMatchObject({ DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
    }
    // Deliveries: each region's own table, never replicated.
    for (const stack of [primary, regional]) {
      const deliveries = Template.fromStack(stack).toJSON().Resources[logicalId(stack, stack.webhooks.deliveriesTable)];
      expect(deliveries.Properties.Replicas.map((r: { Region: string }) => r.Region)).toEqual([stack.region]);
    }
    const r = Template.fromStack(regional);
    expect(JSON.stringify(r.findResources('AWS::DynamoDB::GlobalTable'))).not.toContain('plexmcp-webhook-endpoints');
    expect([regional.webhookEndpointsTableName, regional.webhookEndpointsRegion]).toEqual(['plexmcp-webhook-endpoints', 'us-east-1']);
    // The regional delivery function reads its local replica and writes failure state in the primary's region.
    const arn = (region: string) => JSON.stringify({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:${region}:${ACCOUNT}:table/plexmcp-webhook-endpoints`]] });
    const onTable = (statements: Statement[], table: string) => statements.filter((s) => JSON.stringify(s.Resource) === table).flatMap(actionsOf).sort();
    const delivery = statementsOfRole(r, roleLogicalIdOf(r, regional, regional.webhooks.function));
    expect(onTable(delivery, arn('eu-west-1'))).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    expect(onTable(delivery, arn('us-east-1'))).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    expect(envOf(r, regional, regional.webhooks.function)).toMatchObject({ PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: 'plexmcp-webhook-endpoints', PLEXMCP_WEBHOOK_ENDPOINTS_REGION: 'us-east-1' });
    // The regional admin API: endpoints in the primary's region only, not on the replica.
    const admin = statementsOfRole(r, roleLogicalIdOf(r, regional, regional.adminApi.function));
    expect(onTable(admin, arn('us-east-1'))).toEqual(['dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem']);
    expect(onTable(admin, arn('eu-west-1'))).toEqual([]);
    // In the primary both are the table it owns.
    const primaryTable = JSON.stringify(primary.resolve(primary.webhooks.endpointsTable.tableArn));
    expect(onTable(statementsOfRole(p, roleLogicalIdOf(p, primary, primary.webhooks.function)), primaryTable)).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    expect(envOf(p, primary, primary.adminApi.function).PLEXMCP_WEBHOOK_ENDPOINTS_REGION).toBe('us-east-1');
  });

  test('(a) the signing secrets decrypt in every region: the credentials key is multi-Region, replicated into the regional stack', () => {
    const { primary, regional } = twoRegions();
    Template.fromStack(primary).hasResourceProperties('AWS::KMS::Key', { MultiRegion: true, KeySpec: 'SYMMETRIC_DEFAULT' });
    const replicas = Template.fromStack(regional).findResources('AWS::KMS::ReplicaKey');
    expect(Object.keys(replicas)).toHaveLength(1);
    // The delivery function of the regional stack decrypts with that replica.
    const r = Template.fromStack(regional);
    const replicaArn = regional.resolve(regional.credentialsKey.keyArn);
    expect(envOf(r, regional, regional.webhooks.function).PLEXMCP_KMS_KEY_ID).toEqual(replicaArn);
    expect(JSON.stringify(replicaArn)).toContain(Object.keys(replicas)[0]!);
  });

  test('(b) every gateway puts org.quota.threshold on its region\'s bus', () => {
    for (const stack of twoRegions().stacks) {
      const template = Template.fromStack(stack);
      expect(envOf(template, stack, stack.gateway.function).PLEXMCP_EVENT_BUS_NAME).toEqual(stack.resolve(stack.healthMonitor.eventBus.eventBusName));
      const gateway = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.gateway.function));
      expect(withAction(gateway, 'events:PutEvents')).toEqual([{ Effect: 'Allow', Action: 'events:PutEvents', Resource: busArn(stack) }]);
    }
  });

  test('(c) only the primary scans for expiring keys (and may write its NOTICE# markers)', () => {
    const { primary, regional } = twoRegions();
    for (const [stack, scan] of [[primary, 'on'], [regional, 'off']] as const) {
      const template = Template.fromStack(stack);
      expect(envOf(template, stack, stack.healthMonitor.function).PLEXMCP_KEY_EXPIRY_SCAN).toBe(scan);
      const health = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.healthMonitor.function));
      const notices = withAction(health, 'dynamodb:UpdateItem').filter((s) => JSON.stringify(s).includes('NOTICE#'));
      expect(notices).toHaveLength(scan === 'on' ? 1 : 0);
    }
  });

  test('(d) every admin function publishes admin events on its region\'s bus', () => {
    for (const stack of twoRegions().stacks) {
      const template = Template.fromStack(stack);
      expect(envOf(template, stack, stack.adminApi.function).PLEXMCP_EVENT_BUS_NAME).toEqual(stack.resolve(stack.healthMonitor.eventBus.eventBusName));
      const admin = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.adminApi.function));
      expect(withAction(admin, 'events:PutEvents')).toEqual([{ Effect: 'Allow', Action: 'events:PutEvents', Resource: busArn(stack) }]);
    }
  });

  test('(e) every admin function reads the public key of the primary\'s digest key, that key only, and queries the audit table', () => {
    const { primary, regional } = twoRegions();
    const digestKeyId = logicalId(primary, primary.auditLog!.signingKey);
    // The primary's key by GetAtt; a regional stack's through the cross-region reference reader.
    const primaryKey = { 'Fn::GetAtt': [digestKeyId, 'Arn'] };
    const regionalKey = { 'Fn::GetAtt': [Match.stringLikeRegexp('^ExportsReader'), Match.stringLikeRegexp('DigestKey')] };
    expect(primary.digestKeyArn).toBe(primary.auditLog!.signingKey.keyArn);
    expect(regional.digestKeyArn).toBe(primary.digestKeyArn);
    for (const [stack, key, auditTable] of [
      [primary, primaryKey, { 'Fn::GetAtt': [logicalId(primary, primary.auditLog!.table), 'Arn'] }],
      [regional, regionalKey, { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:dynamodb:us-east-1:${ACCOUNT}:table/plexmcp-audit`]] }],
    ] as const) {
      const template = Template.fromStack(stack);
      template.hasResourceProperties('AWS::Lambda::Function', {
        Description: 'PlexMCP admin API',
        Environment: { Variables: Match.objectLike({ PLEXMCP_DIGEST_KEY_ID: key, PLEXMCP_AUDIT_REGION: 'us-east-1' }) },
      });
      const admin = statementsOfRole(template, roleLogicalIdOf(template, stack, stack.adminApi.function));
      const getPublicKey = withAction(admin, 'kms:GetPublicKey');
      expect(getPublicKey).toHaveLength(1);
      expect(getPublicKey[0]).toEqual({ Effect: 'Allow', Action: 'kms:GetPublicKey', Resource: expect.anything() });
      // Exactly the digest key (the same token as the environment variable), nothing else.
      const env = envOf(template, stack, stack.adminApi.function);
      expect(getPublicKey[0]!.Resource).toEqual(env.PLEXMCP_DIGEST_KEY_ID);
      expect(withAction(admin, 'kms:Sign')).toEqual([]);
      // DIGEST# items are read with Query (grantAuditRead, unconditioned on the audit table).
      const queries = withAction(admin, 'dynamodb:Query').filter((s) => JSON.stringify(s.Resource) === JSON.stringify(auditTable));
      expect(queries).toEqual([{ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:Query'], Resource: auditTable }]);
    }
    // The regional key arrives by name of the primary's key in the reader's parameter list.
    const reader = Object.values(Template.fromStack(regional).findResources('Custom::CrossRegionExportReader'))[0] as { Properties: { ReaderProps: { imports: Record<string, string> } } };
    expect(Object.keys(reader.Properties.ReaderProps.imports).some((name) => /DigestKey/.test(name))).toBe(true);
  });
});
