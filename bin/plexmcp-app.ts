#!/usr/bin/env node
/**
 * The PlexMCP CDK app: `cdk synth` / `cdk deploy --all`. Regions come from the context keys
 * `plexmcp:regions` and `plexmcp:primaryRegion` (cdk.json, or `-c key=value`); the optional keys
 * (`plexmcp:registryTableName`, `plexmcp:operatorSecretName`, `plexmcp:gatewayReservedConcurrency`,
 * the custom domain: `plexmcp:domainName`, `plexmcp:hostedZoneId`, `plexmcp:hostedZoneName`,
 * `plexmcp:certificateArns`, and the consent page's `plexmcp:identityProvider`) are listed in the
 * README (Deploy to AWS).
 */
import { App } from 'aws-cdk-lib';
import { buildPlexMcpApp } from '../lib/app';

buildPlexMcpApp(new App());
