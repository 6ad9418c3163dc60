/**
 * A cheap separability proxy for the synthetic set: hand-made ABCD-style features per image and a
 * logistic regression. Not the study's classifier; it checks that the classes differ (well above
 * chance) but overlap (far from perfect), in tests and in the calibration measurement.
 */
import type { ImageSet } from '../types';

/** Math through a module binding: under Jest's vm context every global lookup (`Math`) is slow in hot loops. */
const M = Math;

/** Per image: lesion area, contrast, colour spread, blueness, darkest tail, asymmetry, border roughness. */
export function lesionFeatures(set: ImageSet): Float64Array[] {
  const S = set.size;
  const n = set.labels.length;
  const stride = S * S * 3;
  const out: Float64Array[] = [];
  const lum = new Float32Array(S * S);
  const mask = new Uint8Array(S * S);
  for (let k = 0; k < n; k++) {
    const px = set.images.subarray(k * stride, (k + 1) * stride);
    for (let i = 0; i < S * S; i++) lum[i] = (px[3 * i] + px[3 * i + 1] + px[3 * i + 2]) / 3;
    // Skin level: median luminance of the outer ring.
    const ring: number[] = [];
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) if (x < S / 8 || x >= (7 * S) / 8 || y < S / 8 || y >= (7 * S) / 8) ring.push(lum[y * S + x]);
    ring.sort((a, b) => a - b);
    const skin = ring[ring.length >> 1];
    let area = 0;
    let sx = 0;
    let sy = 0;
    const sums = [0, 0, 0];
    const sq = [0, 0, 0];
    let blue = 0;
    const inside: number[] = [];
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = y * S + x;
        mask[i] = lum[i] < skin - 0.15 ? 1 : 0;
        if (!mask[i]) continue;
        area++;
        sx += x;
        sy += y;
        inside.push(lum[i]);
        for (let c = 0; c < 3; c++) {
          sums[c] += px[3 * i + c];
          sq[c] += px[3 * i + c] ** 2;
        }
        blue += px[3 * i + 2] - px[3 * i];
      }
    }
    const a = M.max(1, area);
    const mx = sx / a;
    const my = sy / a;
    let asym = 0;
    let perimeter = 0;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const i = y * S + x;
        if (!mask[i]) continue;
        const fx = M.round(2 * mx - x);
        const fy = M.round(2 * my - y);
        if (fx < 0 || fy < 0 || fx >= S || fy >= S || !mask[fy * S + fx]) asym++;
        if (x === 0 || y === 0 || x === S - 1 || y === S - 1 || !mask[i - 1] || !mask[i + 1] || !mask[i - S] || !mask[i + S]) perimeter++;
      }
    }
    inside.sort((p, q) => p - q);
    const variance = [0, 1, 2].reduce((s, c) => s + sq[c] / a - (sums[c] / a) ** 2, 0);
    out.push(
      Float64Array.from([
        area / (S * S),
        skin - sums.reduce((s, v) => s + v, 0) / (3 * a),
        M.sqrt(M.max(0, variance)),
        blue / a,
        inside.length > 0 ? skin - inside[M.floor(inside.length * 0.05)] : 0,
        asym / a,
        perimeter / M.sqrt(a),
      ]),
    );
  }
  return out;
}

/** Fits a logistic regression (standardized features, full-batch gradient descent) on binary labels. */
export function fitLogistic(x: Float64Array[], y: ArrayLike<number>, opts: { steps?: number; lr?: number; balanced?: boolean } = {}): (f: Float64Array) => number {
  const d = x[0].length;
  const n = x.length;
  const mean = new Float64Array(d);
  const sd = new Float64Array(d);
  for (const f of x) for (let j = 0; j < d; j++) mean[j] += f[j] / n;
  for (const f of x) for (let j = 0; j < d; j++) sd[j] += (f[j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) sd[j] = M.sqrt(sd[j]) || 1;
  const z = x.map((f) => f.map((v, j) => (v - mean[j]) / sd[j]));
  const pos = Array.from(y).filter((v) => v === 1).length;
  const wPos = opts.balanced ? n / (2 * M.max(1, pos)) : 1;
  const wNeg = opts.balanced ? n / (2 * M.max(1, n - pos)) : 1;
  const w = new Float64Array(d);
  let b = 0;
  const lr = opts.lr ?? 0.5;
  for (let step = 0; step < (opts.steps ?? 300); step++) {
    const gw = new Float64Array(d);
    let gb = 0;
    for (let i = 0; i < n; i++) {
      let s = b;
      for (let j = 0; j < d; j++) s += w[j] * z[i][j];
      const p = 1 / (1 + M.exp(-s));
      const e = (p - y[i]) * (y[i] === 1 ? wPos : wNeg);
      for (let j = 0; j < d; j++) gw[j] += (e * z[i][j]) / n;
      gb += e / n;
    }
    for (let j = 0; j < d; j++) w[j] -= lr * gw[j];
    b -= lr * gb;
  }
  return (f) => {
    let s = b;
    for (let j = 0; j < d; j++) s += (w[j] * (f[j] - mean[j])) / sd[j];
    return 1 / (1 + M.exp(-s));
  };
}

/** Accuracy of the proxy trained on `train` and scored on `test` (binary sets). */
export function proxyAccuracy(train: ImageSet, test: ImageSet): number {
  const predict = fitLogistic(lesionFeatures(train), train.labels);
  const fx = lesionFeatures(test);
  let right = 0;
  fx.forEach((f, i) => (right += (predict(f) >= 0.5 ? 1 : 0) === test.labels[i] ? 1 : 0));
  return right / fx.length;
}
