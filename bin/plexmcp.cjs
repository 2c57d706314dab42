#!/usr/bin/env node
// The package's `bin`: runs the TypeScript CLI through tsx, so `npx plexmcp` needs no build step.
'use strict';
require('tsx/cjs');
require('./plexmcp.ts');
