import { Duration, RemovalPolicy, Size, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { UsageRecord } from '../lambda/core/gateway/usage';
import { nagResourceText } from './private/nag';

/** Where the raw usage records land in the bucket: one folder per UTC day (Firehose's arrival time). */
export const USAGE_EXPORT_PREFIX = 'usage/';
/** Firehose's prefix expression for {@link USAGE_EXPORT_PREFIX}: `usage/dt=2026-12-01/`. */
export const USAGE_EXPORT_OBJECT_PREFIX = `${USAGE_EXPORT_PREFIX}dt=!{timestamp:yyyy-MM-dd}/`;
/** Records Firehose could not process or deliver, by error type and day. */
export const USAGE_EXPORT_ERROR_PREFIX = 'errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/';
/** Athena's query results (the workgroup's output location). */
export const ATHENA_RESULTS_PREFIX = 'athena-results/';

/** Default Glue database name (also the Athena workgroup's name). */
export const DEFAULT_USAGE_DATABASE_NAME = 'plexmcp_analytics';
/** The Glue table of the raw usage records. */
export const USAGE_TABLE_NAME = 'usage_records';
/** The partition column: the UTC day of the folder, `yyyy-MM-dd`. */
export const USAGE_PARTITION_COLUMN = 'dt';

/**
 * The Glue column type of every usage record field (lambda/core/gateway/usage.ts). `satisfies`
 * makes a field added to UsageRecord without a column here a compile error. Glue keeps column
 * names in lower case, and the JSON SerDe matches JSON keys case-insensitively, so the column
 * of `requestId` is `requestid` (Athena identifiers are case-insensitive too).
 */
export const USAGE_RECORD_COLUMN_TYPES = {
  type: 'string',
  timestamp: 'string',
  requestId: 'string',
  region: 'string',
  orgId: 'string',
  keyId: 'string',
  mcp: 'string',
  endpointId: 'string',
  httpMethod: 'string',
  messageCount: 'int',
  methods: 'array<string>',
  tool: 'string',
  resource: 'string',
  prompt: 'string',
  status: 'int',
  statusClass: 'string',
  costMicroUsd: 'bigint',
  errorCode: 'string',
  totalMs: 'double',
  gatewayMs: 'double',
  upstreamFirstByteMs: 'double',
  bytesIn: 'bigint',
  bytesOut: 'bigint',
} as const satisfies Record<keyof UsageRecord, string>;

const GLUE_NAME_PATTERN = /^[a-z0-9_]{1,255}$/;

/**
 * Options of a {@link UsageExport}.
 */
export interface UsageExportOptions {
  /**
   * How long the raw usage records are kept in S3.
   *
   * @default Duration.days(400) - a year and a month: last year's same month stays comparable
   */
  readonly retention?: Duration;

  /**
   * When records move to S3 Standard-IA (S3's minimum is 30 days).
   *
   * @default Duration.days(30)
   */
  readonly infrequentAccessAfter?: Duration;

  /**
   * How long Firehose buffers before it writes an object (60 to 900 seconds). Longer buffers
   * make fewer, larger objects, which Athena reads faster.
   *
   * @default Duration.minutes(5)
   */
  readonly bufferingInterval?: Duration;

  /**
   * Name of the Glue database and of the Athena workgroup (lower case, digits, `_`). Names are
   * per account and region: a second installation in the same region needs another one.
   *
   * @default 'plexmcp_analytics'
   */
  readonly databaseName?: string;
}

/**
 * Properties for {@link UsageExport}.
 */
export interface UsageExportProps extends UsageExportOptions {
  /** The usage stream (CloudWatch Logs batches, see {@link UsageAnalytics}). */
  readonly stream: kinesis.IStream;
}

/**
 * The raw usage records in S3 for Athena: a Firehose delivery stream reads the usage stream,
 * decompresses each CloudWatch Logs batch and keeps only the messages (the usage lines), and
 * writes them as newline-delimited JSON, GZIP, under `usage/dt=<UTC day>/`. A Glue table (OpenX
 * JSON SerDe, one column per usage record field, partition projection on `dt`) and an Athena
 * workgroup (results encrypted, in the same bucket) make them queryable without a crawler.
 *
 * Independent of the rollup consumer: a batch the consumer gives up on is still exported.
 * Delivery is at least once (Firehose may write a record twice after a retry); count distinct
 * `requestid` where that matters.
 */
export class UsageExport extends Construct {
  /** The export bucket (SSE-S3, no public access, TLS only, lifecycle rules). */
  public readonly bucket: s3.IBucket;

  /** The Firehose delivery stream. */
  public readonly deliveryStream: firehose.IDeliveryStream;

  /** The Glue database. */
  public readonly database: glue.CfnDatabase;

  /** The Glue table of the usage records. */
  public readonly table: glue.CfnTable;

  /** The Athena workgroup whose results go to the bucket, encrypted. */
  public readonly workGroup: athena.CfnWorkGroup;

  /** Name of the Glue database. */
  public readonly databaseName: string;

  constructor(scope: Construct, id: string, props: UsageExportProps) {
    super(scope, id);
    const stack = Stack.of(this);

    const retentionDays = (props.retention ?? Duration.days(400)).toDays();
    const iaDays = (props.infrequentAccessAfter ?? Duration.days(30)).toDays();
    if (!Number.isInteger(iaDays) || iaDays < 30) {
      throw new Error(`UsageExport: infrequentAccessAfter must be whole days, at least 30 (S3's minimum for Standard-IA), got ${iaDays} days.`);
    }
    if (!Number.isInteger(retentionDays) || retentionDays <= iaDays) {
      throw new Error(`UsageExport: retention must be whole days, longer than infrequentAccessAfter (${iaDays} days), got ${retentionDays} days.`);
    }
    const bufferSeconds = (props.bufferingInterval ?? Duration.minutes(5)).toSeconds();
    if (!Number.isInteger(bufferSeconds) || bufferSeconds < 60 || bufferSeconds > 900) {
      throw new Error(`UsageExport: bufferingInterval must be whole seconds from 60 to 900, got ${bufferSeconds} seconds.`);
    }
    const databaseName = props.databaseName ?? DEFAULT_USAGE_DATABASE_NAME;
    if (!GLUE_NAME_PATTERN.test(databaseName)) {
      throw new Error(`UsageExport: databaseName must be 1-255 of a-z 0-9 _, got ${JSON.stringify(databaseName)}.`);
    }
    this.databaseName = databaseName;

    const bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // The export is the complete raw history: it outlives a stack deletion.
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'usage-records',
          prefix: USAGE_EXPORT_PREFIX,
          transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(iaDays) }],
          expiration: Duration.days(retentionDays),
        },
        { id: 'delivery-errors', prefix: 'errors/', expiration: Duration.days(30) },
        { id: 'athena-results', prefix: ATHENA_RESULTS_PREFIX, expiration: Duration.days(7) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Only this export\'s Firehose role writes the bucket and only Athena users with IAM permissions read it; object-level access is audited with CloudTrail data events (an account-wide choice of the operator). A separate access-log bucket per region would itself be unlogged.',
    });
    this.bucket = bucket;

    this.deliveryStream = new firehose.DeliveryStream(this, 'DeliveryStream', {
      // Reading from the stream: the stream's own encryption (aws/kinesis) protects the records;
      // Firehose refuses server-side encryption settings on a Kinesis-sourced delivery stream.
      source: new firehose.KinesisStreamSource(props.stream),
      destination: new firehose.S3Bucket(bucket, {
        dataOutputPrefix: USAGE_EXPORT_OBJECT_PREFIX,
        errorOutputPrefix: USAGE_EXPORT_ERROR_PREFIX,
        compression: firehose.Compression.GZIP,
        bufferingInterval: Duration.seconds(bufferSeconds),
        bufferingSize: Size.mebibytes(64),
        processors: [
          // gunzip the CloudWatch Logs batch, keep only its messages (skipping CONTROL_MESSAGE),
          // and end each record with a newline, so that the objects are NDJSON.
          new firehose.DecompressionProcessor(),
          new firehose.CloudWatchLogProcessor({ dataMessageExtraction: true }),
          new firehose.AppendDelimiterToRecordProcessor(),
        ],
      }),
    });

    // KDF1 asks for server-side encryption of the delivery stream, which Firehose does not accept
    // for a Kinesis Data Stream source: the source stream's encryption (aws/kinesis) applies.
    Validations.of(this.deliveryStream).acknowledge({
      id: 'AwsSolutions-KDF1',
      reason: 'The delivery stream reads from the usage Kinesis Data Stream, which is encrypted with aws/kinesis; Firehose refuses DeliveryStreamEncryptionConfiguration for a Kinesis-sourced stream, and the S3 objects are encrypted by the bucket (SSE-S3).',
    });
    // The S3 destination's role gets aws-cdk-lib's grantReadWrite on the export bucket (object
    // actions on <bucket>/* with wildcarded action names). Firehose needs PutObject, GetObject,
    // ListBucket, AbortMultipartUpload and the bucket location; the wildcards stay inside this bucket.
    for (const finding of ['Action::s3:GetObject*', 'Action::s3:GetBucket*', 'Action::s3:List*', 'Action::s3:DeleteObject*', 'Action::s3:Abort*', `Resource::${nagResourceText(this, `${bucket.bucketArn}/*`)}`]) {
      Validations.of(this.deliveryStream).acknowledge({
        id: `AwsSolutions-IAM5[${finding}]`,
        reason: 'The Firehose S3 destination role is granted read/write on the export bucket by aws-cdk-lib (the L2 offers no narrower grant): wildcards over this one bucket\'s objects only; Firehose itself only writes objects (and lists and aborts multipart uploads) under usage/ and errors/.',
      });
    }

    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: { name: databaseName, description: 'PlexMCP analytics: raw usage records exported by Firehose' },
    });
    const location = `s3://${bucket.bucketName}/${USAGE_EXPORT_PREFIX}`;
    this.table = new glue.CfnTable(this, 'Table', {
      catalogId: stack.account,
      databaseName,
      tableInput: {
        name: USAGE_TABLE_NAME,
        description: 'One row per gateway request (lambda/core/gateway/usage.ts UsageRecord); never request or response content',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          compressionType: 'gzip',
          // Partition projection: Athena computes the dt partitions from the range; no crawler,
          // no MSCK REPAIR, no partition API calls.
          'projection.enabled': 'true',
          [`projection.${USAGE_PARTITION_COLUMN}.type`]: 'date',
          [`projection.${USAGE_PARTITION_COLUMN}.format`]: 'yyyy-MM-dd',
          [`projection.${USAGE_PARTITION_COLUMN}.range`]: '2026-01-01,NOW',
          [`projection.${USAGE_PARTITION_COLUMN}.interval`]: '1',
          [`projection.${USAGE_PARTITION_COLUMN}.interval.unit`]: 'DAYS',
          'storage.location.template': `${location}${USAGE_PARTITION_COLUMN}=\${${USAGE_PARTITION_COLUMN}}/`,
        },
        partitionKeys: [{ name: USAGE_PARTITION_COLUMN, type: 'string', comment: 'UTC day the record reached Firehose, yyyy-MM-dd' }],
        storageDescriptor: {
          location,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          compressed: true,
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            // A line that is not JSON (none is expected) reads as a row of nulls, not a failed query.
            parameters: { 'ignore.malformed.json': 'true' },
          },
          columns: Object.entries(USAGE_RECORD_COLUMN_TYPES).map(([field, type]) => ({ name: field.toLowerCase(), type })),
        },
      },
    });
    this.table.addResourceDependency(this.database);

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: databaseName,
      description: 'PlexMCP analytics: queries of the raw usage records; results encrypted in the export bucket',
      state: 'ENABLED',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        resultConfiguration: {
          outputLocation: `s3://${bucket.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });
  }
}
