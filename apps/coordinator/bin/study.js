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
  // glibc malloc settings, read when a process starts, so set here for the process that does the
  // work (and the trainers it starts): large per-step buffers are reused instead of being fresh,
  // page-faulted memory each time (see TRAINER_MALLOC_ENV in src/coordinator/trainer-process.ts,
  // which trainers get however they are started). A value the user set wins.
  const malloc = { MALLOC_MMAP_THRESHOLD_: '33554432', MALLOC_TRIM_THRESHOLD_: '268435456' };
  const child = spawn(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, __filename, ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...malloc, ...process.env, STUDY_TSX_LOADED: '1' },
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
