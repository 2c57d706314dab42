import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { type ICommandHooks, NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * The repository root: `lib/` sits directly below it. Entries under `lambda/` and the lock file
 * are resolved from here so that synthesis works from any working directory.
 */
export const PROJECT_ROOT = path.resolve(__dirname, '..');

/**
 * Native modules that esbuild cannot bundle. They are installed into the asset instead: CDK
 * writes a package.json there and runs `npm ci` during synthesis. argon2 ships its linux-arm64
 * prebuild inside its own package, so an x64 build machine produces a working arm64 asset.
 */
export const NATIVE_NODE_MODULES: readonly string[] = ['argon2'];

/**
 * How every PlexMCP function is bundled: the one definition, passed to NodejsFunction by
 * {@link PlexFunction} and, through {@link esbuildOptionsFor}, to esbuild's API by the asset
 * tests and `npm run bench:cold` (which need esbuild's metafile), so what they measure is what
 * `cdk synth` builds.
 */
export const PLEX_BUNDLING = {
  nodeModules: [...NATIVE_NODE_MODULES],
  // Bundle the AWS SDK instead of using the runtime's copy: the version that runs is then the one
  // in package-lock.json that the tests ran against, not whatever Lambda ships.
  // `protobufjs/minimal` is never required: @datadog/sketches-js loads it only for its protobuf
  // form, which PlexMCP does not use (lambda/core/analytics/sketch.ts); the package does not
  // declare it, so esbuild could not resolve it.
  externalModules: ['protobufjs/minimal'] as string[],
  minify: true,
  sourceMap: true,
  // The source map only needs line mappings; embedding the sources would double the asset.
  sourcesContent: false,
  target: 'node22',
  format: OutputFormat.CJS,
  // The ES module builds first: the AWS SDK and Smithy ship both, and esbuild can drop the unused
  // parts of ES modules but not of CommonJS (about 255 KB less of the gateway's bundle, 17 %).
  mainFields: ['module', 'main'],
  define: {
    // undici's switch for builds that bundle it (Node.js core's own): leaves out its experimental
    // Milo HTTP parser (~165 KB of WebAssembly), which is opt-in (UNDICI_USE_MILO) and unused;
    // the default llhttp parser stays.
    esbuildDetection: 'true',
  } as Record<string, string>,
  // Legal comments stay (esbuild's default moves them to the end of the file): ~0.3 KB.
} satisfies BundlingOptions;

/**
 * The esbuild API options equivalent to {@link PLEX_BUNDLING} for `entry` — the flags
 * NodejsFunction passes on the command line (`--bundle --platform=node` plus one per option) —
 * so a build through the API is byte for byte the asset's `index.js` (test/lib/lambda-defaults
 * and test/lib/gateway-asset check that). Structural, so that lib/ does not depend on esbuild's types.
 */
export function esbuildOptionsFor(entry: string, outfile: string) {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node' as const,
    target: PLEX_BUNDLING.target,
    format: 'cjs' as const,
    minify: PLEX_BUNDLING.minify,
    sourcemap: PLEX_BUNDLING.sourceMap,
    sourcesContent: PLEX_BUNDLING.sourcesContent,
    external: [...PLEX_BUNDLING.externalModules, ...PLEX_BUNDLING.nodeModules],
    mainFields: [...PLEX_BUNDLING.mainFields],
    define: { ...PLEX_BUNDLING.define },
  };
}

/** The CloudWatch namespace of every PlexMCP metric (Powertools Metrics, EMF). */
export const PLEX_METRICS_NAMESPACE = 'PlexMCP';

/** API Gateway REST integrations time out after 29 s; a longer Lambda timeout only burns money. */
export const API_FUNCTION_TIMEOUT = Duration.seconds(29);

/**
 * Properties for a {@link PlexFunction}. Everything that every PlexMCP function must share
 * (architecture, runtime, tracing, bundling) is fixed; what legitimately differs is a prop.
 */
export interface PlexFunctionProps {
  /**
   * Path to the TypeScript entry file, absolute or relative to {@link projectRoot}.
   */
  readonly entry: string;

  /**
   * Name of the exported handler in the entry file.
   *
   * @default 'handler'
   */
  readonly handler?: string;

  /**
   * A description of the function.
   *
   * @default - no description
   */
  readonly description?: string;

  /**
   * Environment variables (besides the Powertools ones every function gets, see {@link serviceName}).
   *
   * @default - none
   */
  readonly environment?: Record<string, string>;

