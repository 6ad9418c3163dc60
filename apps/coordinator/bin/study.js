#!/usr/bin/env node
// Entry point of `npx study`: runs the TypeScript sources through tsx, with the workspace's path map.
// tsx's hooks for both require() and import() are installed with `node --import tsx`, so this script
// starts itself once more under that flag (forwarding signals and the exit status).
const path = require('path');
const { pathToFileURL } = require('url');
const { spawn } = require('child_process');

process.env.TSX_TSCONFIG_PATH ??= path.join(__dirname, '..', '..', '..', 'tsconfig.base.json');

if (process.env.STUDY_TSX_LOADED === '1') {
  require('../src/main.ts').cli(process.argv.slice(2));
} else {
  const child = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, STUDY_TSX_LOADED: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
