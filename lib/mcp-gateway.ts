import * as path from 'node:path';
import { Duration, Token, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PlexFunction, PROJECT_ROOT } from './lambda-defaults';
import { nagResourceText } from './private/nag';
import { type MethodThrottling, throttleMethod } from './private/stage';
import { RegistryGrants } from './registry-tables';

/** Path of the gateway routes below the stage URL: `mcp/{slug}`. */
export const GATEWAY_BASE_PATH = 'mcp';

/**
 * Path of the region's deep health check, `GET /healthz`, answered by the gateway function
 * (`event.resource === '/healthz'`): 200 when the region can serve, 503 naming the failing
 * components. Route 53's health checks call it.
 */
export const HEALTHZ_PATH = '/healthz';

/**
 * Default throttling of `GET /healthz`. Route 53's ~16 checkers call it about every 2 s in all
 * at the default 30 s interval (every 0.6 s at 10 s); the limit leaves room for operators and
 * monitors while an unauthenticated caller cannot make it invoke the function more than this.
 */
export const DEFAULT_HEALTHZ_THROTTLING: MethodThrottling = { rateLimit: 20, burstLimit: 40 };

/**
 * The longest a streamed response may last: API Gateway ends a REST response stream after
 * 15 minutes, and the integration timeout of a streaming integration may be set up to that
 * (buffered integrations stop at 29 seconds). A stream idle for 5 minutes is closed earlier on
 * regional endpoints. The gateway function gets the same timeout (Lambda's maximum), so neither
 * side gives up before the other.
 */
export const STREAMING_TIMEOUT = Duration.minutes(15);

/**
 * Default reserved concurrency of the gateway function. Lambda refuses a reservation that leaves
 * fewer than 100 unreserved executions in the account, so on an account with the standard quota
 * of 1,000 this leaves 900 for the admin function (which an operator needs to revoke an abuser),
 * the health monitor and everything else in the account and region. It is about 100 open
 * streams or in-flight requests per region; raise it for a busier deployment (and the account
 * quota with it).
 */
export const DEFAULT_GATEWAY_RESERVED_CONCURRENCY = 100;

/**
 * Properties for {@link McpGateway}.
 */
export interface McpGatewayProps {
  /**
   * The REST API to add the gateway route to (`ANY /mcp/{slug}`), usually a {@link PlexApi}'s.
   */
  readonly api: apigateway.IRestApi;

  /** The registry table in this region (the local replica of the global table). */
  readonly registryTable: dynamodb.ITableV2;

  /** The rate-limit and quota counters of this region (see {@link CountersTable}). */
  readonly countersTable: dynamodb.ITableV2;

  /** The KMS key in this region that envelope-encrypts upstream credentials. */
  readonly credentialsKey: kms.IKey;

  /**
   * The event bus the gateway puts `org.quota.threshold` on (80 % and 100 % of an org's monthly
   * quota, once per org, threshold and month), usually the {@link HealthMonitor}'s.
   *
   * @default - no bus: the gateway publishes no quota threshold events
   */
  readonly eventBus?: events.IEventBus;

  /**
   * Memory of the gateway function in MB. Argon2id verification of a key not yet in the
   * instance's cache needs 19 MiB and CPU, which Lambda allocates in proportion to memory.
   *
   * @default 1024
   */
  readonly memorySize?: number;

  /**
   * Reserved concurrency of the gateway function: at most this many requests and streams run at
   * once, and the rest of the account's concurrency (the admin function above all, which an
   * operator needs to revoke an abusive key) cannot be taken by the internet-facing gateway.
   * Every open stream holds one concurrent execution for as long as it lasts (up to 15 minutes),
   * so concurrency, not request rate, is what long-lived MCP sessions use up. Requests beyond it
   * are throttled by Lambda, and the {@link McpGatewayAlarms.concurrency} alarm fires.
   *
   * A whole number. `0` does not mean Lambda's "throttle everything": it means no reservation,
   * the gateway then shares the account's unreserved pool with every other function (for an
   * account whose concurrency quota is too small to reserve from), and there is no concurrency
   * alarm. To stop the gateway in an emergency, set its concurrency to 0 with
   * `aws lambda put-function-concurrency`.
   *
   * @default 100 ({@link DEFAULT_GATEWAY_RESERVED_CONCURRENCY})
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * The topic that the gateway's alarms notify (ALARM and OK), usually the health monitor's
   * {@link HealthMonitor.operatorAlarmTopic}.
   *
   * @default - the alarms are created without actions
   */
  readonly operatorAlarmTopic?: sns.ITopic;

  /**
   * Retention of the function's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Steady-state rate limit of `GET /healthz` in requests per second (its own method setting on
   * the stage: the route is unauthenticated, so this bounds what anyone can spend through it).
   *
   * @default 20
   */
  readonly healthzThrottlingRateLimit?: number;

