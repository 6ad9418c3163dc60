/**
 * Micro-benchmark of libs/models/src/engine/wasm-movement-kernels.ts: each kernel as wasm ships it
 * against ours, interleaved in one process (shipped, ours, shipped, ours, ...) so that load from
 * other processes hits both alike. Not a test: `node --import tsx tools/bench/movement-kernels.ts
 * [--reps N] [filter]`.
 *
 * Prints `<case>  shipped <wall> ms (cpu <cpu>)  ours <wall> ms (cpu <cpu>)`, medians of N runs
 * after a warm-up. The wasm backend is synchronous, so the kernel call itself is timed (no
 * dataSync). 'shipped' MaxPoolGrad is wasm's own kernel (wrong for all-negative windows); with
 * `--old-maxpool` it is instead the previous fix (maxPoolGradLoop: dataSync, JS loop, upload).
 * Matrix products marked `fresh w` get a new weight buffer every run, as after an optimizer step
 * (wasm's XNNPACK path packs the weights again then).
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { maxPoolGradLoop, registerWasmTrainingKernels, shippedWasmKernel } from '@gan-study/models';

type Case = { name: string; kernel: string; inputs: Record<string, tf.Tensor>; attrs: Record<string, unknown>; fresh?: string };

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function once(c: Case, shipped: boolean, oldMaxPool: boolean): [number, number] {
  return tf.tidy(() => {
    const inputs = { ...c.inputs };
    if (c.fresh) inputs[c.fresh] = tf.add(inputs[c.fresh], 0);
    const t0 = performance.now();
    const c0 = cpuMs();
    let out: tf.Tensor;
    if (shipped && oldMaxPool && c.kernel === 'MaxPoolGrad') {
      const a = c.attrs as { filterSize: number; strides: number; pad: 'valid' };
      out = maxPoolGradLoop(inputs.dy as tf.Tensor4D, inputs.input as tf.Tensor4D, a.filterSize, a.strides, a.pad);
    } else if (shipped) {
      const k = shippedWasmKernel(c.kernel);
      if (!k) throw new Error(`wasm ships no ${c.kernel}`);
      const info = k.kernelFunc({ inputs, attrs: c.attrs as tf.NamedAttrMap, backend: tf.backend() }) as tf.TensorInfo;
      out = info instanceof tf.Tensor ? info : tf.engine().makeTensorFromTensorInfo(info);
    } else out = tf.engine().runKernel(c.kernel, inputs, c.attrs as tf.NamedAttrMap) as tf.Tensor;
    const r: [number, number] = [performance.now() - t0, cpuMs() - c0];
    out.dispose();
    return r;
  });
}

function cases(): Case[] {
  const r = (s: number[]) => tf.randomNormal(s);
  const x = r([32, 16384]);
  const w = r([16384, 128]);
  const g = r([32, 128]);
  const z = r([32, 100]);
  const gz = r([32, 8192]);
  const p1 = r([32, 64, 64, 32]) as tf.Tensor4D;
  const y1 = tf.maxPool(p1, 2, 2, 'valid');
  const p2 = r([32, 32, 32, 64]) as tf.Tensor4D;
  const y2 = tf.maxPool(p2, 2, 2, 'valid');
  const mp = { filterSize: 2, strides: 2, pad: 'valid' };
  const bn = r([32, 16, 16, 128]);
  const f4 = r([4, 4, 256, 512]);
  return [
    { name: 'BatchMatMul dense dW x^T g [32,16384]^T[32,128]', kernel: 'BatchMatMul', inputs: { a: x, b: g }, attrs: { transposeA: true, transposeB: false } },
    { name: 'BatchMatMul dense dx g w^T [32,128][16384,128]^T', kernel: 'BatchMatMul', inputs: { a: g, b: w }, attrs: { transposeA: false, transposeB: true } },
    { name: 'BatchMatMul dense fwd x w, fresh w', kernel: 'BatchMatMul', inputs: { a: x, b: w }, attrs: { transposeA: false, transposeB: false }, fresh: 'b' },
    { name: 'BatchMatMul DCGAN proj dW z^T g [32,100]^T[32,8192]', kernel: 'BatchMatMul', inputs: { a: z, b: gz }, attrs: { transposeA: true, transposeB: false } },
    { name: 'MaxPoolGrad [32,64,64,32] 2x2/2', kernel: 'MaxPoolGrad', inputs: { dy: r(y1.shape), input: p1, output: y1 }, attrs: mp },
    { name: 'MaxPoolGrad [32,32,32,64] 2x2/2', kernel: 'MaxPoolGrad', inputs: { dy: r(y2.shape), input: p2, output: y2 }, attrs: mp },
    { name: 'Reverse [3,3,256,256] dims [0,1]', kernel: 'Reverse', inputs: { x: r([3, 3, 256, 256]) }, attrs: { dims: [0, 1] } },
    { name: 'StridedSlice [4,4,256,512] strides [2,2,1,1]', kernel: 'StridedSlice', inputs: { x: f4 }, attrs: { begin: [1, 0, 0, 0], end: f4.shape, strides: [2, 2, 1, 1], beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 } },
    { name: 'Slice [32,34,34,64] -> [32,32,32,64]', kernel: 'Slice', inputs: { x: r([32, 34, 34, 64]) }, attrs: { begin: [0, 1, 1, 0], size: [32, 32, 32, 64] } },
    { name: 'Sum [32,16,16,128] axes [0,1,2]', kernel: 'Sum', inputs: { x: bn }, attrs: { axis: [0, 1, 2], keepDims: false } },
    { name: 'Mean [32,32,32,64] axes [0,1,2]', kernel: 'Mean', inputs: { x: p2 }, attrs: { axis: [0, 1, 2], keepDims: false } },
    { name: 'Sum [4,4,4,4,64] axis 0 (minibatch stddev)', kernel: 'Sum', inputs: { x: r([4, 4, 4, 4, 64]) }, attrs: { axis: [0], keepDims: false } },
  ];
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--reps');
  const reps = i >= 0 ? Number(argv[i + 1]) : 7;
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive integer, got '${argv[i + 1]}'`);
  const oldMaxPool = argv.includes('--old-maxpool');
  const filter = argv.find((a, k) => !a.startsWith('--') && argv[k - 1] !== '--reps');
  registerWasmTrainingKernels();
  await tf.setBackend('wasm');
  const med = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
  tf.tidy(() => {
    for (const c of cases()) {
      if (filter && !c.name.includes(filter)) continue;
      once(c, true, oldMaxPool);
      once(c, false, oldMaxPool);
      const s: number[][] = [[], []];
      const o: number[][] = [[], []];
      for (let k = 0; k < reps; k++) {
        const a = once(c, true, oldMaxPool);
        const b = once(c, false, oldMaxPool);
        s[0].push(a[0]);
        s[1].push(a[1]);
        o[0].push(b[0]);
        o[1].push(b[1]);
      }
      console.log(`${c.name.padEnd(54)} shipped ${med(s[0]).toFixed(2).padStart(7)} ms (cpu ${med(s[1]).toFixed(1)})  ours ${med(o[0]).toFixed(2).padStart(7)} ms (cpu ${med(o[1]).toFixed(1)})`);
    }
  });
  console.log(`reps=${reps} (median), tfjs ${tf.version.tfjs}, node ${process.version}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
