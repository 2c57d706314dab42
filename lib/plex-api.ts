import { RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { GatewayWaf, GatewayWafOptions } from './gateway-waf';

// arn:<partition>:wafv2:<region>:<account>:regional/webacl/<name>/<id>
const REGIONAL_WEB_ACL_ARN = /^arn:[\w-]+:wafv2:[a-z0-9-]+:\d{12}:regional\/webacl\/[^/]+\/[^/]+$/;

/**
 * The web ACL in front of a {@link PlexApi}'s stage.
 */
export class ApiWebAcl {
  /**
   * A new {@link GatewayWaf} web ACL, associated with the stage.
   */
  public static gatewayWaf(options: GatewayWafOptions = {}): ApiWebAcl {
    return new ApiWebAcl({ kind: 'gatewayWaf', options });
  }

  /**
   * An existing regional WAFv2 web ACL (`arn:...:wafv2:<region>:<account>:regional/webacl/...`),
   * associated with the stage. A CloudFront (global) web ACL cannot protect a REST API stage.
   */
  public static fromWebAclArn(webAclArn: string): ApiWebAcl {
    if (!Token.isUnresolved(webAclArn) && !REGIONAL_WEB_ACL_ARN.test(webAclArn)) {
      throw new Error(`ApiWebAcl.fromWebAclArn: expected the ARN of a regional WAFv2 web ACL (arn:...:wafv2:<region>:<account>:regional/webacl/<name>/<id>), got ${webAclArn}.`);
    }
    return new ApiWebAcl({ kind: 'arn', webAclArn });
  }

  /**
   * No web ACL association from this construct: there is no WAF, or it is associated elsewhere.
   * `reason` says why; it becomes the acknowledgement of cdk-nag's AwsSolutions-APIG3 finding.
   */
  public static none(reason: string): ApiWebAcl {
    if (reason.trim() === '') {
      throw new Error('ApiWebAcl.none: give the reason why the stage has no web ACL; it is recorded as the cdk-nag acknowledgement.');
    }
    return new ApiWebAcl({ kind: 'none', reason });
  }

  private constructor(
    private readonly config:
      | { readonly kind: 'gatewayWaf'; readonly options: GatewayWafOptions }
      | { readonly kind: 'arn'; readonly webAclArn: string }
      | { readonly kind: 'none'; readonly reason: string },
  ) {}

  /** @internal Associates the web ACL with `stage`; returns what was created. */
  public _bind(scope: Construct, stage: apigateway.Stage): { readonly webAclArn?: string; readonly gatewayWaf?: GatewayWaf } {
    switch (this.config.kind) {
      case 'gatewayWaf': {
        const gatewayWaf = new GatewayWaf(scope, 'Waf', { ...this.config.options, stage });
        return { webAclArn: gatewayWaf.webAclArn, gatewayWaf };
      }
      case 'arn':
        new wafv2.CfnWebACLAssociation(scope, 'WebAclAssociation', { resourceArn: stage.stageArn, webAclArn: this.config.webAclArn });
        return { webAclArn: this.config.webAclArn };
      case 'none':
        Validations.of(stage).acknowledge({ id: 'AwsSolutions-APIG3', reason: this.config.reason });
        return {};
    }
  }
}

/**
 * Properties for {@link PlexApi}.
 */
export interface PlexApiProps {
  /**
   * Name of the API Gateway stage: the first path segment of the API's URL.
   *
   * @default 'prod'
   */
  readonly stageName?: string;

  /**
   * Steady-state request rate limit of every method, in requests per second, unless a route
   * sets its own (the admin API does). A cost cap for the whole API; each API key's plan limit is
   * enforced by the gateway, each client IP's by the web ACL. API Gateway also applies the
   * account's regional limit (10,000 requests per second by default) across all APIs.
   *
   * @default 1000
   */
  readonly throttlingRateLimit?: number;

  /**
   * Burst limit of every method, in requests, unless a route sets its own.
   *
   * @default 2000
   */
  readonly throttlingBurstLimit?: number;

  /**
   * Retention of the access logs.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * Whether to create the account-level role through which API Gateway writes execution and
   * access logs to CloudWatch (`AWS::ApiGateway::Account`). There is one such setting per
   * account and region: set false where another stack already manages it.
   *
   * @default true
   */
  readonly cloudWatchRole?: boolean;

  /**
   * The WAF web ACL of the stage.
   *
   * @default ApiWebAcl.gatewayWaf() - a new {@link GatewayWaf} with its defaults
   */
  readonly webAcl?: ApiWebAcl;

  /**
   * Whether to turn off the default `https://<id>.execute-api.<region>.amazonaws.com` endpoint.
   * Set it when the API is served through a custom domain ({@link RegionDomain}): the custom
   * domain's TLS 1.3 policy protects only the custom domain, and the default endpoint (TLS 1.2)
   * would otherwise remain a way around it. {@link url} then no longer answers.
   *
   * @default false
   */
  readonly disableExecuteApiEndpoint?: boolean;
}

/**
 * PlexMCP's REST API in one region, shared by the admin API (`/admin/...`) and the MCP gateway
 * (`/mcp/{slug}`), which add their routes to {@link api}: regional endpoint (response streaming
 * needs REST; a web ACL needs a REST stage), one stage with X-Ray tracing, JSON access logs,
 * ERROR-level execution logs without bodies, stage-wide throttling, and a WAF web ACL.
 */
export class PlexApi extends Construct {
  /** The REST API; routes are added to it. */
  public readonly api: apigateway.RestApi;

  /** The stage that every deployment of the API goes to. */
  public readonly stage: apigateway.Stage;

  /** The access log group of the stage. */
  public readonly accessLogs: logs.ILogGroup;

  /** The web ACL created for the stage, when {@link PlexApiProps.webAcl} asked for one. */
  public readonly gatewayWaf?: GatewayWaf;

  /** ARN of the web ACL associated with the stage, if any. */
  public readonly webAclArn?: string;

  /** The stage's base URL, ending in `/` (not served when the default endpoint is disabled). */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: PlexApiProps = {}) {
    super(scope, id);

    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;
    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const cloudWatchRole = props.cloudWatchRole ?? true;
    this.api = new apigateway.RestApi(this, 'Api', {
      description: 'PlexMCP REST API: admin API and MCP gateway',
      endpointTypes: [apigateway.EndpointType.REGIONAL],
      cloudWatchRole,
      // Retained: the role is an account-wide setting that other APIs in the region rely on.
      cloudWatchRoleRemovalPolicy: cloudWatchRole ? RemovalPolicy.RETAIN : undefined,
      failOnWarnings: true,
      disableExecuteApiEndpoint: props.disableExecuteApiEndpoint,
      deployOptions: {
        stageName: props.stageName ?? 'prod',
        tracingEnabled: true,
        metricsEnabled: true,
        // Execution logs at ERROR only, and never request/response bodies: bodies carry API
        // keys, upstream credentials and tool arguments.
        loggingLevel: apigateway.MethodLoggingLevel.ERROR,
        dataTraceEnabled: false,
        throttlingRateLimit: props.throttlingRateLimit ?? 1000,
        throttlingBurstLimit: props.throttlingBurstLimit ?? 2000,
        accessLogDestination: new apigateway.LogGroupLogDestination(this.accessLogs),
        accessLogFormat: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: apigateway.AccessLogField.contextRequestId(),
            extendedRequestId: apigateway.AccessLogField.contextExtendedRequestId(),
            xrayTraceId: apigateway.AccessLogField.contextXrayTraceId(),
            ip: apigateway.AccessLogField.contextIdentitySourceIp(),
            userAgent: apigateway.AccessLogField.contextIdentityUserAgent(),
            requestTime: apigateway.AccessLogField.contextRequestTime(),
            httpMethod: apigateway.AccessLogField.contextHttpMethod(),
            resourcePath: apigateway.AccessLogField.contextResourcePath(),
            path: apigateway.AccessLogField.contextPath(),
            status: apigateway.AccessLogField.contextStatus(),
            protocol: apigateway.AccessLogField.contextProtocol(),
            responseLength: apigateway.AccessLogField.contextResponseLength(),
            responseLatency: apigateway.AccessLogField.contextResponseLatency(),
            integrationLatency: apigateway.AccessLogField.contextIntegrationLatency(),
            integrationStatus: apigateway.AccessLogField.contextIntegrationStatus(),
            errorResponseType: '$context.error.responseType',
            wafResponseCode: apigateway.AccessLogField.contextWafResponseCode(),
          }),
        ),
      },
    });
    this.stage = this.api.deploymentStage;
    this.url = this.api.url;

    const cloudWatchRoleConstruct = this.api.node.tryFindChild('CloudWatchRole');
    if (cloudWatchRoleConstruct !== undefined) {
      Validations.of(cloudWatchRoleConstruct).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: 'The account-level API Gateway logging role must be able to create and write any API\'s log groups; AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS documents and maintains for exactly this role.',
      });
    }

    const webAcl = (props.webAcl ?? ApiWebAcl.gatewayWaf())._bind(this, this.stage);
    this.gatewayWaf = webAcl.gatewayWaf;
    this.webAclArn = webAcl.webAclArn;
  }
}
