import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CfnResource, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_USAGE_DATABASE_NAME, USAGE_RECORD_COLUMN_TYPES, USAGE_TABLE_NAME, UsageAnalytics, UsageAnalyticsProps } from '../../lib';
import { ACCOUNT, actionsOf, roleLogicalIdOf, statementsOfRole, testStack } from './helpers';

function build(props: Partial<UsageAnalyticsProps> = {}, stack: Stack = testStack()) {
  const logGroup = new logs.LogGroup(stack, 'GatewayLogs');
  const analytics = new UsageAnalytics(stack, 'Analytics', { gatewayLogGroup: logGroup, ...props });
  const template = Template.fromStack(stack);
  const logicalId = (construct: { node: { defaultChild?: unknown } }) => stack.getLogicalId(construct.node.defaultChild as CfnResource);
  const ids = {
    logGroup: logicalId(logGroup),
    table: stack.resolve(analytics.rollups.table.tableName).Ref as string,
    stream: logicalId(analytics.stream),
    fn: logicalId(analytics.function),
    queue: logicalId(analytics.deadLetterQueue),
    bucket: logicalId(analytics.export.bucket),
    subscriptionRole: logicalId(analytics.subscriptionRole),
  };
  return { stack, analytics, template, ids };
}

function nagFindings(stack: Stack): string[] {
  const report = new AwsSolutionsChecks().validateScope(stack);
  return report.violations.map((v) => `${v.severity} ${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
}

describe('UsageAnalytics', () => {
  test('the rollup table: pk/sk strings, TTL on expiresAt, on-demand, PITR, deletion protection, retained', () => {
    const { template, ids } = build();
    const table = template.toJSON().Resources[ids.table];
    expect(table).toMatchObject({
      Type: 'AWS::DynamoDB::GlobalTable',
      DeletionPolicy: 'Retain',
      Properties: {
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        Replicas: [{ Region: 'us-east-1', DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }],
      },
    });
    // Regional: no replica other than this region; a generated name.
    expect(table.Properties.TableName).toBeUndefined();
  });

  test('the usage stream: provisioned with one shard, 24 h retention, encrypted with aws/kinesis', () => {
    const { template, ids } = build();
    expect(template.toJSON().Resources[ids.stream].Properties).toMatchObject({
      ShardCount: 1,
      RetentionPeriodHours: 24,
      StreamModeDetails: { StreamMode: 'PROVISIONED' },
      StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
    });
    const more = build({ shardCount: 3 });
    expect(more.template.toJSON().Resources[more.ids.stream].Properties.ShardCount).toBe(3);
  });

  test('the subscription filter: usage lines of the gateway log group into the stream, with a role only CloudWatch Logs of this account may assume, allowed only PutRecord on the stream', () => {
    const { template, ids } = build();
    const filters = template.findResources('AWS::Logs::SubscriptionFilter');
    expect(Object.values(filters)).toHaveLength(1);
    const [filter] = Object.values(filters);
    expect(filter.Properties).toEqual({
      LogGroupName: { Ref: ids.logGroup },
      FilterPattern: '{ $.type = "usage" }',
      DestinationArn: { 'Fn::GetAtt': [ids.stream, 'Arn'] },
      RoleArn: { 'Fn::GetAtt': [ids.subscriptionRole, 'Arn'] },
      Distribution: 'Random',
    });
    const role = template.toJSON().Resources[ids.subscriptionRole].Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: { Service: 'logs.amazonaws.com' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': ACCOUNT },
          ArnLike: { 'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:logs:us-east-1:${ACCOUNT}:*`]] } },
        },
      },
    ]);
    expect(role.ManagedPolicyArns).toBeUndefined();
    expect(statementsOfRole(template, ids.subscriptionRole)).toEqual([
      { Effect: 'Allow', Action: 'kinesis:PutRecord', Resource: { 'Fn::GetAtt': [ids.stream, 'Arn'] } },
    ]);
    // The policy exists before CloudWatch Logs checks the destination.
    const policyId = Object.keys(template.findResources('AWS::IAM::Policy')).find((k) => k.includes('SubscriptionPolicy'))!;
    expect(filter.DependsOn).toContain(policyId);
  });

  test('the consumer: Kinesis event source in shard order, whole-batch retries until the records are 23 h old, bisect on error, no partial batch responses, dead letters to SQS', () => {
    const { template, ids } = build();
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'))[0].Properties;
    expect(mapping).toEqual({
      FunctionName: { Ref: ids.fn },
      EventSourceArn: { 'Fn::GetAtt': [ids.stream, 'Arn'] },
      StartingPosition: 'TRIM_HORIZON',
      BatchSize: 500,
      MaximumBatchingWindowInSeconds: 10,
      ParallelizationFactor: 1,
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 10_000,
      MaximumRecordAgeInSeconds: 82_800,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [ids.queue, 'Arn'] } } },
    });
    expect(mapping.FunctionResponseTypes).toBeUndefined();
    const fn = template.toJSON().Resources[ids.fn].Properties;
    expect(fn).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], MemorySize: 512, Timeout: 120 });
    expect(fn.Environment.Variables).toEqual({
      PLEXMCP_MODE: 'aws',
      PLEXMCP_ANALYTICS_TABLE: { Ref: ids.table },
      PLEXMCP_ANALYTICS_RETENTION: '{"minute":2,"hour":90,"day":730}',
      POWERTOOLS_SERVICE_NAME: 'plexmcp-analytics',
      POWERTOOLS_METRICS_NAMESPACE: 'PlexMCP',
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: ids.queue }],
      PolicyDocument: { Statement: [Match.objectLike({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })] },
    });
  });

  test("PLEXMCP_GATEWAY_MEMORY_MB: the memory of the function that logs to the gateway log group, or the prop; none without either", () => {
    const stack = testStack();
    const logGroup = new logs.LogGroup(stack, 'GatewayFunctionLogGroup');
    // Another function in the same scope, with its own log group, must not be taken for it.
    new lambda.Function(stack, 'Other', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = 1'), memorySize: 256, logGroup: new logs.LogGroup(stack, 'OtherLogGroup') });
    new lambda.Function(stack, 'GatewayFunction', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler = 1'), memorySize: 1769, logGroup });
    const { template, ids } = build({ gatewayLogGroup: logGroup }, stack);
    expect(template.toJSON().Resources[ids.fn].Properties.Environment.Variables.PLEXMCP_GATEWAY_MEMORY_MB).toBe('1769');

    const explicit = build({ gatewayMemorySize: 3008 });
    expect(explicit.template.toJSON().Resources[explicit.ids.fn].Properties.Environment.Variables.PLEXMCP_GATEWAY_MEMORY_MB).toBe('3008');
    // A log group no function of its scope logs to (the default build): no estimate.
    const none = build();
    expect(none.template.toJSON().Resources[none.ids.fn].Properties.Environment.Variables.PLEXMCP_GATEWAY_MEMORY_MB).toBeUndefined();
    for (const bad of [64, 10_241, 1024.5]) expect(() => build({ gatewayMemorySize: bad })).toThrow(/gatewayMemorySize must be a Lambda memory size/);
  });

  test('otlpEndpoint: PLEXMCP_OTLP_ENDPOINT on the consumer; only an https URL', () => {
    const { template, ids } = build({ otlpEndpoint: 'https://collector.example.com/v1/metrics' });
    expect(template.toJSON().Resources[ids.fn].Properties.Environment.Variables.PLEXMCP_OTLP_ENDPOINT).toBe('https://collector.example.com/v1/metrics');
    const none = build();
    expect(none.template.toJSON().Resources[none.ids.fn].Properties.Environment.Variables.PLEXMCP_OTLP_ENDPOINT).toBeUndefined();
    for (const bad of ['http://collector.example.com/v1/metrics', 'collector:4318', ''])
      expect(() => build({ otlpEndpoint: bad })).toThrow(/otlpEndpoint must be an https URL/);
  });

  test("the consumer's role: GetItem and PutItem on the rollup table only, stream reads, SendMessage to its dead-letter queue; no Timestream by default", () => {
    const { template, stack, analytics, ids } = build();
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, analytics.function));
    const dynamo = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo).toEqual([{ Effect: 'Allow', Action: ['dynamodb:GetItem', 'dynamodb:PutItem'], Resource: { 'Fn::GetAtt': [ids.table, 'Arn'] } }]);
    const sqsStatements = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('sqs:')));
    expect(sqsStatements.map((s) => s.Resource)).toEqual([{ 'Fn::GetAtt': [ids.queue, 'Arn'] }]);
    const kinesisActions = statements.filter((s) => actionsOf(s).some((a) => a.startsWith('kinesis:'))).flatMap(actionsOf);
    expect(kinesisActions).toEqual(expect.arrayContaining(['kinesis:GetRecords', 'kinesis:GetShardIterator']));
    expect(kinesisActions.filter((a) => /Put|Delete|Create|Update/.test(a))).toEqual([]);
    const services = new Set(statements.flatMap(actionsOf).map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['dynamodb', 'kinesis', 'logs', 'sqs', 'xray']);
    template.resourceCountIs('AWS::Timestream::Database', 0);
    template.resourceCountIs('AWS::Timestream::Table', 0);
  });

  test('Timestream on: a retained database and table with the retention given, their names in the environment, WriteRecords on the table only', () => {
    const { template, stack, analytics, ids } = build({ timestream: { memoryStoreRetention: Duration.hours(12), magneticStoreRetention: Duration.days(90) } });
    const databases = template.findResources('AWS::Timestream::Database');
    expect(Object.values(databases)).toHaveLength(1);
    expect(Object.values(databases)[0].DeletionPolicy).toBe('Retain');
    const dbId = Object.keys(databases)[0];
    const tables = template.findResources('AWS::Timestream::Table');
    const tableId = Object.keys(tables)[0];
    expect(tables[tableId]).toMatchObject({
      DeletionPolicy: 'Retain',
      Properties: {
        DatabaseName: { Ref: dbId },
        RetentionProperties: { MemoryStoreRetentionPeriodInHours: '12', MagneticStoreRetentionPeriodInDays: '90' },
        MagneticStoreWriteProperties: { EnableMagneticStoreWrites: false },
      },
    });
    expect(template.toJSON().Resources[ids.fn].Properties.Environment.Variables).toMatchObject({
      PLEXMCP_TIMESTREAM_DATABASE: { Ref: dbId },
      PLEXMCP_TIMESTREAM_TABLE: { 'Fn::GetAtt': [tableId, 'Name'] },
    });
    const statements = statementsOfRole(template, roleLogicalIdOf(template, stack, analytics.function));
    expect(statements.filter((s) => actionsOf(s).some((a) => a.startsWith('timestream:')))).toEqual([
      { Effect: 'Allow', Action: 'timestream:WriteRecords', Resource: { 'Fn::GetAtt': [tableId, 'Arn'] } },
      { Effect: 'Allow', Action: 'timestream:DescribeEndpoints', Resource: '*' },
    ]);
    const defaults = build({ timestream: true }).template;
    defaults.hasResourceProperties('AWS::Timestream::Table', {
      RetentionProperties: { MemoryStoreRetentionPeriodInHours: '24', MagneticStoreRetentionPeriodInDays: '365' },
    });
    build({ timestream: false }).template.resourceCountIs('AWS::Timestream::Database', 0);
  });

  test('alarms on consumer errors, lag and dead letters notify the operator topic on ALARM and OK', () => {
    const stack = testStack();
    const topic = new sns.Topic(stack, 'Alarms');
    const { template, ids } = build({ operatorAlarmTopic: topic, iteratorAgeAlarmThreshold: Duration.minutes(10) }, stack);
    const topicRef = { Ref: stack.getLogicalId(topic.node.defaultChild as CfnResource) };
    template.resourceCountIs('AWS::CloudWatch::Alarm', 3);
    const fnDimension = [{ Name: 'FunctionName', Value: { Ref: ids.fn } }];
    for (const alarm of [
      { MetricName: 'Errors', Namespace: 'AWS/Lambda', Dimensions: fnDimension, Statistic: 'Sum', Period: 300, EvaluationPeriods: 2, Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' },
      { MetricName: 'IteratorAge', Namespace: 'AWS/Lambda', Dimensions: fnDimension, Statistic: 'Maximum', Period: 60, EvaluationPeriods: 3, Threshold: 600_000, ComparisonOperator: 'GreaterThanThreshold' },
      {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [ids.queue, 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      },
    ]) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', { ...alarm, TreatMissingData: 'notBreaching', AlarmActions: [topicRef], OKActions: [topicRef] });
    }
  });

  test('the export bucket: SSE-S3, no public access, TLS only, retained, lifecycle rules for records, errors, Athena results and uploads', () => {
    const { template, ids } = build({ export: { retention: Duration.days(200), infrequentAccessAfter: Duration.days(60) } });
    const bucket = template.toJSON().Resources[ids.bucket];
    expect(bucket.DeletionPolicy).toBe('Retain');
    expect(bucket.Properties).toMatchObject({
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: {
        Rules: [
          { Id: 'usage-records', Prefix: 'usage/', Status: 'Enabled', ExpirationInDays: 200, Transitions: [{ StorageClass: 'STANDARD_IA', TransitionInDays: 60 }] },
          { Id: 'delivery-errors', Prefix: 'errors/', Status: 'Enabled', ExpirationInDays: 30 },
          { Id: 'athena-results', Prefix: 'athena-results/', Status: 'Enabled', ExpirationInDays: 7 },
          { Id: 'incomplete-uploads', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } },
        ],
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: ids.bucket },
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  test('Firehose reads the usage stream, decompresses, extracts the messages, one per line, GZIP, under usage/dt=<day>/', () => {
    const { template, ids } = build();
    const streams = Object.values(template.findResources('AWS::KinesisFirehose::DeliveryStream'));
    expect(streams).toHaveLength(1);
    const props = streams[0].Properties;
    expect(props.DeliveryStreamType).toBe('KinesisStreamAsSource');
    expect(props.KinesisStreamSourceConfiguration.KinesisStreamARN).toEqual({ 'Fn::GetAtt': [ids.stream, 'Arn'] });
    expect(props.DeliveryStreamEncryptionConfigurationInput).toBeUndefined();
    const s3 = props.ExtendedS3DestinationConfiguration;
    expect(s3).toMatchObject({
      BucketARN: { 'Fn::GetAtt': [ids.bucket, 'Arn'] },
      CompressionFormat: 'GZIP',
      Prefix: 'usage/dt=!{timestamp:yyyy-MM-dd}/',
      ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/',
      BufferingHints: { IntervalInSeconds: 300, SizeInMBs: 64 },
    });
    expect(s3.ProcessingConfiguration.Enabled).toBe(true);
    expect(s3.ProcessingConfiguration.Processors.map((p: { Type: string }) => p.Type)).toEqual(['Decompression', 'CloudWatchLogProcessing', 'AppendDelimiterToRecord']);
    expect(s3.ProcessingConfiguration.Processors[1].Parameters).toEqual([{ ParameterName: 'DataMessageExtraction', ParameterValue: 'true' }]);
  });

  test('the Glue table: one column per usage record field, OpenX JSON SerDe, gzip, partition projection on dt; an encrypted Athena workgroup', () => {
    const { template, ids } = build();
    template.hasResourceProperties('AWS::Glue::Database', { CatalogId: ACCOUNT, DatabaseInput: { Name: DEFAULT_USAGE_DATABASE_NAME } });
    const table = Object.values(template.findResources('AWS::Glue::Table'))[0].Properties;
    expect(table.DatabaseName).toBe(DEFAULT_USAGE_DATABASE_NAME);
    const input = table.TableInput;
    expect(input.Name).toBe(USAGE_TABLE_NAME);
    expect(input.PartitionKeys).toEqual([expect.objectContaining({ Name: 'dt', Type: 'string' })]);
    expect(input.StorageDescriptor.Columns.map((c: { Name: string }) => c.Name)).toEqual(Object.keys(USAGE_RECORD_COLUMN_TYPES).map((k) => k.toLowerCase()));
    expect(input.StorageDescriptor.Columns).toContainEqual({ Name: 'methods', Type: 'array<string>' });
    expect(input.StorageDescriptor.Columns).toContainEqual({ Name: 'totalms', Type: 'double' });
    expect(input.StorageDescriptor.SerdeInfo.SerializationLibrary).toBe('org.openx.data.jsonserde.JsonSerDe');
    const bucketRef = { Ref: ids.bucket };
    expect(input.StorageDescriptor.Location).toEqual({ 'Fn::Join': ['', ['s3://', bucketRef, '/usage/']] });
    expect(input.Parameters).toMatchObject({
      classification: 'json',
      compressionType: 'gzip',
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      'projection.dt.interval.unit': 'DAYS',
      'storage.location.template': { 'Fn::Join': ['', ['s3://', bucketRef, '/usage/dt=${dt}/']] },
    });
    template.hasResourceProperties('AWS::Athena::WorkGroup', {
      Name: DEFAULT_USAGE_DATABASE_NAME,
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: true,
        ResultConfiguration: { OutputLocation: { 'Fn::Join': ['', ['s3://', bucketRef, '/athena-results/']] }, EncryptionConfiguration: { EncryptionOption: 'SSE_S3' } },
      },
    });
  });

  test('the Athena query in docs/analytics-aws.md uses only columns of the synthesized Glue table', () => {
    const { template } = build();
    const input = Object.values(template.findResources('AWS::Glue::Table'))[0].Properties.TableInput;
    const columns = new Set<string>([...input.StorageDescriptor.Columns, ...input.PartitionKeys].map((c: { Name: string }) => c.Name));
    const doc = readFileSync(path.join(__dirname, '..', '..', 'docs', 'analytics-aws.md'), 'utf8');
    const queries = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]);
    expect(queries.length).toBeGreaterThan(0);
    // SQL words and the query's own aliases; every other identifier must be a column.
    const sqlWords = new Set(
      'select from where and or not group by order desc asc limit as count sum avg approx_percentile case when then else end between in is null distinct cast double varchar date round with having'.split(' '),
    );
    for (const query of queries) {
      expect(query).toContain(`${DEFAULT_USAGE_DATABASE_NAME}.${USAGE_TABLE_NAME}`);
      const body = query.replace(/--.*$/gm, '').replace(/'[^']*'/g, "''").replace(`${DEFAULT_USAGE_DATABASE_NAME}.${USAGE_TABLE_NAME}`, '');
      const aliases = new Set([...body.matchAll(/\bAS\s+([a-z_][a-z0-9_]*)/gi)].map((m) => m[1].toLowerCase()));
      const identifiers = [...body.matchAll(/"([^"]+)"|\b([a-zA-Z_][a-zA-Z0-9_]*)\b/g)].map((m) => (m[1] ?? m[2]).toLowerCase());
      const unknown = identifiers.filter((id) => !sqlWords.has(id) && !aliases.has(id) && !columns.has(id));
      expect(unknown).toEqual([]);
      // It reads the partition column, so Athena scans only the days asked for.
      expect(identifiers).toContain('dt');
    }
  });

  test('cdk-nag AwsSolutions: no findings, with and without Timestream', () => {
    for (const timestream of [false, true]) {
      const { stack } = build({ timestream });
      expect(nagFindings(stack)).toEqual([]);
    }
  });

  test.each<[string, Partial<UsageAnalyticsProps>, RegExp]>([
    ['0 shards', { shardCount: 0 }, /shardCount must be a whole number from 1 to 16, got 0/],
    ['17 shards', { shardCount: 17 }, /shardCount must be a whole number from 1 to 16, got 17/],
    ['a fractional shard count', { shardCount: 1.5 }, /shardCount must be a whole number/],
    ['a retention of 0 days', { retention: { minute: 0, hour: 90, day: 730 } }, /retention.minute must be a whole number of days from 1 to 36500, got 0/],
    ['a fractional retention', { retention: { minute: 2, hour: 1.5, day: 730 } }, /retention.hour must be a whole number of days/],
    ['minute kept longer than hour', { retention: { minute: 30, hour: 7, day: 730 } }, /must not keep a finer granularity longer than a coarser one/],
    ['a batch size of 0', { batchSize: 0 }, /batchSize must be a whole number from 1 to 10000, got 0/],
    ['a batch size of 10001', { batchSize: 10_001 }, /batchSize must be a whole number from 1 to 10000/],
    ['a batching window of 301 s', { maxBatchingWindow: Duration.seconds(301) }, /maxBatchingWindow must be whole seconds from 0 to 300/],
    ['a batching window of 1.5 s', { maxBatchingWindow: Duration.millis(1500) }, /maxBatchingWindow must be whole seconds/],
    ['a lag threshold of 30 s', { iteratorAgeAlarmThreshold: Duration.seconds(30) }, /iteratorAgeAlarmThreshold must be at least 1 minute/],
    ['a lag threshold of a day', { iteratorAgeAlarmThreshold: Duration.days(1) }, /less than the 23 h record age/],
    ['a memory store of 0 hours', { timestream: { memoryStoreRetention: Duration.hours(0) } }, /timestream.memoryStoreRetention must be whole hours from 1 to 8766/],
    ['a magnetic store of 0 days', { timestream: { magneticStoreRetention: Duration.days(0) } }, /timestream.magneticStoreRetention must be whole days from 1 to 73000/],
    ['a bad table name', { table: { tableName: 'no spaces allowed' } }, /tableName must be a DynamoDB table name/],
    ['Standard-IA before 30 days', { export: { infrequentAccessAfter: Duration.days(10) } }, /infrequentAccessAfter must be whole days, at least 30/],
    ['a retention not after Standard-IA', { export: { retention: Duration.days(30) } }, /retention must be whole days, longer than infrequentAccessAfter \(30 days\), got 30 days/],
    ['a buffer of 30 s', { export: { bufferingInterval: Duration.seconds(30) } }, /bufferingInterval must be whole seconds from 60 to 900, got 30/],
    ['a Glue name with capitals', { export: { databaseName: 'PlexMCP' } }, /databaseName must be 1-255 of a-z 0-9 _/],
  ])('rejects %s', (_name, props, error) => {
    const stack = testStack();
    const logGroup = new logs.LogGroup(stack, 'GatewayLogs');
    expect(() => new UsageAnalytics(stack, 'Analytics', { gatewayLogGroup: logGroup, ...props })).toThrow(error);
  });
});
