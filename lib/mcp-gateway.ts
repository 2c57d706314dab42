import * as path from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PlexFunction, PROJECT_ROOT } from './lambda-defaults';
import { nagResourceText } from './private/nag';

/** Path of the gateway routes below the stage URL: `mcp/{slug}`. */
export const GATEWAY_BASE_PATH = 'mcp';

/**
 * The longest a streamed response may last: API Gateway ends a REST response stream after
 * 15 minutes, and the integration timeout of a streaming integration may be set up to that
 * (buffered integrations stop at 29 seconds). A stream idle for 5 minutes is closed earlier on
 * regional endpoints. The gateway function gets the same timeout (Lambda's maximum), so neither
 * side gives up before the other.
 */
export const STREAMING_TIMEOUT = Duration.minutes(15);

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
   * Memory of the gateway function in MB. Argon2id verification of a key not yet in the
   * instance's cache needs 19 MiB and CPU, which Lambda allocates in proportion to memory.
   *
   * @default 1024
   */
  readonly memorySize?: number;

  /**
   * Reserved concurrency of the gateway function. Every open stream holds one concurrent
   * execution for as long as it lasts (up to 15 minutes), so concurrency, not request rate, is
   * what long-lived MCP sessions use up.
   *
   * @default - no reserved concurrency (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * Retention of the function's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The MCP gateway (data plane) in one region: `ANY /mcp/{slug}` on the region's REST API as a
 * Lambda proxy integration with response streaming (API Gateway calls the function through
 * `InvokeWithResponseStream`, so Server-Sent Events reach the agent unbuffered), in front of a
 * gateway function that authenticates the API key, authorizes, rate-limits and proxies to the
 * upstream MCP server.
 *
 * The function reads the registry and writes two kinds of items there (a key's `lastUsedAt`
 * with UpdateItem; the session-sealing key, created once with a conditional PutItem), adds to
 * the counters with UpdateItem only, and uses the credentials key for `Decrypt` (upstream
 * credentials, the wrapped session key) and `GenerateDataKey` (creating the session key).
 */
export class McpGateway extends Construct {
  /** The gateway function. */
  public readonly function: lambda.IFunction;

  /** The `ANY /mcp/{slug}` method. */
  public readonly method: apigateway.Method;

  /** Base URL of the gateway: `<stage url>mcp/`; an MCP server's URL is this plus its slug. */
  public readonly gatewayUrl: string;

  constructor(scope: Construct, id: string, props: McpGatewayProps) {
    super(scope, id);

    const fn = new PlexFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'gateway', 'handler.ts'),
      description: 'PlexMCP gateway (/mcp/{slug}, response streaming)',
      memorySize: props.memorySize ?? 1024,
      timeout: STREAMING_TIMEOUT,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environment: {
        PLEXMCP_MODE: 'aws',
        PLEXMCP_REGISTRY_TABLE: props.registryTable.tableName,
        PLEXMCP_COUNTERS_TABLE: props.countersTable.tableName,
        PLEXMCP_KMS_KEY_ID: props.credentialsKey.keyArn,
      },
    });
    this.function = fn;

    props.registryTable.grantReadData(fn);
    props.registryTable.grant(fn, 'dynamodb:UpdateItem', 'dynamodb:PutItem');
    props.countersTable.grant(fn, 'dynamodb:UpdateItem');
    props.credentialsKey.grant(fn, 'kms:Decrypt', 'kms:GenerateDataKey');
    // For a table that knows its indexes, the registry grants also cover `<table arn>/index/*`.
    // The wildcard only spans this table's own indexes.
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceText(fn, `${props.registryTable.tableArn}/index/*`)}]`,
      reason: 'The registry grants (grantReadData, grant) cover the registry table\'s own secondary indexes (<table>/index/*); no other table is reachable, and the write actions on that ARN are UpdateItem and PutItem only.',
    });

    // The body is JSON-RPC that the gateway parses and size-limits itself, and the method
    // declares no request model, so this validator enforces the `slug` path parameter; body
    // validation applies once a model is declared.
    const validator = new apigateway.RequestValidator(this, 'RequestValidator', {
      restApi: props.api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const route = props.api.root.addResource(GATEWAY_BASE_PATH).addResource('{slug}');
    this.method = route.addMethod(
      'ANY',
      new apigateway.LambdaIntegration(fn, {
        // API Gateway invokes with InvokeWithResponseStream (URI .../response-streaming-invocations)
        // and passes the function's stream on as it arrives.
        responseTransferMode: apigateway.ResponseTransferMode.STREAM,
        timeout: STREAMING_TIMEOUT,
        // No permission for the console's test-invoke: one resource policy statement less.
        allowTestInvoke: false,
      }),
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

    this.gatewayUrl = props.api.deploymentStage.urlForPath(`/${GATEWAY_BASE_PATH}/`);
  }
}
