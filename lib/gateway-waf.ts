import { ArnFormat, Duration, Names, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as wafv2 from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

/**
 * Rules of `AWSManagedRulesCommonRuleSet` that {@link GatewayWaf} sets to Count by default.
 * Each inspects the request body, which on PlexMCP's API is JSON: JSON-RPC messages whose tool
 * arguments are arbitrary user content (source code, shell commands, file paths, URLs, HTML),
 * and admin requests that the admin function validates against its schemas. Counted requests
 * still show up in the rule's metrics and sampled requests.
 */
export const COMMON_RULE_SET_COUNT_RULES: readonly string[] = [
  // Blocks bodies over 8 KB. A `tools/call` with a file or a document as an argument is larger
  // than that; the gateway enforces its own body limit, the admin function its 64 KiB limit.
  'SizeRestrictions_BODY',
  // HTML and JavaScript patterns: code, markdown and web content are normal tool arguments.
  'CrossSiteScripting_BODY',
  // Path traversal patterns (`../`, `/etc/passwd`): file paths are normal tool arguments
  // (filesystem and git servers).
  'GenericLFI_BODY',
  // URLs with IPv4 addresses: tool arguments (fetch, browser tools) and MCP endpoint URLs in
  // admin requests carry them. The admin API applies its own URL policy to endpoint URLs.
  'GenericRFI_BODY',
  // The EC2 metadata address: tool arguments can mention it (documentation, security tooling);
  // the gateway never fetches URLs from a body, and endpoint URLs on link-local addresses are
  // refused by the admin API's URL policy.
  'EC2MetaDataSSRF_BODY',
];

/**
 * Request headers that {@link GatewayWaf} redacts from its logs (WAF compares header names in
 * lower case): the API key (`Authorization: Bearer`, also the operator token on the admin API)
 * and `X-API-Key`, which clients send by habit. WAF writes `REDACTED` in their place.
 */
export const WAF_REDACTED_HEADERS: readonly string[] = ['authorization', 'x-api-key'];

/** WAF delivers to CloudWatch Logs only into log groups whose names start with this. */
export const WAF_LOG_GROUP_PREFIX = 'aws-waf-logs-';

/**
 * How {@link GatewayWaf} uses one AWS managed rule group.
 */
export interface ManagedRuleGroupOptions {
  /**
   * Whether the rule group is in the web ACL.
   *
   * @default true
   */
  readonly enabled?: boolean;

  /**
   * Rules of the group whose action is overridden to Count: they label and count matching
   * requests but no longer block them (what WAF's deprecated `ExcludedRules` did). Replaces the
   * group's default list; spread the default (e.g. {@link COMMON_RULE_SET_COUNT_RULES}) to extend it.
   *
   * @default - {@link COMMON_RULE_SET_COUNT_RULES} for the core rule set, none for the others
   */
  readonly countRules?: string[];
}

/**
 * Options of a {@link GatewayWaf}: everything but the stage it protects.
 */
export interface GatewayWafOptions {
  /**
   * `AWSManagedRulesAmazonIpReputationList`: addresses that Amazon threat intelligence has seen
   * in attacks, reconnaissance and DDoS.
   *
   * @default - enabled, no overrides
   */
  readonly ipReputationList?: ManagedRuleGroupOptions;

  /**
   * `AWSManagedRulesKnownBadInputsRuleSet`: request patterns of known exploits (Log4j, Java
   * deserialization, exploitable paths, `Host: localhost`).
   *
   * @default - enabled, no overrides
   */
  readonly knownBadInputsRuleSet?: ManagedRuleGroupOptions;

  /**
   * `AWSManagedRulesCommonRuleSet` (core rule set): OWASP-style checks of headers, URI, query
   * string, cookies and body.
   *
   * @default - enabled, the body rules of {@link COMMON_RULE_SET_COUNT_RULES} set to Count
   */
  readonly commonRuleSet?: ManagedRuleGroupOptions;

  /**
   * Requests that one client IP address may make in {@link rateLimitWindow} before WAF answers
   * it with 429 until its rate falls below the limit (10 to 2,000,000,000). This is a flood
   * guard in front of everything; each API key's plan limit is enforced by the gateway. Clients
   * behind one NAT share an address: raise the limit for such deployments.
   *
   * @default 2000
   */
  readonly rateLimit?: number;

  /**
   * The window over which {@link rateLimit} is counted: 1, 2, 5 or 10 minutes.
   *
   * @default Duration.minutes(5)
   */
  readonly rateLimitWindow?: Duration;

  /**
   * Further rules, evaluated by priority together with the built-in ones (priorities 10
   * IP reputation, 20 rate limit, 30 known bad inputs, 40 core rule set). Priorities and names
   * must be unique across all rules.
   *
   * @default - none
   */
  readonly additionalRules?: wafv2.CfnWebACL.RuleProperty[];

  /**
   * CloudWatch metric name of the web ACL (A-Z a-z 0-9 - _, up to 128 characters).
   *
   * @default - derived from the construct path, unique in the app
   */
  readonly metricName?: string;

  /**
   * Retention of the WAF log group (every request the web ACL evaluated, with the rule that
   * decided it; the {@link WAF_REDACTED_HEADERS} redacted).
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * What happens to the WAF log group when it leaves the stack. Its name is fixed (WAF needs the
   * `aws-waf-logs-` prefix), so a retained group blocks a redeployment of the same stack until
   * it is deleted by hand.
   *
   * @default RemovalPolicy.DESTROY
   */
  readonly logRemovalPolicy?: RemovalPolicy;

  /**
   * Requests blocked in 5 minutes (all rules, the rate limit's 429s included) at or above which
   * the blocked-requests alarm fires: an attack, a scanner, or a rule that started to block
   * legitimate MCP traffic. A positive whole number.
   *
   * @default 1000
   */
  readonly blockedRequestsAlarmThreshold?: number;

  /**
   * The topic of the blocked-requests alarm (ALARM and OK). The alarm exists once it has a topic:
   * this one, or the one given to {@link GatewayWaf.notify} later (PlexMcpStack creates the web
   * ACL before its operator topic).
   *
   * @default - no alarm until notify() is called
   */
  readonly alarmTopic?: sns.ITopic;
}

/**
 * Properties for {@link GatewayWaf}.
 */
export interface GatewayWafProps extends GatewayWafOptions {
  /** The REST API stage that the web ACL protects. */
  readonly stage: apigateway.IStage;
}

/** Priorities of the built-in rules; documented on {@link GatewayWafOptions.additionalRules}. */
const PRIORITY = { ipReputation: 10, rateLimit: 20, knownBadInputs: 30, commonRuleSet: 40 } as const;

const RATE_LIMIT_MIN = 10;
const RATE_LIMIT_MAX = 2_000_000_000;
const RATE_LIMIT_WINDOWS_SECONDS = [60, 120, 300, 600];
const METRIC_NAME_PATTERN = /^[\w-]{1,128}$/;

/**
 * A regional AWS WAFv2 web ACL for PlexMCP's REST API stage, associated with it: AWS managed
 * rule groups (IP reputation, known bad inputs, core rule set) tuned so that MCP traffic passes,
 * and a per-IP rate-based rule. Requests that no rule blocks are allowed. CloudWatch metrics
 * and sampled requests are on for the web ACL and every rule.
 *
 * The managed groups use AWS's default version, which AWS updates. The default rules cost about
 * 930 WCUs of the 1,500 that a web ACL gets without extra charge.
 */
export class GatewayWaf extends Construct {
  /** The web ACL. */
  public readonly webAcl: wafv2.CfnWebACL;

  /** ARN of the web ACL, to associate it with further resources. */
  public readonly webAclArn: string;

  /**
   * The web ACL's name and CloudWatch metric name (the same string: WAF's `WebACL` metric
   * dimension is read as either in AWS's tooling, so they never differ here).
   */
  public readonly webAclName: string;

  /** The log group WAF writes every evaluated request to (`aws-waf-logs-...`). */
  public readonly logGroup: logs.LogGroup;

  /** Its name (literal). */
  public readonly logGroupName: string;

  /** The WAF logging configuration (destination and redacted headers). */
  public readonly loggingConfiguration: wafv2.CfnLoggingConfiguration;

  /**
   * Blocked requests (all rules) reached {@link GatewayWafOptions.blockedRequestsAlarmThreshold}
   * in 5 minutes; created with its topic ({@link GatewayWafOptions.alarmTopic} or {@link notify}).
   */
  public get blockedRequestsAlarm(): cloudwatch.Alarm | undefined {
    return this.blockedAlarm;
  }

  private blockedAlarm?: cloudwatch.Alarm;
  private readonly blockedThreshold: number;

  constructor(scope: Construct, id: string, props: GatewayWafProps) {
    super(scope, id);

    const rateLimit = props.rateLimit ?? 2000;
    if (!Token.isUnresolved(rateLimit) && (!Number.isInteger(rateLimit) || rateLimit < RATE_LIMIT_MIN || rateLimit > RATE_LIMIT_MAX)) {
      throw new Error(`GatewayWaf: rateLimit must be an integer from ${RATE_LIMIT_MIN} to ${RATE_LIMIT_MAX}, got ${rateLimit}.`);
    }
    const windowSeconds = (props.rateLimitWindow ?? Duration.minutes(5)).toSeconds();
    if (!RATE_LIMIT_WINDOWS_SECONDS.includes(windowSeconds)) {
      throw new Error(`GatewayWaf: rateLimitWindow must be 1, 2, 5 or 10 minutes, got ${windowSeconds} seconds.`);
    }
    const metricName = props.metricName ?? Names.uniqueResourceName(this, { maxLength: 128, separator: '-' });
    if (!METRIC_NAME_PATTERN.test(metricName)) {
      throw new Error(`GatewayWaf: metricName must be 1-128 of A-Z a-z 0-9 - _, got ${JSON.stringify(metricName)}.`);
    }

    const blockedThreshold = props.blockedRequestsAlarmThreshold ?? 1000;
    if (!Number.isInteger(blockedThreshold) || blockedThreshold < 1) {
      throw new Error(`GatewayWaf: blockedRequestsAlarmThreshold must be a whole number of at least 1, got ${blockedThreshold}.`);
    }
    this.webAclName = metricName;
    this.blockedThreshold = blockedThreshold;

    const visibility = (name: string): wafv2.CfnWebACL.VisibilityConfigProperty => ({
      metricName: name,
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
    });
    const managed = (
      groupName: string,
      priority: number,
      options: ManagedRuleGroupOptions | undefined,
      defaultCountRules: readonly string[],
    ): wafv2.CfnWebACL.RuleProperty[] => {
      if (options?.enabled === false) return [];
      const countRules = options?.countRules ?? defaultCountRules;
      return [
        {
          name: groupName,
          priority,
          // The group's own rule actions apply (none: do not override them all to Count).
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: {
              vendorName: 'AWS',
              name: groupName,
              ruleActionOverrides:
                countRules.length === 0 ? undefined : countRules.map((rule) => ({ name: rule, actionToUse: { count: {} } })),
            },
          },
          visibilityConfig: visibility(groupName),
        },
      ];
    };

    const rules: wafv2.CfnWebACL.RuleProperty[] = [
      ...managed('AWSManagedRulesAmazonIpReputationList', PRIORITY.ipReputation, props.ipReputationList, []),
      {
        name: 'RateLimitPerIp',
        priority: PRIORITY.rateLimit,
        // 429 rather than WAF's default 403: MCP clients back off on 429.
        action: { block: { customResponse: { responseCode: 429 } } },
        statement: { rateBasedStatement: { aggregateKeyType: 'IP', limit: rateLimit, evaluationWindowSec: windowSeconds } },
        visibilityConfig: visibility('RateLimitPerIp'),
      },
      ...managed('AWSManagedRulesKnownBadInputsRuleSet', PRIORITY.knownBadInputs, props.knownBadInputsRuleSet, []),
      ...managed('AWSManagedRulesCommonRuleSet', PRIORITY.commonRuleSet, props.commonRuleSet, COMMON_RULE_SET_COUNT_RULES),
      ...(props.additionalRules ?? []),
    ];
    for (const [key, plural] of [['priority', 'priorities'], ['name', 'names']] as const) {
      const values = rules.map((rule) => rule[key]);
      const duplicates = values.filter((value, i) => !Token.isUnresolved(value) && values.indexOf(value) !== i);
      if (duplicates.length > 0) {
        throw new Error(`GatewayWaf: rule ${plural} must be unique; ${[...new Set(duplicates)].join(', ')} used more than once.`);
      }
    }

    this.webAcl = new wafv2.CfnWebACL(this, 'WebAcl', {
      name: metricName,
      scope: 'REGIONAL',
      description: 'PlexMCP REST API: AWS managed rules tuned for MCP traffic and a per-IP rate limit',
      defaultAction: { allow: {} },
      visibilityConfig: visibility(metricName),
      rules,
    });
    this.webAclArn = this.webAcl.attrArn;

    new wafv2.CfnWebACLAssociation(this, 'Association', {
      resourceArn: stageArnOf(props.stage),
      webAclArn: this.webAclArn,
    });

    // Logging: WAF writes one JSON record per evaluated request to CloudWatch Logs. The API key
    // travels in a header, so the headers that can carry it are redacted before WAF writes the
    // record (sampled requests in the console are not affected by redaction; they stay on, as
    // the console shows them to IAM principals of the account only).
    const logGroupName = `${WAF_LOG_GROUP_PREFIX}${Names.uniqueResourceName(this, { maxLength: 256 - WAF_LOG_GROUP_PREFIX.length, separator: '-' })}`;
    this.logGroupName = logGroupName;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    this.loggingConfiguration = new wafv2.CfnLoggingConfiguration(this, 'Logging', {
      resourceArn: this.webAclArn,
      // WAF refuses the log group's `...:*` ARN (what GetAtt Arn returns): the bare group ARN.
      logDestinationConfigs: [
        Stack.of(this).formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: logGroupName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
      redactedFields: WAF_REDACTED_HEADERS.map((name) => ({ singleHeader: { Name: name } })),
    });

    if (props.alarmTopic !== undefined) this.notify(props.alarmTopic);
  }

  /**
   * Sends the blocked-requests alarm's ALARM and OK transitions to `topic`, creating the alarm on
   * the first call. Returns the alarm.
   */
  notify(topic: sns.ITopic): cloudwatch.Alarm {
    const alarm = (this.blockedAlarm ??= new cloudwatch.Alarm(this, 'BlockedRequestsAlarm', {
      alarmDescription: `PlexMCP WAF: ${this.blockedThreshold} or more requests blocked in 5 minutes (all rules, the per-IP rate limit's 429s included): an attack or a scan, or a rule blocking legitimate MCP traffic. The WAF log group ${this.logGroupName} names the rule and the client address of each.`,
      metric: this.metric('BlockedRequests'),
      threshold: this.blockedThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // WAF emits no data point for a period without blocked requests.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }));
    const action = new cloudwatchActions.SnsAction(topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    return alarm;
  }

  /** A WAF metric of the whole web ACL (`Rule` = `ALL`), 5-minute sums by default. */
  metric(metricName: 'AllowedRequests' | 'BlockedRequests' | 'CountedRequests', props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/WAFV2',
      metricName,
      dimensionsMap: { WebACL: this.webAclName, Region: Stack.of(this).region, Rule: 'ALL' },
      statistic: cloudwatch.Stats.SUM,
      period: Duration.minutes(5),
      ...props,
    });
  }
}

/**
 * The ARN of a REST API stage (`arn:<partition>:apigateway:<region>::/restapis/<id>/stages/<name>`),
 * the resource ARN that WAF associates with; `IStage` has no such attribute of its own.
 */
export function stageArnOf(stage: apigateway.IStage): string {
  // The same formula as StageBase.stageArn, for any IStage (an imported one too).
  return Stack.of(stage).formatArn({
    arnFormat: ArnFormat.SLASH_RESOURCE_SLASH_RESOURCE_NAME,
    service: 'apigateway',
    account: '',
    resource: 'restapis',
    resourceName: `${stage.restApi.restApiId}/stages/${stage.stageName}`,
  });
}
