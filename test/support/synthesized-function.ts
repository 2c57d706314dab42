import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildPlexMcpApp } from '../../lib/app';

type Template = { Resources: Record<string, { Type: string; Properties: Record<string, any> }> }; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * Synthesizes the default one-region app exactly as `cdk synth` does (esbuild bundle, argon2
 * installed into the asset) into a temporary cloud assembly, and returns the asset folder of the
 * Lambda function whose environment has `markerEnvVar`.
 */
export function synthesizeFunctionAsset(markerEnvVar: string): { assetDir: string; cleanup(): void } {
  const outdir = mkdtempSync(join(tmpdir(), 'plexmcp-asset-'));
  const app = new App({ outdir, context: { 'plexmcp:regions': ['us-east-1'] } });
  buildPlexMcpApp(app);
  const template = app.synth().stacks[0]!.template as Template;
  const fn = Object.values(template.Resources).find(
    (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[markerEnvVar] !== undefined,
  );
  if (!fn) throw new Error(`no function with ${markerEnvVar} in the synthesized template`);
  const assetHash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
  return { assetDir: join(outdir, `asset.${assetHash}`), cleanup: () => rmSync(outdir, { recursive: true, force: true }) };
}

/** Loads the bundle with Node's own require, outside jest's module registry and transforms. */
export function loadBundledHandler<T>(assetDir: string): T {
  const entry = join(assetDir, 'index.js');
  return createRequire(entry)(entry).handler as T;
}

/** Points the AWS SDK inside a bundle at local engines (the SDK's standard endpoint variables). */
export function localAwsEnvironment(endpoints: { dynamodb: string; kms: string; secretsManager?: string }): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_KMS: endpoints.kms,
    ...(endpoints.secretsManager ? { AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager } : {}),
  };
}
