import { App, ArnFormat, CfnOutput, CrossStackReferences, ReferenceStrength, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { identityProviderProblem } from '../lambda/oauth/identity-provider-env';
import { type PlexMcpIdentityProvider, PlexMcpStack } from './plexmcp-stack';
import { RegionDomain, type RegionDomainHostedZone, ROUTE53_METRICS_REGION } from './region-domain';

/** Context key: the regions to deploy to, a JSON array or a comma-separated string. */
export const REGIONS_CONTEXT = 'plexmcp:regions';
/** Context key: the region whose stack owns the global tables. */
export const PRIMARY_REGION_CONTEXT = 'plexmcp:primaryRegion';

/** Context key (optional): physical name of the registry table, the same in every region. */
export const REGISTRY_TABLE_NAME_CONTEXT = 'plexmcp:registryTableName';

/**
 * Context key (optional): reserved concurrency of the gateway function in every region, a whole
 * number; 0 for no reservation (an account whose concurrency quota is too small). Default 100.
 */
export const GATEWAY_RESERVED_CONCURRENCY_CONTEXT = 'plexmcp:gatewayReservedConcurrency';

/**
 * Context key (optional): the one name of the deployment, e.g. `mcp.example.com` (lowercase).
 * Every region gets a custom domain with the TLS 1.3 policy for it and for `<region>.<name>`,
 * and its default execute-api endpoint is disabled. Needs `plexmcp:hostedZoneId` or
 * `plexmcp:certificateArns`.
 */
export const DOMAIN_NAME_CONTEXT = 'plexmcp:domainName';

/**
 * Context key (optional, with `plexmcp:domainName`): ID of the Route 53 public hosted zone of the
 * domain. With it, each region's certificate is validated by DNS in that zone and the latency
 * records with health checks are created.
 */
export const HOSTED_ZONE_ID_CONTEXT = 'plexmcp:hostedZoneId';

/**
 * Context key (optional, with `plexmcp:hostedZoneId`): name of that zone. Default: the domain
 * name's parent (`example.com` for `mcp.example.com`); set it when the zone is the domain itself
 * or a grandparent.
 */
export const HOSTED_ZONE_NAME_CONTEXT = 'plexmcp:hostedZoneName';

/**
 * Context key (optional, with `plexmcp:domainName`): existing ACM certificates, one for every
 * region, each covering the domain and `<region>.<domain>`: a JSON object `{"<region>": "<arn>"}`
 * or `<region>=<arn>,<region>=<arn>`. Without it, each region creates its own certificate
 * (which needs `plexmcp:hostedZoneId`).
 */
export const CERTIFICATE_ARNS_CONTEXT = 'plexmcp:certificateArns';

/**
 * Context key (optional): the OpenID Provider org admins may sign in with on the OAuth consent
 * page, a JSON object (in cdk.json, or as a string with -c): `issuer`, `clientId`, `orgClaim`,
 * and optionally `displayName`, `orgs`, `scopes` and `clientSecretName` (a Secrets Manager secret
 * present in every region under that name). See {@link PlexMcpIdentityProvider}.
 */
export const IDENTITY_PROVIDER_CONTEXT = 'plexmcp:identityProvider';

/** The custom domain read from context. */
export interface PlexMcpDomainConfig {
  /** The one name, e.g. `mcp.example.com`. */
  readonly domainName: string;
  /** The Route 53 zone (latency records, health checks, DNS validation); undefined without one. */
  readonly hostedZone?: RegionDomainHostedZone;
  /** Imported certificates by region; undefined when every region creates its own. */
  readonly certificateArns?: Readonly<Record<string, string>>;
}

/** The deployment layout read from context. */
export interface PlexMcpAppConfig {
  /** Every region PlexMCP runs in, the primary included, in the order given. */
  readonly regions: string[];
  /** The region that owns the global tables. */
  readonly primaryRegion: string;
  /** Name of the registry table; undefined leaves the stack's default. */
  readonly registryTableName?: string;
  /** Reserved concurrency of every region's gateway function; undefined leaves the default. */
  readonly gatewayReservedConcurrency?: number;
  /** The custom domain; undefined serves every region on its execute-api URL, as without it. */
  readonly domain?: PlexMcpDomainConfig;
  /** The consent page's identity provider, the same in every region; undefined: org admin keys only. */
  readonly identityProvider?: PlexMcpIdentityProvider;
}

/** What {@link buildPlexMcpApp} created. */
export interface PlexMcpApp {
  readonly config: PlexMcpAppConfig;
  /** The primary region's stack. */
  readonly primary: PlexMcpStack;
  /** All stacks, the primary first. */
  readonly stacks: PlexMcpStack[];
  /**
   * The stack in us-east-1 with the alarms on the health checks of the regions outside
   * us-east-1 (Route 53 publishes health check metrics there only). Exists with a hosted zone
   * when some region is not us-east-1.
   */
  readonly healthAlarms?: Stack;
}

/** Options of {@link buildPlexMcpApp}. */
export interface PlexMcpAppOptions {
  /**
   * AWS account to deploy to.
   *
   * @default process.env.CDK_DEFAULT_ACCOUNT - may be undefined (environment-agnostic account)
   */
  readonly account?: string;
}

// Commercial (us-east-1), GovCloud (us-gov-west-1), China (cn-north-1), ISO (us-isob-east-1).
const REGION_PATTERN = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const TABLE_NAME_PATTERN = /^[a-zA-Z0-9_.-]{3,255}$/;

/**
 * Reads and validates `plexmcp:regions` and `plexmcp:primaryRegion` from the app's context.
 * Throws an error that names the context key and the offending value.
 */
export function readPlexMcpConfig(app: App): PlexMcpAppConfig {
  const raw: unknown = app.node.tryGetContext(REGIONS_CONTEXT);
  let regions: string[];
  if (Array.isArray(raw)) {
    if (!raw.every((r): r is string => typeof r === 'string')) {
      throw new Error(`Context ${REGIONS_CONTEXT} must be an array of region names, got ${JSON.stringify(raw)}.`);
    }
    regions = raw.map((r) => r.trim());
  } else if (typeof raw === 'string') {
    // `cdk synth -c plexmcp:regions=us-east-1,eu-west-1` passes a string; so may a JSON array
    // given on the command line.
    const text = raw.trim();
    regions = text.startsWith('[') ? parseJsonRegions(text) : text.split(',').map((r) => r.trim()).filter((r) => r !== '');
  } else if (raw === undefined) {
    throw new Error(`Context ${REGIONS_CONTEXT} is not set: list the regions to deploy to in cdk.json or with -c ${REGIONS_CONTEXT}=us-east-1,eu-west-1.`);
  } else {
    throw new Error(`Context ${REGIONS_CONTEXT} must be an array or a comma-separated string, got ${JSON.stringify(raw)}.`);
  }

  if (regions.length === 0) {
    throw new Error(`Context ${REGIONS_CONTEXT} is empty: name at least one region.`);
  }
  const malformed = regions.filter((r) => !REGION_PATTERN.test(r));
  if (malformed.length > 0) {
    throw new Error(`Context ${REGIONS_CONTEXT} has malformed region names: ${malformed.map((r) => JSON.stringify(r)).join(', ')} (expected e.g. us-east-1).`);
  }
  const duplicates = regions.filter((r, i) => regions.indexOf(r) !== i);
  if (duplicates.length > 0) {
    throw new Error(`Context ${REGIONS_CONTEXT} lists a region more than once: ${[...new Set(duplicates)].join(', ')}.`);
  }

  const rawPrimary: unknown = app.node.tryGetContext(PRIMARY_REGION_CONTEXT);
  if (rawPrimary !== undefined && typeof rawPrimary !== 'string') {
    throw new Error(`Context ${PRIMARY_REGION_CONTEXT} must be a region name, got ${JSON.stringify(rawPrimary)}.`);
  }
  const primaryRegion = rawPrimary?.trim() || regions[0];
  if (!regions.includes(primaryRegion)) {
    throw new Error(`Context ${PRIMARY_REGION_CONTEXT} is ${primaryRegion}, which is not one of ${REGIONS_CONTEXT} (${regions.join(', ')}).`);
  }

  const registryTableName: unknown = app.node.tryGetContext(REGISTRY_TABLE_NAME_CONTEXT);
  if (registryTableName !== undefined && (typeof registryTableName !== 'string' || !TABLE_NAME_PATTERN.test(registryTableName))) {
    throw new Error(`Context ${REGISTRY_TABLE_NAME_CONTEXT} must be a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -), got ${JSON.stringify(registryTableName)}.`);
  }
  const gatewayReservedConcurrency = readWholeNumber(app, GATEWAY_RESERVED_CONCURRENCY_CONTEXT, '0 for no reservation');
  const domain = readDomain(app, regions);
  const identityProvider = readIdentityProvider(app);
  return { regions, primaryRegion, registryTableName, gatewayReservedConcurrency, domain, ...(identityProvider ? { identityProvider } : {}) };
}

const IDENTITY_PROVIDER_FIELDS = ['issuer', 'clientId', 'orgClaim', 'displayName', 'orgs', 'scopes', 'clientSecretName'];

/** `plexmcp:identityProvider`, checked as the OAuth function checks it (identityProviderProblem). */
function readIdentityProvider(app: App): PlexMcpIdentityProvider | undefined {
  let raw: unknown = app.node.tryGetContext(IDENTITY_PROVIDER_CONTEXT);
  if (raw === undefined) return undefined;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      throw new Error(`Context ${IDENTITY_PROVIDER_CONTEXT} must be a JSON object, got ${JSON.stringify(raw)}.`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error(`Context ${IDENTITY_PROVIDER_CONTEXT} must be an object {issuer, clientId, orgClaim, displayName?, orgs?, scopes?, clientSecretName?}, got ${JSON.stringify(raw)}.`);
  }
  const config = raw as Record<string, unknown>;
  const unknown = Object.keys(config).filter((field) => !IDENTITY_PROVIDER_FIELDS.includes(field));
  if (unknown.length > 0) throw new Error(`Context ${IDENTITY_PROVIDER_CONTEXT} has unknown fields: ${unknown.join(', ')} (known: ${IDENTITY_PROVIDER_FIELDS.join(', ')}).`);
  const problem = identityProviderProblem(config);
  if (problem !== undefined) throw new Error(`Context ${IDENTITY_PROVIDER_CONTEXT}: ${problem}.`);
  if (config.clientSecretName !== undefined && typeof config.clientSecretName !== 'string') {
    throw new Error(`Context ${IDENTITY_PROVIDER_CONTEXT}: clientSecretName must be the name of a Secrets Manager secret, got ${JSON.stringify(config.clientSecretName)}.`);
  }
  return config as unknown as PlexMcpIdentityProvider;
}

// Lowercase DNS names with at least two labels; API Gateway refuses uppercase domain names.
const DOMAIN_NAME_PATTERN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const HOSTED_ZONE_ID_PATTERN = /^Z[A-Z0-9]{1,31}$/;
// arn:<partition>:acm:<region>:<account>:certificate/<id>
const CERTIFICATE_ARN_PATTERN = /^arn:[\w-]+:acm:([a-z0-9-]+):\d{12}:certificate\/[A-Za-z0-9-]+$/;

function optionalString(app: App, key: string, what: string): string | undefined {
  const raw: unknown = app.node.tryGetContext(key);
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw new Error(`Context ${key} must be ${what}, got ${JSON.stringify(raw)}.`);
  }
  return raw.trim();
}

