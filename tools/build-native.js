#!/usr/bin/env node
/**
 * Builds the oneDNN addon (libs/native) with node-gyp: the wasm backend's convolutions and matmuls
 * then run in oneDNN (AVX-512/AVX2) instead of XNNPACK in wasm.
 *
 *   npm run build:native                        # build; exits 1 when it cannot
 *   node tools/build-native.js --if-available   # postinstall: build when oneDNN is installed,
 *                                               # otherwise print what is missing and exit 0
 *
 * oneDNN comes from the system: `apt-get install -y libdnnl-dev` (Debian 12 / Ubuntu 22.04+).
 */
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const NATIVE_DIR = path.join(ROOT, 'libs', 'native');
const ADDON = path.join(NATIVE_DIR, 'build', 'Release', 'gan_study_native.node');
const HEADER = path.join('oneapi', 'dnnl', 'dnnl.hpp');
const INCLUDE_DIRS = ['/usr/include', '/usr/local/include'];
const INSTALL = 'apt-get install -y libdnnl-dev';
const COST = 'Training still works, with convolutions and matmuls on XNNPACK in wasm: 4-8x slower convolutions, 3-5x slower training steps.';

function banner(lines) {
  const rule = '='.repeat(100);
  console.error(['', rule, ...lines.map((l) => `  ${l}`), rule, ''].join('\n'));
}

function notBuilt(why, fix, strict) {
  banner([`oneDNN addon NOT built: ${why}`, COST, `To build it: ${fix}`, `(${ADDON})`]);
  process.exit(strict ? 1 : 0);
}

/** Node's own headers next to the running node (e.g. /usr/include/node), so node-gyp needs no download. */
function nodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : undefined;
}

function main() {
  const strict = !process.argv.includes('--if-available');
  const header = INCLUDE_DIRS.map((d) => path.join(d, HEADER)).find((p) => fs.existsSync(p));
  if (!header) {
    notBuilt(`oneDNN's headers are not installed (no ${INCLUDE_DIRS.map((d) => path.join(d, HEADER)).join(' or ')}).`, `${INSTALL} && npm run build:native`, strict);
  }
  let gyp;
  try {
    gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [ROOT] });
    require.resolve('node-addon-api', { paths: [ROOT] });
  } catch {
    notBuilt('node-gyp or node-addon-api is not installed (they are devDependencies: was npm run with --omit=dev?).', 'npm install && npm run build:native', strict);
  }
  const dir = nodeDir();
  const args = [gyp, 'rebuild', '--directory', NATIVE_DIR, '--loglevel=warn', ...(dir ? [`--nodedir=${dir}`] : [])];
  console.log(`building the oneDNN addon (${header}) ...`);
  const build = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: NATIVE_DIR });
  if (build.status !== 0) {
    notBuilt(`node-gyp failed (exit ${build.status ?? build.signal}); its output is above.`, `fix the error above, then npm run build:native`, strict);
  }
  // Load it in a fresh process: a missing libdnnl.so.2 at run time shows here, not in the first training run.
  const check = spawnSync(process.execPath, ['-e', `const i = require(${JSON.stringify(ADDON)}).info(); console.log('oneDNN ' + i.version + ', ' + i.isa)`], { encoding: 'utf8' });
  if (check.status !== 0) {
    notBuilt(`the addon was built but does not load: ${(check.stderr || '').trim().split('\n').find((l) => /Error/.test(l)) ?? check.stderr}`, `${INSTALL} (the run-time library libdnnl.so.2), then npm run build:native`, strict);
  }
  console.log(`oneDNN addon built: ${ADDON} (${check.stdout.trim()})`);
}

main();