  /**
   * Burst limit of `GET /healthz`, in requests.
   *
   * @default 40
   */
  readonly healthzThrottlingBurstLimit?: number;
}

/** The CloudWatch alarms of an {@link McpGateway}. */
export interface McpGatewayAlarms {
  /**
   * The function reached its reserved concurrency (maximum `ConcurrentExecutions` in a minute at
   * least the reservation): new requests are being, or are about to be, throttled. Undefined
   * without a reservation.
   */
  readonly concurrency?: cloudwatch.IAlarm;
}

/**
 * The MCP gateway (data plane) in one region: `ANY /mcp/{slug}` (and the deep health check
 * `GET /healthz`, unauthenticated and throttled on its own) on the region's REST API as a
 * Lambda proxy integration with response streaming (API Gateway calls the function through
 * `InvokeWithResponseStream`, so Server-Sent Events reach the agent unbuffered), in front of a
 * gateway function that authenticates the API key, authorizes, rate-limits and proxies to the
 * upstream MCP server.
 *
 * The function reads the registry and may write two kinds of items there, each limited by
 * `dynamodb:LeadingKeys` (see {@link RegistryGrants}): a key's `lastUsedAt` (UpdateItem on
 * `KEY#*`, that attribute only) and the session-sealing key (PutItem on
 * `CONFIG#session-sealing-key`, created once). It reads and writes single items of its
 * regional counters table (GetItem, PutItem, UpdateItem, DeleteItem: rate windows, quotas and
 * leases that only the gateway uses), and uses the credentials key for `Decrypt` (upstream
 * credentials, the wrapped session key) and `GenerateDataKey` (creating the session key).
 * Given {@link McpGatewayProps.eventBus}, it may put events on that bus (quota thresholds).
 */
export class McpGateway extends Construct {
  /** The gateway function. */
  public readonly function: lambda.IFunction;

  /** The `ANY /mcp/{slug}` method. */
  public readonly method: apigateway.Method;

  /** The `GET /healthz` method (unauthenticated, throttled on its own). */
  public readonly healthzMethod: apigateway.Method;

  /** Base URL of the gateway: `<stage url>mcp/`; an MCP server's URL is this plus its slug. */
  public readonly gatewayUrl: string;

  /** The function's reserved concurrency; undefined when it has none (the prop was 0). */
  public readonly reservedConcurrentExecutions?: number;

  /** The gateway's alarms, notifying {@link McpGatewayProps.operatorAlarmTopic} when given. */
  public readonly alarms: McpGatewayAlarms;