/** The custom domain keys; each error names its key. */
function readDomain(app: App, regions: string[]): PlexMcpDomainConfig | undefined {
  const domainName = optionalString(app, DOMAIN_NAME_CONTEXT, 'a DNS name such as mcp.example.com');
  const hostedZoneId = optionalString(app, HOSTED_ZONE_ID_CONTEXT, 'a Route 53 hosted zone ID such as Z0123456789ABCDEFGHIJ');
  const zoneNameGiven = optionalString(app, HOSTED_ZONE_NAME_CONTEXT, 'a DNS name such as example.com');
  const rawCertificates: unknown = app.node.tryGetContext(CERTIFICATE_ARNS_CONTEXT);
  if (domainName === undefined) {
    const stray = [
      [HOSTED_ZONE_ID_CONTEXT, hostedZoneId],
      [HOSTED_ZONE_NAME_CONTEXT, zoneNameGiven],
      [CERTIFICATE_ARNS_CONTEXT, rawCertificates],
    ].filter(([, value]) => value !== undefined);
    if (stray.length > 0) {
      throw new Error(`Context ${stray.map(([key]) => key).join(', ')} ${stray.length === 1 ? 'needs' : 'need'} ${DOMAIN_NAME_CONTEXT} (the custom domain they belong to).`);
    }
    return undefined;
  }
  if (!DOMAIN_NAME_PATTERN.test(domainName)) {
    throw new Error(`Context ${DOMAIN_NAME_CONTEXT} must be a lowercase DNS name with at least two labels such as mcp.example.com, got ${JSON.stringify(domainName)}.`);
  }
  if (hostedZoneId !== undefined && !HOSTED_ZONE_ID_PATTERN.test(hostedZoneId)) {
    throw new Error(`Context ${HOSTED_ZONE_ID_CONTEXT} must be a Route 53 hosted zone ID (Z followed by capital letters and digits), got ${JSON.stringify(hostedZoneId)}.`);
  }
  if (zoneNameGiven !== undefined && hostedZoneId === undefined) {
    throw new Error(`Context ${HOSTED_ZONE_NAME_CONTEXT} needs ${HOSTED_ZONE_ID_CONTEXT}.`);
  }
  let hostedZone: RegionDomainHostedZone | undefined;
  if (hostedZoneId !== undefined) {
    const zoneName = (zoneNameGiven ?? domainName.slice(domainName.indexOf('.') + 1)).replace(/\.$/, '');
    if (!DOMAIN_NAME_PATTERN.test(zoneName)) {
      throw new Error(
        zoneNameGiven === undefined
          ? `Context ${HOSTED_ZONE_NAME_CONTEXT} is needed: the default, the parent of ${domainName} (${zoneName}), is not a zone name; give the zone's name (${domainName} itself for a zone of its own).`
          : `Context ${HOSTED_ZONE_NAME_CONTEXT} must be a lowercase DNS name such as example.com, got ${JSON.stringify(zoneNameGiven)}.`,
      );
    }
    if (zoneName !== domainName && !domainName.endsWith(`.${zoneName}`)) {
      throw new Error(`Context ${HOSTED_ZONE_NAME_CONTEXT} is ${zoneName}, which does not contain ${DOMAIN_NAME_CONTEXT} ${domainName}.`);
    }
    hostedZone = { hostedZoneId, zoneName };
  }
  const certificateArns = rawCertificates === undefined ? undefined : readCertificateArns(rawCertificates, regions);
  if (hostedZone === undefined && certificateArns === undefined) {
    throw new Error(`Context ${DOMAIN_NAME_CONTEXT} needs ${HOSTED_ZONE_ID_CONTEXT} (new certificates validated by DNS, latency records) or ${CERTIFICATE_ARNS_CONTEXT} (one existing certificate per region).`);
  }
  return { domainName, hostedZone, certificateArns };
}

