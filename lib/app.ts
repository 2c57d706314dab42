import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { PlexMcpStack } from './plexmcp-stack';

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
}

/** What {@link buildPlexMcpApp} created. */
export interface PlexMcpApp {
  readonly config: PlexMcpAppConfig;
  /** The primary region's stack. */
  readonly primary: PlexMcpStack;
  /** All stacks, the primary first. */
  readonly stacks: PlexMcpStack[];
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
  return { regions, primaryRegion, registryTableName, gatewayReservedConcurrency };
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
  });
  const stacks = [primary];
  for (const region of replicaRegions) {
    stacks.push(
      new PlexMcpStack(app, plexMcpStackName(region), {
        env: { account, region },
        description: `PlexMCP gateway, region ${region} (replica of ${config.primaryRegion})`,
        primary,
        gatewayReservedConcurrentExecutions: config.gatewayReservedConcurrency,
      }),
    );
  }

  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { config, primary, stacks };
}
