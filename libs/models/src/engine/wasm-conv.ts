/**
 * The backward convolutions on the tfjs `wasm` backend, as XNNPACK calls plus JavaScript passes
 * over the wasm heap (wasm-heap.ts).
 *
 * wasm 4.22 ships no Conv2DBackpropFilter and a plain C loop for Conv2DBackpropInput, while its
 * forward Conv2D and its untransposed, unbatched MatMul run XNNPACK (~30-36 GFLOP/s here). Its
 * data-movement kernels (Reverse, StridedSlice, DepthToSpace, Concat) are generic loops costing as
 * much as a convolution, so the data movement is done here in plain JS on the heap instead:
 *
 * - dx (and conv2dTranspose's forward pass), `conv2DBackpropInputWasm`: per stride phase, a
 *   stride-1 convolution of dy with the filter taps of that phase, interleaved into dx; or, when
 *   the input has few channels, all phases in one convolution with a combined filter, then a
 *   depth-to-space. Stride 1 is one convolution with the rotated filter.
 * - dW, `conv2DBackpropFilterWasm`: im2col(x)^T x dy as GEMMs over chunks of output positions.
 *
 * Costs that shaped this (measured on this machine, wasm, single thread): XNNPACK packs its
 * weights operand on every call with a new buffer (steady state ~3 ns per float for a matMul's b,
 * ~11 ns for a convolution's filter, which tfjs also transposes first; several times that the
 * first time the heap grows); a JS element loop moves a float in 1-2 ns, `copyWithin` of runs of
 * >= 32 floats in 0.3-0.6 ns.
 */
import * as tf from '@tensorflow/tfjs';
import type { Conv2DBackpropFilterAttrs } from '@tensorflow/tfjs';
import { allocF32, f32, floatIndex } from './wasm-heap';

type Pad = Conv2DBackpropFilterAttrs['pad'];
type Shape4 = [number, number, number, number];
type DimRounding = 'floor' | 'round' | 'ceil' | undefined;
type ConvInfo = tf.backend_util.Conv2DInfo;

/** Largest im2col buffer dW builds at once, in floats (64 MB). */
export const DEFAULT_IM2COL_FLOATS = 16 * 1024 * 1024;
/**
 * dy floats per dW GEMM. XNNPACK packs this chunk (its `b`) and streams it once per 4 rows of
 * im2col^T, so it should stay in cache; smaller chunks cost more calls. Measured with fresh dy:
 * 256K floats beat one GEMM over all positions by 2-35% (most on the 64 px, few-channel layers).
 */
export const DEFAULT_DY_CHUNK_FLOATS = 256 * 1024;
/**
 * dx: below this many input channels, all stride phases go into one convolution (per-phase
 * convolutions would have too few output channels for XNNPACK's 8-wide tiles).
 */
export const COMBINED_PHASES_BELOW_CHANNELS = 8;

function checkFloat(kernel: string, name: string, t: tf.Tensor): void {
  if (t.dtype !== 'float32') throw new Error(`${kernel}: '${name}' must be float32, got ${t.dtype} [${t.shape.join(', ')}]`);
}

/** A Float32Array over the whole wasm heap and the offset (in floats) of each tensor in it. Take after allocating. */
function heapOf(...ts: tf.Tensor[]): { heap: Float32Array; at: number[] } {
  const views = ts.map((t) => f32(t));
  return { heap: new Float32Array(views[0].buffer), at: views.map(floatIndex) };
}

/**
 * Writes the [ci, co] matrix at src[s0 + c*co + o] transposed into dst[d0 + o*dstRow + c], in
 * 16 x 16 tiles (a plain loop over either index misses the cache on one side for large co).
 */
