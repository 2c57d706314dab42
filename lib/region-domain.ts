import { Duration, Stack, Token } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as route53Targets from 'aws-cdk-lib/aws-route53-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { ADMIN_API_BASE_PATH } from './admin-api';
import { GATEWAY_BASE_PATH, HEALTHZ_PATH } from './mcp-gateway';

/**
 * Route 53 publishes health check metrics (`AWS/Route53` `HealthCheckStatus`) in US East
 * (N. Virginia) only, and a CloudWatch alarm can only watch metrics of its own region: an alarm
 * on a health check works in this region, whichever region the checked endpoint is in.
 */
export const ROUTE53_METRICS_REGION = 'us-east-1';

/** Default interval between two checks by each Route 53 health checker. */
export const DEFAULT_HEALTH_CHECK_INTERVAL = Duration.seconds(30);

/** Default number of consecutive failed (or passed) checks that change a region's status. */
export const DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD = 3;

/** A Route 53 public hosted zone, by its attributes. */
export interface RegionDomainHostedZone {
  /** The zone's ID, e.g. `Z0123456789ABCDEFGHIJ`. */
  readonly hostedZoneId: string;
  /** The zone's name, e.g. `example.com`: the domain name itself or one of its parents. */
  readonly zoneName: string;
}

/** The Route 53 health check of a region. */
export interface RegionHealthCheckOptions {
  /**
   * Interval between two checks by each Route 53 health checker: 10 or 30 seconds (fast
   * checks cost more). About 16 checkers in several regions check independently, so the
   * endpoint sees a request every 2 seconds or so at 30 s.
   *
   * @default Duration.seconds(30)
   */
  readonly requestInterval?: Duration;

  /**
   * Consecutive failed checks (1-10) after which a checker considers the region unhealthy, and
   * passed checks after which it is healthy again. Route 53 takes the region out of the latency
   * record when fewer than 18 % of the checkers see it healthy.
   *
   * @default 3
   */
  readonly failureThreshold?: number;
}

/** The options of {@link RegionDomain} that a deployment chooses (see `PlexMcpStackProps.domain`). */
export interface RegionDomainOptions {
  /**
   * The one name of the deployment, e.g. `mcp.example.com`, lowercase. Agents use
   * `https://<domainName>/mcp/{slug}`; each region is also reachable as
   * `https://<region>.<domainName>` (what its health check calls).
   */
  readonly domainName: string;

  /**
   * The public hosted zone of `domainName`. With it, the certificate is validated by DNS records
   * in this zone (unless `certificateArn` is given), and the stack creates the records: the
   * region's own alias `<region>.<domainName>`, the health check and the latency alias
   * `<domainName>`.
   *
   * @default - no DNS records and no health check: the operator points the names at the
   * regional domains (`regionalDomain.domainNameAliasDomainName`) elsewhere; `certificateArn`
   * is then required
   */
  readonly hostedZone?: RegionDomainHostedZone;

  /**
   * ARN of an existing ACM certificate in this stack's region that covers both `domainName`
   * and `<region>.<domainName>` (a wildcard `*.<domainName>` covers the second).
   *
   * @default - a new certificate, validated by DNS in `hostedZone`
   */
  readonly certificateArn?: string;

  /**
   * The Route 53 health check on `https://<region>.<domainName>/healthz` (with `hostedZone`).
   *
   * @default - a check every 30 s, 3 failures
   */
  readonly healthCheck?: RegionHealthCheckOptions;
}

/** Properties for {@link RegionDomain}. */
export interface RegionDomainProps extends RegionDomainOptions {
  /**
   * The REST API whose deployment stage both names map to, at the root: its `/mcp/{slug}`,
   * `/admin/v1/...` and `/healthz` resources keep their paths under the custom domain.
   */
  readonly api: apigateway.IRestApi;

  /**
   * The topic that the health check alarm notifies (ALARM and OK), usually the health monitor's
   * operator alarm topic. The alarm is created here only when this stack is in us-east-1, the
   * one region where Route 53's metrics exist; elsewhere use {@link RegionDomain.addHealthCheckAlarm}
   * in a us-east-1 stack (buildPlexMcpApp does).
   *
   * @default - no alarm
   */
  readonly operatorAlarmTopic?: sns.ITopic;
}

// Lowercase DNS names with at least two labels (API Gateway refuses uppercase domain names).
const DOMAIN_NAME_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The custom domain of PlexMCP in one region: an ACM certificate for `<domain>` and
 * `<region>.<domain>`, two regional API Gateway domain names with the TLS 1.3 security policy
 * (`SecurityPolicy_TLS13_1_3_2025_09`, strict endpoint access), each mapped at its root to the
 * API's deployment stage, and, with a hosted zone, the Route 53 records that send every agent to
 * the nearest healthy region:
 *
 * - `<region>.<domain>`: a simple alias to this region's regional domain, so that a health check
 *   (and an operator) reaches this region and no other;
 * - a health check: HTTPS on `<region>.<domain>:443/healthz` (the gateway's deep check: 200 when
 *   the region can serve, 503 otherwise);
 * - `<domain>`: a latency alias record (set identifier and Route 53 region = this region) tied to
 *   that health check. Evaluate Target Health is off: on an API Gateway alias it only notices
 *   API Gateway itself failing in the region, never a broken backend, which the health check does.
 *
 * Root mappings, not `/mcp` and `/admin` mappings: API Gateway strips a mapping's base path
 * before it matches resources, so a `mcp` mapping would deliver `/mcp/x` as `/x`; the API's
 * resources already begin with `/mcp`, `/admin` and `/healthz`, which one root mapping keeps.
 *
 * The default `execute-api` endpoint must be disabled on the API (`PlexApiProps.disableExecuteApiEndpoint`),
 * or clients could bypass the TLS 1.3 policy through it.
 */
