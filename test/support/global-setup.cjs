'use strict';
// Builds dist/plexmcp.cjs, the bundle `npm start` runs, once before any test: the e2e tests that
// start `plexmcp serve` as a process run that bundle, so they test what users run.
const { buildLocal } = require('../../scripts/build-local.cjs');

module.exports = async function globalSetup() {
  await buildLocal();
};
