import * as path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { ICommandHooks } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { REGISTRY_TABLE } from '../lambda/core/registry-table';
import { PlexFunction, PROJECT_ROOT } from './lambda-defaults';
import { nagResourceText } from './private/nag';
import { throttleMethod } from './private/stage';

/** Base path of the admin API's versioned routes, below the stage URL. */
export const ADMIN_API_BASE_PATH = 'admin/v1';

/**
 * Properties for {@link AdminApi}.
 */
export interface AdminApiProps {
  /** The registry table in this region (the local replica of the global table). */
  readonly registryTable: dynamodb.ITableV2;

  /** The KMS key in this region that envelope-encrypts upstream credentials. */
  readonly credentialsKey: kms.IKey;

  /**
   * The operator's bearer token for organisation and plan management. The operator reads it
   * after deploy with `aws secretsmanager get-secret-value --secret-id <arn>`.
   *
   * @default - a new secret holding a generated 48-character alphanumeric token
   */
  readonly operatorSecret?: secretsmanager.ISecret;

  /**
   * The REST API to add the admin routes to (`/admin/{proxy+}`), usually a {@link PlexApi}'s.
   * Its deployment stage must be defined in this app: the admin routes get their own throttling
   * there.
   */
  readonly api: apigateway.IRestApi;

  /**
   * The topic that the health monitor publishes per-organisation alerts to (see
   * {@link HealthMonitor.orgAlertsTopic}). When given, the admin function manages organisations'
   * alert subscriptions on it: it may subscribe endpoints (with a filter policy on the message
   * attribute `orgId`), read a subscription's attributes and unsubscribe, on this topic only.
   *
   * @default - no alert subscriptions: the admin API has no topic to manage
   */
  readonly orgAlertsTopic?: sns.ITopic;

  /**
   * Steady-state request rate limit of the admin routes, in requests per second. The admin API
   * is a control plane that verifies an Argon2id hash on every request; this caps what a leaked
   * or buggy client can cost, independently of the gateway's traffic on the same stage.
   *
   * @default 50
   */
  readonly throttlingRateLimit?: number;

  /**
   * Burst limit of the admin routes, in requests.
   *
   * @default 100
   */
  readonly throttlingBurstLimit?: number;

  /**
   * Serve the web console at `/console/` from the admin function (same origin as the admin API).
   *
   * @default true
   */
  readonly console?: boolean;

  /**
   * Steady-state request rate limit of the console's routes (static files), in requests per second.
   *
   * @default 20
   */
  readonly consoleThrottlingRateLimit?: number;

  /**
   * Retention of the function's logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/**
 * The admin API: the `/admin/{proxy+}` routes of a REST API (usually the region's
 * {@link PlexApi}), all going to one Lambda function, which serves the versioned admin routes
 * (`/admin/v1/...`) and their OpenAPI document. Authentication (operator token, org admin API
 * keys) happens in the function; the function gets read/write on the registry, only
 * `GenerateDataKey`/`Decrypt` on the credentials key, read on the operator secret, and, with an
 * organisation alerts topic, subscription management on that topic.
 */
export class AdminApi extends Construct {
  /** The `GET /console/{proxy+}` method, when the console is served. */
  public readonly consoleMethod?: apigateway.Method;

  /** URL of the web console: `<stage url>console/`, when it is served. */
  public readonly consoleUrl?: string;

  /** The function behind every admin route. */
  public readonly function: lambda.IFunction;

  /** The REST API that holds the admin routes. */
  public readonly api: apigateway.IRestApi;

  /** The `ANY /admin/{proxy+}` method. */
  public readonly method: apigateway.Method;

  /** The secret holding the operator token. */
  public readonly operatorSecret: secretsmanager.ISecret;

  /** URL of the versioned admin API: `<stage url>admin/v1`. */
  public readonly adminUrl: string;

  constructor(scope: Construct, id: string, props: AdminApiProps) {
    super(scope, id);

    this.api = props.api;

    this.operatorSecret =
      props.operatorSecret ??
      new secretsmanager.Secret(this, 'OperatorSecret', {
        description: 'PlexMCP operator token (Authorization: Bearer) for the admin API',
        generateSecretString: { passwordLength: 48, excludePunctuation: true },
      });
    if (props.operatorSecret === undefined) {
      Validations.of(this.operatorSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason: 'The operator token is a bearer token held by the operator (CLI config); automatic rotation would silently lock the operator out. The operator rotates it deliberately with put-secret-value and updates the CLI at the same time.',
      });
    }

    const withConsole = props.console ?? true;
    const fn = new PlexFunction(this, 'Function', {
      entry: path.join(PROJECT_ROOT, 'lambda', 'admin', 'handler.ts'),
      // The console's static files are built into the asset beside index.js, where the handler
      // reads them at cold start (a few hundred kilobytes).
      commandHooks: withConsole ? consoleBuildHooks() : undefined,
      description: 'PlexMCP admin API',
      logRetention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      environment: {
        PLEXMCP_MODE: 'aws',
        PLEXMCP_REGISTRY_TABLE: props.registryTable.tableName,
        PLEXMCP_KMS_KEY_ID: props.credentialsKey.keyArn,
        PLEXMCP_OPERATOR_SECRET_ARN: this.operatorSecret.secretArn,
        ...(props.orgAlertsTopic === undefined ? {} : { PLEXMCP_ORG_ALERTS_TOPIC_ARN: props.orgAlertsTopic.topicArn }),
      },
    });
    this.function = fn;

