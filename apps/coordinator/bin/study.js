#!/usr/bin/env node
// Entry point of `npx study`: runs the TypeScript sources through tsx, with the workspace's path map.
const path = require('path');
process.env.TSX_TSCONFIG_PATH ??= path.join(__dirname, '..', '..', '..', 'tsconfig.base.json');
require('tsx/cjs');
require('../src/main.ts').cli(process.argv.slice(2));