function readCertificateArns(raw: unknown, regions: string[]): Record<string, string> {
  const key = CERTIFICATE_ARNS_CONTEXT;
  let entries: Array<[string, unknown]>;
  if (typeof raw === 'string' && raw.trim().startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new Error(`Context ${key} looks like JSON but does not parse: ${raw}.`);
    }
    return readCertificateArns(parsed, regions);
  } else if (typeof raw === 'string') {
    // `-c plexmcp:certificateArns=us-east-1=arn:...,eu-west-1=arn:...`
    entries = raw.split(',').map((item) => item.trim()).filter((item) => item !== '').map((item) => {
      const eq = item.indexOf('=');
      if (eq <= 0) throw new Error(`Context ${key} must list <region>=<certificate arn> items separated by commas, got ${JSON.stringify(item)}.`);
      return [item.slice(0, eq).trim(), item.slice(eq + 1).trim()];
    });
  } else if (raw !== null && typeof raw === 'object' && !Array.isArray(raw)) {
    entries = Object.entries(raw);
  } else {
    throw new Error(`Context ${key} must be an object {"<region>": "<certificate arn>"} or <region>=<arn>,..., got ${JSON.stringify(raw)}.`);
  }
  const arns: Record<string, string> = {};
  for (const [region, arn] of entries) {
    if (!regions.includes(region)) {
      throw new Error(`Context ${key} names ${region}, which is not one of ${REGIONS_CONTEXT} (${regions.join(', ')}).`);
    }
    const match = typeof arn === 'string' ? CERTIFICATE_ARN_PATTERN.exec(arn) : null;
    if (match === null) {
      throw new Error(`Context ${key} for ${region} must be an ACM certificate ARN (arn:...:acm:<region>:<account>:certificate/<id>), got ${JSON.stringify(arn)}.`);
    }
    // API Gateway takes a regional domain's certificate from its own region only.
    if (match[1] !== region) {
      throw new Error(`Context ${key} for ${region} is a certificate in ${match[1]}; a regional custom domain needs a certificate in its own region.`);
    }
    arns[region] = arn as string;
  }
  const missing = regions.filter((r) => arns[r] === undefined);
  if (missing.length > 0) {
    throw new Error(`Context ${key} has no certificate for ${missing.join(', ')}: give one for every region.`);
  }
  return arns;
}

