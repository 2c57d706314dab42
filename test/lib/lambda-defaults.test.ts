import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as esbuild from 'esbuild';
import { esbuildOptionsFor, PlexFunction } from '../../lib';
import { ACCOUNT, actionsOf, roleLogicalIdOf, statementsOfRole, statementWith, testStack } from './helpers';

const FIXTURES = path.join(__dirname, 'fixtures');

describe('PlexFunction', () => {
  function build(props: Partial<ConstructorParameters<typeof PlexFunction>[2]> = {}) {
    const stack = testStack();
    const fn = new PlexFunction(stack, 'Fn', { entry: path.join(FIXTURES, 'handler.ts'), ...props });
    return { stack, fn, template: Template.fromStack(stack) };
  }

  test('defaults: arm64, Node.js 22, 1024 MB, 29 s, active tracing, no source maps parsed at run time', () => {
    const { template } = build();
    template.hasResourceProperties('AWS::Lambda::Function', {
      Architectures: ['arm64'],
      Runtime: 'nodejs22.x',
      MemorySize: 1024,
      Timeout: 29,
      Handler: 'index.handler',
      TracingConfig: { Mode: 'Active' },
      // Only the Powertools settings: the service is named after the entry's folder.
      Environment: { Variables: Match.objectEquals({ POWERTOOLS_SERVICE_NAME: `plexmcp-${path.basename(FIXTURES)}`, POWERTOOLS_METRICS_NAMESPACE: 'PlexMCP' }) },
    });
  });

  test('writes to its own log group: one month, retained', () => {
    const { template, stack, fn } = build();
    const logGroupId = stack.getLogicalId(fn.logGroup.node.defaultChild as logs.CfnLogGroup);
    template.hasResourceProperties('AWS::Lambda::Function', { LoggingConfig: { LogGroup: { Ref: logGroupId } } });
    template.hasResource('AWS::Logs::LogGroup', {
      Properties: { RetentionInDays: 30 },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
    template.resourceCountIs('AWS::Logs::LogGroup', 1);
  });

  test('its role has no managed policy and only log writes to its log group plus X-Ray', () => {
    const { template, stack, fn } = build();
    const roleId = roleLogicalIdOf(template, stack, fn);
    const role = template.toJSON().Resources[roleId];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Action: 'sts:AssumeRole', Principal: { Service: 'lambda.amazonaws.com' } }),
    ]);

    const statements = statementsOfRole(template, roleId);
    const logGroupId = stack.getLogicalId(fn.logGroup.node.defaultChild as logs.CfnLogGroup);
    expect(statementWith(statements, 'logs:PutLogEvents')).toEqual({
      Effect: 'Allow',
      Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
      Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] },
    });
    // The IAM5[Resource::*] acknowledgement on the role is only justified for X-Ray.
    const wildcard = statements.filter((s) => s.Resource === '*');
    expect(wildcard.flatMap(actionsOf).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    expect(statements).toHaveLength(2);
  });

  test('props override memory, timeout, log retention and removal', () => {
    const { template } = build({
      memorySize: 2048,
      timeout: Duration.seconds(10),
      logRetention: logs.RetentionDays.ONE_WEEK,
      logRemovalPolicy: RemovalPolicy.DESTROY,
      environment: { PLEXMCP_EXTRA: 'b' },
      serviceName: 'plexmcp-extra',
      reservedConcurrentExecutions: 5,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 2048,
      Timeout: 10,
      ReservedConcurrentExecutions: 5,
      Environment: { Variables: Match.objectEquals({ POWERTOOLS_SERVICE_NAME: 'plexmcp-extra', POWERTOOLS_METRICS_NAMESPACE: 'PlexMCP', PLEXMCP_EXTRA: 'b' }) },
    });
    template.hasResource('AWS::Logs::LogGroup', { Properties: { RetentionInDays: 7 }, DeletionPolicy: 'Delete' });
  });

  test('two functions in one scope get separate log groups and roles', () => {
    const stack = testStack();
    new PlexFunction(stack, 'A', { entry: path.join(FIXTURES, 'handler.ts') });
    new PlexFunction(stack, 'B', { entry: path.join(FIXTURES, 'handler.ts') });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::Logs::LogGroup', 2);
    template.resourceCountIs('AWS::IAM::Role', 2);
  });

  // Real bundling: esbuild plus `npm ci` of argon2 into the asset (uses the npm cache or the
  // registry). Proves the layout Lambda will load: index.js with the AWS SDK inside it, and
  // node_modules/argon2 with the linux-arm64 prebuild next to it.
  test('bundles the AWS SDK into index.js and installs argon2 with its arm64 prebuild', () => {
    const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexmcp-bundle-'));
    try {
      const app = new App({ outdir });
      const stack = new Stack(app, 'Bundle', { env: { account: ACCOUNT, region: 'us-east-1' } });
      new PlexFunction(stack, 'Probe', { entry: path.join(FIXTURES, 'bundle-probe.ts') });
      const assembly = app.synth();

      const assets = fs.readdirSync(assembly.directory).filter((f) => f.startsWith('asset.'));
      expect(assets).toHaveLength(1);
      const asset = path.join(assembly.directory, assets[0]);
      const index = fs.readFileSync(path.join(asset, 'index.js'), 'utf8');
      expect(fs.existsSync(path.join(asset, 'index.js.map'))).toBe(true);
      // The SDK is bundled, not left to the runtime's copy; argon2 is the only package left
      // to node_modules. (@aws-sdk/signature-v4-crt is the SDK's optional SigV4a signer, which it
      // requires inside a try/catch; PlexMCP uses no SigV4a endpoint.)
      const required = new Set([...index.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]));
      const packages = [...required].filter((m) => !m.startsWith('node:') && m !== '@aws-sdk/signature-v4-crt');
      expect(packages).toEqual(['argon2']);
      expect(JSON.parse(fs.readFileSync(path.join(asset, 'package.json'), 'utf8')).dependencies).toEqual({
        argon2: expect.any(String),
      });
      const arm64 = fs.readdirSync(path.join(asset, 'node_modules', 'argon2', 'prebuilds', 'linux-arm64'));
      expect(arm64).toContain('argon2.armv8.glibc.node');
      expect(fs.existsSync(path.join(asset, 'node_modules', '@aws-sdk'))).toBe(false);

      // The asset runs as it is (this machine loads the x64 prebuild from the same package).
      const out = execFileSync(
        process.execPath,
        ['-e', `require(${JSON.stringify(path.join(asset, 'index.js'))}).handler().then((r) => process.stdout.write(JSON.stringify(r)))`],
        { encoding: 'utf8' },
      );
      expect(JSON.parse(out)).toEqual({ verified: true, sdk: 'function' });

      // esbuildOptionsFor (what the asset tests and bench:cold build with, for esbuild's
      // metafile) is the same build: byte for byte the asset's index.js.
      const apiOut = path.join(outdir, 'api-build', 'index.js');
      esbuild.buildSync({ ...esbuildOptionsFor(path.join(FIXTURES, 'bundle-probe.ts'), apiOut), logLevel: 'silent' });
      expect(fs.readFileSync(apiOut).equals(fs.readFileSync(path.join(asset, 'index.js')))).toBe(true);
    } finally {
      fs.rmSync(outdir, { recursive: true, force: true });
    }
  }, 180_000);
});