    props.registryTable.grantReadWriteData(fn);
    // An imported table (TableV2.fromTableName) knows no indexes, so the grant above covers the
    // base table only. Query on the list index is granted explicitly, for exactly that index.
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${props.registryTable.tableArn}/index/${REGISTRY_TABLE.listIndex.name}`],
      }),
    );
    // Envelope encryption needs exactly these two: GenerateDataKey to encrypt a credential
    // (plaintext data key + its ciphertext), Decrypt to read one back. No Encrypt, no ReEncrypt.
    props.credentialsKey.grant(fn, 'kms:GenerateDataKey', 'kms:Decrypt');
    this.operatorSecret.grantRead(fn);
    // For a table that knows its indexes, grantReadWriteData also adds `<table arn>/index/*`.
    // The wildcard only spans this table's own indexes.
    Validations.of(fn.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagResourceText(fn, `${props.registryTable.tableArn}/index/*`)}]`,
      reason: 'grantReadWriteData covers the registry table\'s own secondary indexes (<table>/index/*); the admin function queries the gsi1 list index. No other table is reachable.',
    });

    if (props.orgAlertsTopic !== undefined) {
      const topic = props.orgAlertsTopic;
      topic.grantSubscribe(fn);
      // Unsubscribe and GetSubscriptionAttributes name a subscription, whose ARN is the topic's
      // ARN followed by `:<subscription id>`: `<topic arn>:*` is every subscription of this topic
      // and nothing else.
      const subscriptions = `${topic.topicArn}:*`;
      fn.addToRolePolicy(
        new iam.PolicyStatement({
          actions: ['sns:Unsubscribe', 'sns:GetSubscriptionAttributes'],
          resources: [subscriptions],
        }),
      );
      Validations.of(fn.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagResourceText(fn, subscriptions)}]`,
        reason: 'Subscription ARNs are <topic arn>:<id>, with an id SNS chooses; <topic arn>:* covers the subscriptions of the organisation alerts topic only, for sns:Unsubscribe and sns:GetSubscriptionAttributes.',
      });
    }

    // The function validates every request against its OpenAPI schema. The method has no
    // request models, so today this validator only enforces the declared path parameter; it is
    // attached so that parameters or models declared on the method later are enforced by API
    // Gateway (before an invocation is paid for) without another change here.
    const validator = new apigateway.RequestValidator(this, 'RequestValidator', {
      restApi: props.api,
      validateRequestBody: true,
      validateRequestParameters: true,
    });
    const proxy = props.api.root.addResource('admin').addResource('{proxy+}');
    this.method = proxy.addMethod(
      'ANY',
      // No permission for the console's test-invoke: one resource policy statement less.
      new apigateway.LambdaIntegration(fn, { allowTestInvoke: false }),
      {
        requestValidator: validator,
        requestParameters: { 'method.request.path.proxy': true },
      },
    );
    throttleMethod(
      this.method,
      { rateLimit: props.throttlingRateLimit ?? 50, burstLimit: props.throttlingBurstLimit ?? 100 },
      'AdminApi',
    );

    // Authentication is the function's job (operator token, org admin API keys verified with
    // Argon2id against the registry); an API Gateway authorizer would repeat the same check.
    for (const nagId of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
      Validations.of(proxy).acknowledge({
        id: nagId,
        reason: 'Every admin route authenticates in the function: the operator bearer token from Secrets Manager or an org admin API key checked with Argon2id against the registry. There are no Cognito users; an API Gateway authorizer would duplicate that check with an extra Lambda call.',
      });
    }

    this.adminUrl = props.api.deploymentStage.urlForPath(`/${ADMIN_API_BASE_PATH}`);

    if (withConsole) {
      this.consoleMethod = this.addConsoleRoutes(props, fn);
      this.consoleUrl = props.api.deploymentStage.urlForPath('/console/');
    }
  }

  /**
   * `GET /console` (a redirect to `console/`) and `GET /console/{proxy+}` to the admin function,
   * which serves the page and its two files with the console's security headers
   * (lambda/core/console/console-app.ts). Why the function rather than S3 behind the API: one
   * origin and one set of headers (CSP, frame-ancestors) for the local server and AWS from the
   * same code, no bucket, integration role or deployment custom resource, and the files are
   * versioned with the function that serves the API they call. The files are immutable (hashed
   * names) and cached by browsers, so the function sees about one request per visit.
   */
  private addConsoleRoutes(props: AdminApiProps, fn: lambda.IFunction): apigateway.Method {
    const integration = new apigateway.LambdaIntegration(fn, { allowTestInvoke: false });
    const consoleResource = props.api.root.addResource('console');
    const rootMethod = consoleResource.addMethod('GET', integration);
    const filesMethod = consoleResource.addResource('{proxy+}').addMethod('GET', integration, { requestParameters: { 'method.request.path.proxy': true } });
    const throttling = { rateLimit: props.consoleThrottlingRateLimit ?? 20, burstLimit: 2 * (props.consoleThrottlingRateLimit ?? 20) };
    throttleMethod(rootMethod, throttling, 'AdminApi');
    throttleMethod(filesMethod, throttling, 'AdminApi');
    for (const nagId of ['AwsSolutions-APIG4', 'AwsSolutions-COG4']) {
      Validations.of(consoleResource).acknowledge({
        id: nagId,
        reason: 'The console routes serve the web console\'s static page, script and stylesheet, which hold no data and no secret; the page signs in against the admin API, whose every route authenticates in the function.',
      });
    }
    return filesMethod;
  }
}

/** Builds the web console (scripts/build-console.cjs) into the admin function's asset, as `console/`. */
function consoleBuildHooks(): ICommandHooks {
  const script = path.join(PROJECT_ROOT, 'scripts', 'build-console.cjs');
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) => [`"${process.execPath}" "${script}" "${path.join(outputDir, 'console')}"`],
  };
}