/** An optional whole-number context value: a number (cdk.json) or digits (`-c key=100`). */
function readWholeNumber(app: App, key: string, zeroMeans: string): number | undefined {
  const raw: unknown = app.node.tryGetContext(key);
  if (raw === undefined) return undefined;
  const value = typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`Context ${key} must be a whole number (${zeroMeans}), got ${JSON.stringify(raw)}.`);
  }
  return value;
}

function parseJsonRegions(text: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error(`Context ${REGIONS_CONTEXT} looks like JSON but does not parse: ${text}.`);
  }
  if (!Array.isArray(parsed) || !parsed.every((r) => typeof r === 'string')) {
    throw new Error(`Context ${REGIONS_CONTEXT} must be an array of region names, got ${text}.`);
  }
  return parsed.map((r: string) => r.trim());
}

/** Name of the stack in a region; stable, because renaming a stack replaces everything in it. */
export function plexMcpStackName(region: string): string {
  return `PlexMcp-${region}`;
}

/**
 * Builds the PlexMCP CDK app: one {@link PlexMcpStack} per region from context, the primary
 * region's stack owning the global table and the multi-Region key, and the AWS Solutions
 * cdk-nag checks on everything (synthesis fails on an unacknowledged error).
 */
export function buildPlexMcpApp(app: App, options: PlexMcpAppOptions = {}): PlexMcpApp {
  const config = readPlexMcpConfig(app);
  const account = options.account ?? process.env.CDK_DEFAULT_ACCOUNT;
  const replicaRegions = config.regions.filter((r) => r !== config.primaryRegion);

  const primary = new PlexMcpStack(app, plexMcpStackName(config.primaryRegion), {
    env: { account, region: config.primaryRegion },
    description: `PlexMCP gateway, primary region ${config.primaryRegion} (owns the global tables)`,
    replicaRegions,
    registryTableName: config.registryTableName,
    gatewayReservedConcurrentExecutions: config.gatewayReservedConcurrency,
    domain: domainFor(config, config.primaryRegion),
    ...(config.identityProvider ? { oauth: { identityProvider: config.identityProvider } } : {}),
  });
  const stacks = [primary];
  for (const region of replicaRegions) {
    stacks.push(
      new PlexMcpStack(app, plexMcpStackName(region), {
        env: { account, region },
        description: `PlexMCP gateway, region ${region} (replica of ${config.primaryRegion})`,
        primary,
        gatewayReservedConcurrentExecutions: config.gatewayReservedConcurrency,
        domain: domainFor(config, region),
        ...(config.identityProvider ? { oauth: { identityProvider: config.identityProvider } } : {}),
      }),
    );
  }
  const healthAlarms = healthAlarmsStack(app, config, stacks, account);

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { config, primary, stacks, healthAlarms };
}