export class RegionDomain extends Construct {
  /**
   * Alarms on `HealthCheckStatus` of a region's health check, to be created in a us-east-1
   * stack (Route 53's metrics exist there only): ALARM when the minimum status of a minute is
   * below 1 (Route 53 considers the region unhealthy), ALARM and OK actions to `topic`.
   */
  public static addHealthCheckAlarm(scope: Construct, id: string, options: { readonly healthCheck: route53.IHealthCheck; readonly region: string; readonly domainName: string; readonly topic?: sns.ITopic }): cloudwatch.Alarm {
    const stack = Stack.of(scope);
    if (!Token.isUnresolved(stack.region) && stack.region !== ROUTE53_METRICS_REGION) {
      throw new Error(`RegionDomain.addHealthCheckAlarm: Route 53 publishes health check metrics in ${ROUTE53_METRICS_REGION} only; ${stack.stackName} is in ${stack.region}.`);
    }
    const alarm = new cloudwatch.Alarm(scope, id, {
      alarmDescription: `PlexMCP region ${options.region} is unhealthy: the Route 53 health check on https://${options.region}.${options.domainName}${HEALTHZ_PATH} fails, and ${options.domainName} no longer sends agents there. GET that URL: a 503 names the failing components (registry, counters, sessionKey, credentialsKey, startup).`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Route53',
        metricName: 'HealthCheckStatus',
        dimensionsMap: { HealthCheckId: options.healthCheck.healthCheckId },
        statistic: cloudwatch.Stats.MINIMUM,
        period: Duration.minutes(1),
      }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // Route 53 reports every minute while the check exists; a gap (a new check) is no verdict.
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    if (options.topic !== undefined) {
      const action = new cloudwatchActions.SnsAction(options.topic);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    return alarm;
  }

  /** The deployment's one name, e.g. `mcp.example.com`. */
  public readonly domainName: string;

  /** This region's own name, `<region>.<domainName>`. */
  public readonly regionalDomainName: string;

  /** The certificate of both names (created or imported). */
  public readonly certificate: acm.ICertificate;

  /** The API Gateway domain of `<domainName>` in this region (the latency record's target). */
  public readonly domain: apigateway.DomainName;

  /** The API Gateway domain of `<region>.<domainName>` (the health check's target). */
  public readonly regionalDomain: apigateway.DomainName;

  /** The health check on `https://<region>.<domainName>/healthz` (with a hosted zone). */
  public readonly healthCheck?: route53.HealthCheck;

  /** The latency alias record of `<domainName>` for this region (with a hosted zone). */
  public readonly latencyRecord?: route53.ARecord;

  /** The alarm on the health check, when this stack is in us-east-1 and has a topic. */
  public readonly healthCheckAlarm?: cloudwatch.Alarm;

  /** The agents' URL of an MCP server, with `{slug}` for its slug: `https://<domainName>/mcp/{slug}`. */
  public readonly agentUrl: string;

  /** Base URL of the admin API under the one name: `https://<domainName>/admin/v1`. */
  public readonly adminUrl: string;

  /** Base URL of the gateway in this region only: `https://<region>.<domainName>/mcp/`. */
  public readonly regionalGatewayUrl: string;

  /** Base URL of the admin API in this region only: `https://<region>.<domainName>/admin/v1`. */
  public readonly regionalAdminUrl: string;

  constructor(scope: Construct, id: string, props: RegionDomainProps) {
    super(scope, id);
    const region = Stack.of(this).region;
    if (Token.isUnresolved(region)) {
      throw new Error('RegionDomain: the stack needs a concrete env.region (the regional name and the latency record are per region).');
    }
    const domainName = props.domainName;
    if (!DOMAIN_NAME_PATTERN.test(domainName)) {
      throw new Error(`RegionDomain: domainName must be a lowercase DNS name such as mcp.example.com, got ${JSON.stringify(domainName)}.`);
    }
    const zoneAttrs = props.hostedZone;
    if (zoneAttrs !== undefined && zoneAttrs.zoneName !== domainName && !domainName.endsWith(`.${zoneAttrs.zoneName}`)) {
      throw new Error(`RegionDomain: ${domainName} is not in the hosted zone ${zoneAttrs.zoneName}.`);
    }
    if (zoneAttrs === undefined && props.certificateArn === undefined) {
      throw new Error('RegionDomain: give a hostedZone (to validate a new certificate by DNS) or a certificateArn.');
    }
    if (zoneAttrs === undefined && props.healthCheck !== undefined) {
      throw new Error('RegionDomain: healthCheck needs a hostedZone (the health check and latency records live there).');
    }
    const interval = props.healthCheck?.requestInterval ?? DEFAULT_HEALTH_CHECK_INTERVAL;
    if (!Token.isUnresolved(interval.toSeconds()) && ![10, 30].includes(interval.toSeconds())) {
      throw new Error(`RegionDomain: healthCheck.requestInterval must be 10 or 30 seconds, got ${interval.toSeconds()} s.`);
    }
    const failureThreshold = props.healthCheck?.failureThreshold ?? DEFAULT_HEALTH_CHECK_FAILURE_THRESHOLD;
    if (!Token.isUnresolved(failureThreshold) && (!Number.isInteger(failureThreshold) || failureThreshold < 1 || failureThreshold > 10)) {
      throw new Error(`RegionDomain: healthCheck.failureThreshold must be a whole number from 1 to 10, got ${failureThreshold}.`);
    }

    this.domainName = domainName;
    this.regionalDomainName = `${region}.${domainName}`;
    const zone = zoneAttrs === undefined ? undefined : route53.PublicHostedZone.fromHostedZoneAttributes(this, 'Zone', zoneAttrs);

    this.certificate =
      props.certificateArn !== undefined
        ? acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn)
        : new acm.Certificate(this, 'Certificate', {
            domainName,
            subjectAlternativeNames: [this.regionalDomainName],
            // CloudFormation writes the validation CNAMEs into the zone. ACM derives them from the
            // name and the account, so every region's certificate shares them.
            validation: acm.CertificateValidation.fromDns(zone),
          });

    const domainOptions = {
      certificate: this.certificate,
      endpointType: apigateway.EndpointType.REGIONAL,
      securityPolicy: apigateway.SecurityPolicy.TLS13_1_3_2025_09,
      // The enhanced policies need an access mode; STRICT refuses connections whose TLS
      // handshake does not match the policy (BASIC is for migrations).
      endpointAccessMode: apigateway.EndpointAccessMode.STRICT,
    };
    this.domain = new apigateway.DomainName(this, 'Domain', { ...domainOptions, domainName });
    this.regionalDomain = new apigateway.DomainName(this, 'RegionalDomain', { ...domainOptions, domainName: this.regionalDomainName });
    for (const d of [this.domain, this.regionalDomain]) {
      // No basePath: the root mapping (see the class comment).
      d.addBasePathMapping(props.api, { stage: props.api.deploymentStage });
    }

    if (zone !== undefined) {
      new route53.ARecord(this, 'RegionalRecord', {
        zone,
        recordName: `${this.regionalDomainName}.`,
        target: route53.RecordTarget.fromAlias(new route53Targets.ApiGatewayDomain(this.regionalDomain)),
        comment: `PlexMCP: region ${region} only (health checks, operators)`,
      });
      this.healthCheck = new route53.HealthCheck(this, 'HealthCheck', {
        type: route53.HealthCheckType.HTTPS,
        fqdn: this.regionalDomainName,
        port: 443,
        resourcePath: HEALTHZ_PATH,
        requestInterval: interval,
        failureThreshold,
        // SNI: API Gateway picks the custom domain (and its TLS 1.3 policy) by the server name.
        enableSNI: true,
      });
      this.latencyRecord = new route53.ARecord(this, 'LatencyRecord', {
        zone,
        recordName: `${domainName}.`,
        target: route53.RecordTarget.fromAlias(new WithoutTargetHealth(new route53Targets.ApiGatewayDomain(this.domain))),
        region,
        setIdentifier: region,
        healthCheck: this.healthCheck,
        comment: `PlexMCP: latency record of ${region}, dropped while its health check fails`,
      });
      if (region === ROUTE53_METRICS_REGION && props.operatorAlarmTopic !== undefined) {
        this.healthCheckAlarm = RegionDomain.addHealthCheckAlarm(this, 'HealthCheckAlarm', { healthCheck: this.healthCheck, region, domainName, topic: props.operatorAlarmTopic });
      }
    }

    this.agentUrl = `https://${domainName}/${GATEWAY_BASE_PATH}/{slug}`;
    this.adminUrl = `https://${domainName}/${ADMIN_API_BASE_PATH}`;
    this.regionalGatewayUrl = `https://${this.regionalDomainName}/${GATEWAY_BASE_PATH}/`;
    this.regionalAdminUrl = `https://${this.regionalDomainName}/${ADMIN_API_BASE_PATH}`;
  }
}

/**
 * An alias target with Evaluate Target Health explicitly off. AWS's failover guidance: on an
 * API Gateway alias it only reflects API Gateway's own availability in the region; the
 * record's health check on `/healthz` decides instead.
 */
class WithoutTargetHealth implements route53.IAliasRecordTarget {
  constructor(private readonly target: route53.IAliasRecordTarget) {}

  public bind(record: route53.IRecordSet, zone?: route53.IHostedZone): route53.AliasRecordTargetConfig {
    return { ...this.target.bind(record, zone), evaluateTargetHealth: false };
  }
}