  /**
   * The function's name in its logs and metrics: `POWERTOOLS_SERVICE_NAME` (the `service` field of
   * every Logger line and the `service` dimension of its metrics). `POWERTOOLS_METRICS_NAMESPACE`
   * is {@link PLEX_METRICS_NAMESPACE} for every function.
   *
   * @default - `plexmcp-<folder of the entry>`: `plexmcp-admin` for `lambda/admin/handler.ts`
   */
  readonly serviceName?: string;

  /**
   * Memory in MB. Argon2id runs with a 19 MiB memory cost, and Lambda allocates CPU in
   * proportion to memory, so 1024 MB keeps a key verification well under 100 ms.
   *
   * @default 1024
   */
  readonly memorySize?: number;

  /**
   * Function timeout.
   *
   * @default Duration.seconds(29) - the API Gateway REST integration limit
   */
  readonly timeout?: Duration;

  /**
   * How long the function's log events are kept.
   *
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;

  /**
   * What happens to the function's log group when it leaves the stack.
   *
   * @default RemovalPolicy.RETAIN - logs outlive a stack deletion for incident analysis;
   * the retention period still expires them
   */
  readonly logRemovalPolicy?: RemovalPolicy;

  /**
   * Reserved concurrency.
   *
   * @default - no reserved concurrency (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;

  /**
   * Root of the project that holds the entry, the lock file and node_modules.
   *
   * @default - the root of the PlexMCP package ({@link PROJECT_ROOT})
   */
  readonly projectRoot?: string;

  /**
   * The npm lock file used to install {@link NATIVE_NODE_MODULES} into the asset, so that the
   * asset gets exactly the versions that the tests ran with.
   *
   * @default - `package-lock.json` in {@link projectRoot}
   */
  readonly depsLockFilePath?: string;

  /**
   * Commands run around the bundling, e.g. to build static files into the asset beside `index.js`
   * (the admin function's web console).
   *
   * @default - none
   */
  readonly commandHooks?: ICommandHooks;
}

/**
 * A Node.js Lambda function with PlexMCP's shared defaults: arm64, Node.js 22, esbuild bundle
 * ({@link PLEX_BUNDLING}: minified, source maps, CommonJS, AWS SDK bundled), argon2 installed as
 * a native module, X-Ray active tracing, and an explicit log group with a retention period.
 *
 * The execution role is created here rather than by `lambda.Function` so that it carries no
 * AWS managed policy: the only logging permissions are `logs:CreateLogStream` and
 * `logs:PutLogEvents` on this function's own log group.
 */
export class PlexFunction extends NodejsFunction {
  // `logGroup` (inherited) returns the explicit log group created below.
  constructor(scope: Construct, id: string, props: PlexFunctionProps) {
    const projectRoot = props.projectRoot ?? PROJECT_ROOT;
    const entry = path.resolve(projectRoot, props.entry);
    const depsLockFilePath = props.depsLockFilePath ?? path.join(projectRoot, 'package-lock.json');

    // Children of `scope`, not of the function: they must exist before super() is called.
    // The ids are derived from the function's id so that two functions in one scope don't clash.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(scope, `${id}ServiceRole`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Execution role of a PlexMCP Lambda function (no managed policies)',
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      entry,
      handler: props.handler ?? 'handler',
      description: props.description,
      projectRoot,
      depsLockFilePath,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? API_FUNCTION_TIMEOUT,
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      role,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      // No NODE_OPTIONS=--enable-source-maps: Node would read and parse the bundle's source map at
      // every cold start (15–35 ms of the gateway's init), and no log line carries a stack trace
      // to map. The map still ships in the asset (index.js.map) for a crash decoded offline.
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName ?? `plexmcp-${path.basename(path.dirname(entry))}`,
        POWERTOOLS_METRICS_NAMESPACE: PLEX_METRICS_NAMESPACE,
        ...props.environment,
      },
      bundling: props.commandHooks === undefined ? PLEX_BUNDLING : { ...PLEX_BUNDLING, commandHooks: props.commandHooks },
    });

    // Node.js 22 is the project's baseline (package.json engines, esbuild target, CI). cdk-nag's
    // L1 wants the newest runtime CDK knows (nodejs24.x); moving is a deliberate, tested upgrade.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'nodejs22.x is the runtime the project builds and tests against (engines >=22, esbuild target node22); upgrading to nodejs24.x is a deliberate change, not a synth-time default.',
    });
    // X-Ray's PutTraceSegments/PutTelemetryRecords support no resource-level permissions, so
    // active tracing always adds Resource "*". Acknowledged for that finding only.
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Only the X-Ray write actions that Tracing.ACTIVE adds use Resource "*": xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level permissions.',
    });
  }
}