function domainFor(config: PlexMcpAppConfig, region: string) {
  const domain = config.domain;
  if (domain === undefined) return undefined;
  return { domainName: domain.domainName, hostedZone: domain.hostedZone, certificateArn: domain.certificateArns?.[region] };
}

/** Name of the us-east-1 stack with the health check alarms of the other regions. */
export const HEALTH_ALARMS_STACK_NAME = 'PlexMcp-health-alarms';

/**
 * The alarms on the health checks of the regions outside us-east-1, in a us-east-1 stack of their
 * own: Route 53's metrics exist only there, and an alarm can only watch its own region. Their
 * health check IDs reach it as cross-region references, so it deploys after those regions and
 * nothing depends on it (us-east-1's own check is alarmed in its own stack). They notify the
 * us-east-1 stack's operator topic when us-east-1 is a PlexMCP region, else a topic of this stack
 * (an alarm publishes to a topic of its own region), whose ARN is an output.
 */
function healthAlarmsStack(app: App, config: PlexMcpAppConfig, stacks: PlexMcpStack[], account: string | undefined): Stack | undefined {
  const checked = stacks.filter((s) => s.region !== ROUTE53_METRICS_REGION && s.domain?.healthCheck !== undefined);
  if (config.domain === undefined || checked.length === 0) return undefined;
  const stack = new Stack(app, HEALTH_ALARMS_STACK_NAME, {
    env: { account, region: ROUTE53_METRICS_REGION },
    description: `PlexMCP: alarms on the Route 53 health checks of ${checked.map((s) => s.region).join(', ')} (Route 53 metrics exist in ${ROUTE53_METRICS_REGION} only)`,
    crossRegionReferences: true,
  });
  // Strong, like the regional stacks' references: a region's stack cannot drop its health check
  // while an alarm here still watches it. Set before the stack has children.
  CrossStackReferences.of(stack).consume(ReferenceStrength.STRONG);
  const topic = stacks.find((s) => s.region === ROUTE53_METRICS_REGION)?.healthMonitor.operatorAlarmTopic ?? alarmTopic(stack);
  for (const regional of checked) {
    RegionDomain.addHealthCheckAlarm(stack, `HealthCheckAlarm-${regional.region}`, {
      healthCheck: regional.domain!.healthCheck!,
      region: regional.region,
      domainName: config.domain.domainName,
      topic,
    });
  }
  return stack;
}

