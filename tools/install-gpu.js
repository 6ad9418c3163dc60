#!/usr/bin/env node
/**
 * Installs the optional native TensorFlow binding, which downloads libtensorflow from outside the npm
 * registry at install time (so `npm ci` never does it unless asked).
 *
 *   npm run gpu:install            # @tensorflow/tfjs-node-gpu (CUDA 11.2, cuDNN 8.1)
 *   npm run gpu:install -- --cpu   # @tensorflow/tfjs-node (native CPU)
 *   STUDY_INSTALL_GPU=gpu npm ci   # the same, as part of a fresh install (postinstall); =cpu for the CPU binding
 *
 * Afterwards `npx study doctor` says whether libtensorflow sees the GPUs.
 */
const { execFileSync, spawnSync } = require('child_process');

const TFJS_VERSION = require('@tensorflow/tfjs/package.json').version;

function main() {
  const args = process.argv.slice(2);
  let kind = args.includes('--cpu') ? 'cpu' : 'gpu';
  if (args.includes('--if-requested')) {
    const wanted = (process.env.STUDY_INSTALL_GPU || '').toLowerCase();
    if (!wanted || wanted === '0' || wanted === 'false') return;
    if (wanted !== 'gpu' && wanted !== 'cpu' && wanted !== '1' && wanted !== 'true') {
      console.error(`STUDY_INSTALL_GPU must be 'gpu' or 'cpu', got '${process.env.STUDY_INSTALL_GPU}'`);
      process.exit(1);
    }
    kind = wanted === 'cpu' ? 'cpu' : 'gpu';
  }
  const pkg = kind === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    console.error(`${pkg} ships libtensorflow for linux x64 only; this is ${process.platform} ${process.arch}.`);
    process.exit(1);
  }
  if (kind === 'gpu') {
    const smi = spawnSync('nvidia-smi', ['--query-gpu=index,name,driver_version', '--format=csv,noheader'], { encoding: 'utf8' });
    if (smi.error || smi.status !== 0) {
      console.error('warning: nvidia-smi not found or failing: no NVIDIA driver visible on this host. Installing anyway.');
    } else {
      console.log(`GPUs seen by the driver:\n${smi.stdout.trim()}`);
    }
    console.log('tfjs-node-gpu needs the CUDA 11.2 runtime and cuDNN 8.1 libraries on LD_LIBRARY_PATH (libcudart.so.11.0, libcudnn.so.8).');
  }
  console.log(`installing ${pkg}@${TFJS_VERSION} (its install step downloads libtensorflow from outside the npm registry)...`);
  execFileSync('npm', ['install', '--no-save', `--allow-scripts=${pkg}`, `${pkg}@${TFJS_VERSION}`], { stdio: 'inherit' });
  console.log(`done. Check it with: npx study doctor`);
}

main();