  constructor(scope: Construct, id: string, props: McpGatewayProps) {
    super(scope, id);

    const requested = props.reservedConcurrentExecutions ?? DEFAULT_GATEWAY_RESERVED_CONCURRENCY;
    if (!Token.isUnresolved(requested) && (!Number.isInteger(requested) || requested < 0)) {
      throw new Error(
        `McpGateway: reservedConcurrentExecutions must be a whole number of at least 1 (or 0 for no reservation), got ${requested}.`,
      );
    }
    const reserved = requested === 0 ? undefined : requested;
    this.reservedConcurrentExecutions = reserved;

    const fn = new PlexFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'gateway', 'handler.ts'),
      description: 'PlexMCP gateway (/mcp/{slug}, response streaming)',
      memorySize: props.memorySize ?? 1024,
      timeout: STREAMING_TIMEOUT,
      reservedConcurrentExecutions: reserved,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environment: {
        PLEXMCP_MODE: 'aws',
        PLEXMCP_REGISTRY_TABLE: props.registryTable.tableName,
        PLEXMCP_COUNTERS_TABLE: props.countersTable.tableName,
        PLEXMCP_KMS_KEY_ID: props.credentialsKey.keyArn,
        ...(props.eventBus ? { PLEXMCP_EVENT_BUS_NAME: props.eventBus.eventBusName } : {}),
      },
    });
    this.function = fn;
    // Quota thresholds, put from the quota flushes (never on a request): PutEvents on this bus only.
    props.eventBus?.grantPutEventsTo(fn);

    // The internet-facing function writes only what it must in the registry: a key's lastUsedAt
    // and the session key item. It cannot create, change or delete organisations, MCP servers,
    // keys (their scopes, limits, revocation) or health items.
    const registry = RegistryGrants.of(props.registryTable);
    registry.readData(fn);
    registry.keyUsageWrites(fn);
    registry.sessionKeyCreation(fn);
    // The counters table is regional and used by the gateway alone: single-item reads and writes
    // of any counter (rate windows and quotas with UpdateItem; leases put and deleted), no
    // Scan, no batch writes.
    props.countersTable.grant(fn, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
    props.credentialsKey.grant(fn, 'kms:Decrypt', 'kms:GenerateDataKey');
    // For a table that knows its indexes, grantReadData also covers `<table arn>/index/*`. The
    // wildcard only spans this table's own indexes, for reads; no write reaches an index ARN.
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceText(fn, `${props.registryTable.tableArn}/index/*`)}]`,
      reason: 'grantReadData on the registry covers the registry table\'s own secondary indexes (<table>/index/*) for reads only; no other table is reachable, and every registry write is granted on the base table ARN with dynamodb:LeadingKeys conditions.',
    });

    // Reaching the reservation is the moment to act: every further request is throttled until
    // executions end, and the streams holding them may last 15 minutes. ConcurrentExecutions
    // (maximum per minute) measures exactly that state, for this function alone, whether or not
    // a request has been refused yet; Throttles would only count refusals, and would also count
    // burst-scaling throttles that have nothing to do with the reservation.
    let concurrencyAlarm: cloudwatch.Alarm | undefined;
    if (reserved !== undefined) {
      concurrencyAlarm = new cloudwatch.Alarm(this, 'ConcurrencyAlarm', {
        alarmDescription: `PlexMCP gateway: the function reached its reserved concurrency (${Token.isUnresolved(reserved) ? 'reservedConcurrentExecutions' : reserved}); further requests are throttled. Find the keys holding streams in the usage logs and revoke them through the admin API, or raise reservedConcurrentExecutions.`,
        metric: fn.metric('ConcurrentExecutions', { period: Duration.minutes(1), statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: reserved,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // No invocations in a minute emit no data point: that is not a breach.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      if (props.operatorAlarmTopic !== undefined) {
        const action = new cloudwatchActions.SnsAction(props.operatorAlarmTopic);
        concurrencyAlarm.addAlarmAction(action);
        concurrencyAlarm.addOkAction(action);
      }
    }
    this.alarms = { concurrency: concurrencyAlarm };

    // The body is JSON-RPC that the gateway parses and size-limits itself, and the method
    // declares no request model, so this validator enforces the `slug` path parameter; body
    // validation applies once a model is declared.
    const validator = new apigateway.RequestValidator(this, 'RequestValidator', {
      restApi: props.api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const streaming = () =>
      new apigateway.LambdaIntegration(fn, {
        // API Gateway invokes with InvokeWithResponseStream (URI .../response-streaming-invocations)
        // and passes the function's stream on as it arrives.
        responseTransferMode: apigateway.ResponseTransferMode.STREAM,
        timeout: STREAMING_TIMEOUT,
        // No permission for the console's test-invoke: one resource policy statement less.
        allowTestInvoke: false,
      });
    const route = props.api.root.addResource(GATEWAY_BASE_PATH).addResource('{slug}');
    this.method = route.addMethod(
      'ANY',
      streaming(),
      {
        requestValidator: validator,
        requestParameters: { 'method.request.path.slug': true },
      },
    );

    // Authentication is the function's job: the API key (Authorization: Bearer) is verified with
    // Argon2id against the registry and cached; an authorizer would repeat that check.
    for (const nagId of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
      Validations.of(route).acknowledge({
        id: nagId,
        reason: 'The gateway function authenticates every request with the API key (Authorization: Bearer) checked with Argon2id against the registry, then authorizes it against the key\'s organisation, scopes and tool policy. There are no Cognito users; an API Gateway authorizer would duplicate that check with an extra Lambda call.',
      });
    }

    // The region's deep health check, for Route 53 (which cannot authenticate) and operators. The
    // same function and streaming integration as /mcp/{slug}: the handler tells the two apart by
    // event.resource, so the check exercises the very runtime agents use. The stage's web ACL
    // covers it like every route; its own throttle bounds the invocations anyone can cause.
    const healthz = props.api.root.addResource(HEALTHZ_PATH.slice(1));
    this.healthzMethod = healthz.addMethod('GET', streaming());
    throttleMethod(
      this.healthzMethod,
      {
        rateLimit: props.healthzThrottlingRateLimit ?? DEFAULT_HEALTHZ_THROTTLING.rateLimit,
        burstLimit: props.healthzThrottlingBurstLimit ?? DEFAULT_HEALTHZ_THROTTLING.burstLimit,
      },
      'McpGateway',
    );
    for (const nagId of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
      Validations.of(healthz).acknowledge({
        id: nagId,
        reason: 'GET /healthz is unauthenticated by design: Route 53 health checkers cannot send credentials. It answers only 200/503 with the region and the names of failing components (never details), is cached 5 s in the function, throttled on its own method setting and behind the stage\'s web ACL.',
      });
    }

    this.gatewayUrl = props.api.deploymentStage.urlForPath(`/${GATEWAY_BASE_PATH}/`);
  }
}