function transposeTap(src: Float32Array, s0: number, dst: Float32Array, d0: number, ci: number, co: number, dstRow: number): void {
  const T = 16;
  for (let c0 = 0; c0 < ci; c0 += T) {
    const c1 = Math.min(ci, c0 + T);
    for (let o0 = 0; o0 < co; o0 += T) {
      const o1 = Math.min(co, o0 + T);
      for (let o = o0; o < o1; o++) {
        let s = s0 + c0 * co + o;
        const d = d0 + o * dstRow;
        for (let c = c0; c < c1; c++, s += co) dst[d + c] = src[s];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// dx

/**
 * One spatial axis of the transposed convolution. With g = h + pad (the padded input coordinate),
 * input row g receives dy[i] * W[k] for every k = g - i*s in [0, K). Rows with g = j*s + p (phase
 * p) only meet the taps k = p + m*s, m < ceil((K - p) / s).
 */
interface Axis {
  k: number;
  s: number;
  pad: number;
  size: number;
  dySize: number;
}

/**
 * A stride-1 'valid' convolution over dy computing output rows j' = 0..count-1, window position t
 * (of `taps`) reading dy[j' + t - before]: `before`/`after` are the zero rows to add to dy (negative:
 * rows of dy to drop, only with pads larger than the filter).
 */
interface Window {
  taps: number;
  count: number;
  before: number;
  after: number;
}

function windowOf(taps: number, first: number, count: number, dySize: number): Window {
  // Output j' (block j = first + j') reads dy[j - taps + 1 .. j]: padded index j' + t <-> dy[j' + t - before].
  const before = taps - 1 - first;
  return { taps, count, before, after: count + taps - 1 - before - dySize };
}

/** Phase p of an axis: its taps, its input rows g = (first + j')*s + p, j' < count, and its window over dy. */
function phaseWindow(a: Axis, p: number): Window & { first: number } {
  const taps = p < a.k ? Math.ceil((a.k - p) / a.s) : 0;
  const first = Math.ceil((a.pad - p) / a.s);
  const last = Math.floor((a.pad + a.size - 1 - p) / a.s);
  const count = Math.max(0, last - first + 1);
  return { ...windowOf(Math.max(taps, 1), first, count, a.dySize), taps, first };
}

/** All phases at once: blocks j = first..first+count-1 of s rows (g = j*s + p), window ceil(K/s). */
function blockWindow(a: Axis): Window & { first: number } {
  const taps = Math.ceil(a.k / a.s);
  const first = Math.floor(a.pad / a.s);
  const last = Math.floor((a.pad + a.size - 1) / a.s);
  return { ...windowOf(taps, first, last - first + 1, a.dySize), first };
}

/** conv2d(dy, w) 'valid' after adding/dropping the window's rows and columns of dy. */
function convWindow(dy: tf.Tensor4D, w: tf.Tensor4D, rows: Window, cols: Window): tf.Tensor4D {
  const [n, oh, ow, co] = dy.shape;
  const cropTop = Math.max(0, -rows.before);
  const cropBottom = Math.max(0, -rows.after);
  const cropLeft = Math.max(0, -cols.before);
  const cropRight = Math.max(0, -cols.after);
  const d = cropTop + cropBottom + cropLeft + cropRight > 0 ? tf.slice(dy, [0, cropTop, cropLeft, 0], [n, oh - cropTop - cropBottom, ow - cropLeft - cropRight, co]) : dy;
  return tf.conv2d(d, w, 1, [
    [0, 0],
    [Math.max(0, rows.before), Math.max(0, rows.after)],
    [Math.max(0, cols.before), Math.max(0, cols.after)],
    [0, 0],
  ]);
}

/**
 * The filter of phase (ph, pw) as a stride-1 filter over dy: [mh, mw, co, ci] with
 * [t, u, o, c] = W[ph + (mh-1-t)*sh, pw + (mw-1-u)*sw, c, o] (taps reversed, channels swapped).
 * Stride 1, phase (0, 0): the whole filter rotated by 180 degrees.
 */
function phaseFilter(filter: tf.Tensor4D, sh: number, sw: number, ph: number, pw: number, mh: number, mw: number): tf.Tensor4D {
  const [, fw, ci, co] = filter.shape;
  const out = allocF32([mh, mw, co, ci]) as tf.Tensor4D;
  const src = f32(filter);
  const dst = f32(out);
  for (let t = 0; t < mh; t++) {
    const kh = ph + (mh - 1 - t) * sh;
    for (let u = 0; u < mw; u++) {
      const kw = pw + (mw - 1 - u) * sw;
      transposeTap(src, (kh * fw + kw) * ci * co, dst, (t * mw + u) * co * ci, ci, co, ci);
    }
  }
  return out;
}

/**
 * All phases' filters in one: [Th, Tw, co, sh*sw*ci], output channel (ph*sw + pw)*ci + c of window
 * tap (t, u) is W[(Th-1-t)*sh + ph, (Tw-1-u)*sw + pw, c, :], zero where that tap is past the filter.
 */
function combinedFilter(filter: tf.Tensor4D, sh: number, sw: number, th: number, tw: number): tf.Tensor4D {
  const [fh, fw, ci, co] = filter.shape;
  const width = sh * sw * ci;
  const out = allocF32([th, tw, co, width]) as tf.Tensor4D;
  const src = f32(filter);
  const dst = f32(out);
  for (let t = 0; t < th; t++) {
    for (let u = 0; u < tw; u++) {
      const base = (t * tw + u) * co * width;
      for (let ph = 0; ph < sh; ph++) {
        const kh = (th - 1 - t) * sh + ph;
        for (let pw = 0; pw < sw; pw++) {
          const kw = (tw - 1 - u) * sw + pw;
          const d0 = base + (ph * sw + pw) * ci;
          if (kh < fh && kw < fw) transposeTap(src, (kh * fw + kw) * ci * co, dst, d0, ci, co, width);
          else for (let o = 0; o < co; o++) dst.fill(0, d0 + o * width, d0 + o * width + ci);
        }
      }
    }
  }
  return out;
}

/** How dx is computed for stride > 1 (see `conv2DBackpropInputWasm`); 'auto' picks by input channels. */
export type PhaseStrategy = 'auto' | 'per-phase' | 'combined';

/**
 * Gradient of conv2d with respect to its input, also the forward pass of conv2dTranspose:
 * dx[h] = sum over (i, k) with h + top = i*s + k of dy[i] W[k], on both spatial axes.
 *
 * Stride 1: one XNNPACK convolution of dy with the filter rotated by 180 degrees and its channels
 * swapped (built in JS), padded so that its output is dx itself.
 *
 * Stride s > 1, 'per-phase': the input pixels with (h + top) mod sh = ph and (w + left) mod sw = pw
 * only meet the taps kh = ph + m*sh, kw = pw + m'*sw, so each of the sh*sw phases is one stride-1
 * convolution of dy with those taps, exactly the forward convolution's arithmetic in total; one JS
 * pass interleaves the phases into dx. 'combined' (for few input channels, where a phase alone
 * would give XNNPACK too few output channels): one convolution over blocks of s x s pixels with a
 * filter holding every phase's taps (ceil(k/s)^2 s^2 taps per block against k^2: 16/9 for 3x3
 * stride 2, equal for 4x4 stride 2), then a depth-to-space pass that also crops.
 */
export function conv2DBackpropInputWasm(inputShape: Shape4, dy: tf.Tensor4D, filter: tf.Tensor4D, strides: [number, number] | number, pad: Pad, dimRoundingMode?: DimRounding, strategy: PhaseStrategy = 'auto'): tf.Tensor4D {
  const kernel = 'Conv2DBackpropInput';
  checkFloat(kernel, 'dy', dy);
  checkFloat(kernel, 'filter', filter);
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight, inWidth, inChannels: ci, outHeight, outWidth, batchSize, outChannels } = info;
  if (dy.shape[0] !== batchSize || dy.shape[1] !== outHeight || dy.shape[2] !== outWidth || dy.shape[3] !== outChannels) {
    throw new Error(`${kernel}: dy is [${dy.shape.join(', ')}] but a [${inputShape.join(', ')}] input convolved with filter [${filter.shape.join(', ')}] gives [${batchSize}, ${outHeight}, ${outWidth}, ${outChannels}]`);
  }
  if (dy.size === 0) return tf.zeros(inputShape); // no window: no gradient
  const rows: Axis = { k: fh, s: sh, pad: info.padInfo.top, size: inHeight, dySize: outHeight };
  const cols: Axis = { k: fw, s: sw, pad: info.padInfo.left, size: inWidth, dySize: outWidth };
  return tf.tidy(() => {
    if (sh === 1 && sw === 1) {
      // One phase: the convolution's output rows are exactly dx's.
      const w = phaseFilter(filter, 1, 1, 0, 0, fh, fw);
      return convWindow(dy, w, phaseWindow(rows, 0), phaseWindow(cols, 0));
    }
    const combined = strategy === 'combined' || (strategy === 'auto' && ci < COMBINED_PHASES_BELOW_CHANNELS);
    return combined ? backpropInputCombined(inputShape, dy, filter, rows, cols) : backpropInputPerPhase(inputShape, dy, filter, rows, cols);
  });
}

function backpropInputPerPhase(inputShape: Shape4, dy: tf.Tensor4D, filter: tf.Tensor4D, rows: Axis, cols: Axis): tf.Tensor4D {
  const [n, height, width, ci] = inputShape;
  const phases: Array<{ z: tf.Tensor4D | null; h0: number; w0: number; count: [number, number] }> = [];
  for (let ph = 0; ph < rows.s; ph++) {
    const r = phaseWindow(rows, ph);
    for (let pw = 0; pw < cols.s; pw++) {
      const c = phaseWindow(cols, pw);
      if (r.count === 0 || c.count === 0) continue;
      // first input row/column of the phase: g = first*s + p, h = g - pad
      const h0 = r.first * rows.s + ph - rows.pad;
      const w0 = c.first * cols.s + pw - cols.pad;
      const z = r.taps === 0 || c.taps === 0 ? null : convWindow(dy, phaseFilter(filter, rows.s, cols.s, ph, pw, r.taps, c.taps), r, c);
      phases.push({ z, h0, w0, count: [r.count, c.count] });
    }
  }
  // Every input pixel belongs to exactly one phase, so every element of dx is written once.
  const out = allocF32(inputShape) as tf.Tensor4D;
  const dst = f32(out);
  for (const { z, h0, w0, count } of phases) {
    const [cr, cc] = count;
    const src = z ? f32(z) : null;
    let s = 0;
    for (let b = 0; b < n; b++) {
      for (let j = 0; j < cr; j++) {
        let d = ((b * height + h0 + j * rows.s) * width + w0) * ci;
        for (let q = 0; q < cc; q++, d += cols.s * ci) {
          if (src) for (let c = 0; c < ci; c++) dst[d + c] = src[s++];
          else dst.fill(0, d, d + ci);
        }
      }
    }
  }
  return out;
}

function backpropInputCombined(inputShape: Shape4, dy: tf.Tensor4D, filter: tf.Tensor4D, rows: Axis, cols: Axis): tf.Tensor4D {
  const [n, height, width, ci] = inputShape;
  const { s: sh, pad: top } = rows;
  const { s: sw, pad: left } = cols;
  const r = blockWindow(rows);
  const c = blockWindow(cols);
  const z = convWindow(dy, combinedFilter(filter, sh, sw, r.taps, c.taps), r, c); // [n, blocks_h, blocks_w, sh*sw*ci]
  // Depth-to-space and crop: input pixel (h, w) is block ((h + top)/sh - first_h, (w + left)/sw - first_w),
  // channel group ((h + top) % sh) * sw + (w + left) % sw.
  const out = allocF32(inputShape) as tf.Tensor4D;
  const src = f32(z);
  const dst = f32(out);
  const block = sh * sw * ci;
  let d = 0;
  for (let b = 0; b < n; b++) {
    for (let h = 0; h < height; h++) {
      const g = h + top;
      const rowBase = ((b * r.count + Math.floor(g / sh) - r.first) * c.count - c.first) * block + (g % sh) * sw * ci;
      for (let w = 0; w < width; w++) {
        const gw = w + left;
        let s = rowBase + Math.floor(gw / sw) * block + (gw % sw) * ci;
        for (let k = 0; k < ci; k++) dst[d++] = src[s++];
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// dW

/**
 * x rearranged so that every im2col row is a run of contiguous floats: planes[c][i][ph][pw] of
 * [hq, wq] (channel c from c * cStride) with plane[u][v] = x[i, u*sh + ph - top, v*sw + pw - left, c] (zero in the padding).
 * Tap (kh, kw) = (qh*sh + ph, qw*sw + pw) at output position (a, b) reads plane[a + qh][b + qw]:
 * for fixed (kh, kw, c, i, a), the ow positions b are one run.
 */
function phasePlanes(x: tf.Tensor4D, info: ConvInfo): { planes: tf.Tensor; hq: number; wq: number; cStride: number } {
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight: height, inWidth: width, inChannels: ci, outHeight: oh, outWidth: ow, batchSize: n } = info;
  const { top, left } = info.padInfo;
  const hq = oh + Math.floor((fh - 1) / sh);
  const wq = ow + Math.floor((fw - 1) / sw);
  // Channel c starts at c * cStride. The 16-float gap keeps the stride off powers of two: the ci
  // writes per pixel below would otherwise share one cache set (x [32, 64, 64, 32]: 30 ms -> 8 ms).
  const cStride = n * sh * sw * hq * wq + 16;
  const planes = allocF32([ci * cStride]);
  const src = f32(x);
  const dst = f32(planes);
  // Reads x in order; each pixel's ci values go to ci planes (ci cache lines in use, filled by the next pixels).
  let d = 0; // index of (c = 0, i, ph, pw, u, v), in that order
  for (let i = 0; i < n; i++) {
    for (let ph = 0; ph < sh; ph++) {
      for (let pw = 0; pw < sw; pw++) {
        for (let u = 0; u < hq; u++) {
          const r = u * sh + ph - top;
          const rowInside = r >= 0 && r < height;
          for (let v = 0; v < wq; v++, d++) {
            const col = v * sw + pw - left;
            if (rowInside && col >= 0 && col < width) {
              const s = ((i * height + r) * width + col) * ci;
              for (let c = 0, dc = d; c < ci; c++, dc += cStride) dst[dc] = src[s + c];
            } else {
              for (let c = 0, dc = d; c < ci; c++, dc += cStride) dst[dc] = 0;
            }
          }
        }
      }
    }
  }
  return { planes, hq, wq, cStride };
}

/** Runs at least this long are copied with `copyWithin` (a call costs ~17 ns; an element loop ~1 ns per float). */
const MIN_COPYWITHIN_RUN = 32;

/**
 * im2col(x)^T for output rows [r0, r0 + rows) of the flattened (image, output row) list, from the
 * phase planes: a [fh*fw*ci, rows*ow] matrix, row (kh, kw, c) holding x[image, a*sh + kh - top,
 * b*sw + kw - left, c] at column (image, a, b) - relative to r0.
 */
function im2colT(p: { planes: tf.Tensor; hq: number; wq: number; cStride: number }, r0: number, rows: number, info: ConvInfo): tf.Tensor2D {
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inChannels: ci, outHeight: oh, outWidth: ow } = info;
  const { planes, hq, wq, cStride } = p;
  const positions = rows * ow;
  const out = allocF32([fh * fw * ci, positions]) as tf.Tensor2D;
  const {
    heap,
    at: [p0, o0],
  } = heapOf(planes, out);
  const plane = hq * wq;
  const useCopyWithin = ow >= MIN_COPYWITHIN_RUN;
  const image0 = Math.floor(r0 / oh);
  const a0 = r0 % oh;
  let d = o0;
  for (let kh = 0; kh < fh; kh++) {
    const ph = kh % sh;
    const qh = (kh - ph) / sh;
    for (let kw = 0; kw < fw; kw++) {
      const pw = kw % sw;
      const qw = (kw - pw) / sw;
      for (let c = 0; c < ci; c++) {
        // output rows (image, a) from (image0, a0), `rows` of them
        for (let q = 0, image = image0, a = a0; q < rows; q++, d += ow) {
          const s = p0 + c * cStride + ((image * sh + ph) * sw + pw) * plane + (a + qh) * wq + qw;
          if (useCopyWithin) heap.copyWithin(d, s, s + ow);
          else for (let b = 0; b < ow; b++) heap[d + b] = heap[s + b];
          if (++a === oh) {
            a = 0;
            image++;
          }
        }
      }
    }
  }
  return out;
}

/** Rows [r0, r0 + rows) of the [*, co] matrix m (any shape with that layout), copied to a new [rows, co] tensor. */
function rowSlice(m: tf.Tensor, co: number, r0: number, rows: number): tf.Tensor2D {
  const out = allocF32([rows, co]) as tf.Tensor2D;
  f32(out).set(f32(m).subarray(r0 * co, (r0 + rows) * co));
  return out;
}

/**
 * dW as one forward convolution: dW[kh, kw, ci, co] = sum over (n, a, b) of
 * x[n, a*sh - top + kh, b*sw - left + kw, ci] * dy[n, a, b, co] is conv2d(x^T, dy^T, dilation = stride)
 * with x as [ci, H, W, n] (the batch becomes the contracted channel axis) and dy as an [oh, ow, n, co]
 * filter; the output [ci, >= kh, >= kw, co] is cropped and transposed to the filter layout. XNNPACK
 * then packs dy (as a filter: ~20 ns per float) instead of reading an im2col matrix K = kh*kw*ci
 * times the size of the output positions, which wins when K is large against co (a 7x7 layer with
 * 64 inputs and 3 outputs: 290 ms against 480 ms for the GEMM).
 */
function backpropFilterByConv(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: Shape4, info: ConvInfo): tf.Tensor4D {
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw, inHeight, inWidth, outHeight, outWidth } = info;
  const { top, left } = info.padInfo;
  // Rows needed so that the dilated "filter" dy (extent (oh - 1)*sh + 1) yields fh output rows.
  const bottom = fh + (outHeight - 1) * sh - inHeight - top;
  const right = fw + (outWidth - 1) * sw - inWidth - left;
  const xt = tf.transpose(x, [3, 1, 2, 0]); // [ci, H, W, n]
  const dyt = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, n, co]
  const full = tf.conv2d(
    xt,
    dyt,
    1,
    [
      [0, 0],
      [top, Math.max(0, bottom)],
      [left, Math.max(0, right)],
      [0, 0],
    ],
    'NHWC',
    [sh, sw],
  ); // [ci, >= fh, >= fw, co]
  const cropped = full.shape[1] === fh && full.shape[2] === fw ? full : tf.slice(full, [0, 0, 0, 0], [-1, fh, fw, -1]);
  return tf.reshape(tf.transpose(cropped, [1, 2, 0, 3]), filterShape); // [fh, fw, ci, co]
}

/** dW takes the convolution path when kh*kw*ci exceeds this many times co (see `backpropFilterByConv`). */
export const CONV_PATH_ABOVE_K_PER_CO = 32;

/** Options of `conv2DBackpropFilterWasm` (the defaults are measured; tests force small chunks and each path). */
export interface BackpropFilterOptions {
  /** 'auto' (default) picks by kh*kw*ci against co; 'gemm' and 'conv' force a path. */
  method?: 'auto' | 'gemm' | 'conv';
  /** dy floats per GEMM (whole output rows, at least one). */
  chunkFloats?: number;
  /** Upper bound on one im2col buffer, in floats (whole output rows, at least one). */
  maxIm2colFloats?: number;
}

/**
 * Gradient of conv2d with respect to its filter, as GEMMs (or, when kh*kw*ci is large against co,
 * one convolution: `backpropFilterByConv`):
 * dW[(kh, kw, ci), co] = im2col(x)^T [fh*fw*ci, n*oh*ow] x dy [n*oh*ow, co].
 *
 * x is first rearranged into phase planes (one JS pass) so that im2col(x)^T is built from
 * contiguous runs; it is built transposed so that the matMul needs no transpose flag (wasm takes
 * XNNPACK only for an untransposed, unbatched matMul) and its [fh*fw*ci, co] result is already
 * the filter layout. The output positions are split into chunks of whole output rows: XNNPACK
 * packs each chunk of dy (copied, so it never meets a buffer XNNPACK has cached under another
 * shape) and the packed chunk should stay in cache (`chunkFloats`); the im2col buffer stays
 * bounded (`maxIm2colFloats`). The chunks' products are summed.
 */
export function conv2DBackpropFilterWasm(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: Shape4, strides: [number, number] | number, pad: Pad, dimRoundingMode?: DimRounding, options: BackpropFilterOptions = {}): tf.Tensor4D {
  const kernel = 'Conv2DBackpropFilter';
  checkFloat(kernel, 'x', x);
  checkFloat(kernel, 'dy', dy);
  const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, 'channelsLast');
  const { batchSize: n, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: fh, filterWidth: fw, inChannels: ci } = info;
  if (dy.shape[0] !== n || dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== co) {
    throw new Error(`${kernel}: dy is [${dy.shape.join(', ')}] but x [${x.shape.join(', ')}] convolved with a [${filterShape.join(', ')}] filter gives [${n}, ${oh}, ${ow}, ${co}]`);
  }
  if (dy.size === 0) return tf.zeros(filterShape); // no window: no gradient
  const method = options.method ?? 'auto';
  if (method === 'conv' || (method === 'auto' && fh * fw * ci > CONV_PATH_ABOVE_K_PER_CO * co)) return tf.tidy(() => backpropFilterByConv(x, dy, filterShape, info));
  const totalRows = n * oh;
  const byCache = Math.floor((options.chunkFloats ?? DEFAULT_DY_CHUNK_FLOATS) / (co * ow));
  const byMemory = Math.floor((options.maxIm2colFloats ?? DEFAULT_IM2COL_FLOATS) / (fh * fw * ci * ow));
  const rowsPerChunk = Math.max(1, Math.min(totalRows, byCache, byMemory));
  return tf.tidy(() => {
    const planes = phasePlanes(x, info);
    let acc: tf.Tensor | null = null;
    for (let r0 = 0; r0 < totalRows; r0 += rowsPerChunk) {
      const rows = Math.min(rowsPerChunk, totalRows - r0);
      const cols = im2colT(planes, r0, rows, info);
      const g = rowSlice(dy, co, r0 * ow, rows * ow);
      const part = tf.matMul(cols, g);
      tf.dispose([cols, g]); // bound the heap: one chunk at a time
      if (acc) {
        const sum: tf.Tensor = tf.add(acc, part);
        tf.dispose([acc, part]);
        acc = sum;
      } else acc = part;
    }
    return tf.reshape(acc as tf.Tensor, filterShape);
  });
}