/** An encrypted topic that CloudWatch alarms of this account and region may publish to. */
function alarmTopic(stack: Stack): sns.ITopic {
  const key = new kms.Key(stack, 'AlarmTopicKey', {
    description: 'PlexMCP: server-side encryption of the health check alarm topic',
    enableKeyRotation: true,
    // SNS keeps no messages at rest: once the topic is gone the key protects nothing.
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const topic = new sns.Topic(stack, 'AlarmTopic', { displayName: 'PlexMCP region health alarms', masterKey: key, enforceSSL: true });
  // enforceSSL's topic policy replaces SNS's default one, and the key is customer managed (the
  // AWS managed aws/sns key cannot let CloudWatch in): both allow this account's alarms here.
  const fromAlarmsHere = {
    StringEquals: { 'aws:SourceAccount': stack.account },
    ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME }) },
  };
  const cloudwatch = new iam.ServicePrincipal('cloudwatch.amazonaws.com');
  topic.addToResourcePolicy(new iam.PolicyStatement({ principals: [cloudwatch], actions: ['sns:Publish'], resources: [topic.topicArn], conditions: fromAlarmsHere }));
  key.addToResourcePolicy(new iam.PolicyStatement({ principals: [cloudwatch], actions: ['kms:Decrypt', 'kms:GenerateDataKey*'], resources: ['*'], conditions: fromAlarmsHere }));
  new CfnOutput(stack, 'AlarmTopicArn', {
    description: 'SNS topic of the region health alarms (Route 53 health checks on /healthz): subscribe the operator to it',
    value: topic.topicArn,
  });
  return topic;
}
