#!/usr/bin/env node
// The package's `bin`: runs the TypeScript CLI through tsx, so `npx plexmcp` needs no build step.
'use strict';
// First, before tsx or anything else is loaded: on an old Node say so instead of crashing.
require('./node-version.cjs');
require('tsx/cjs');
require('./plexmcp.ts');
