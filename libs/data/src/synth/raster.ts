/**
 * Rendering primitives on plain typed arrays (RGB floats in [0, 1], HWC): value noise fields and
 * anti-aliased discs and capsules (line segments with round ends) blended over the image.
 */

/** Math through a module binding: under Jest's vm context every global lookup (`Math`) is slow in hot loops. */
const M = Math;

export type Rgb = readonly [number, number, number];

/** Anything that draws uniform numbers in [0, 1): the core Rng, or a Uniform stream. */
export interface UniformSource {
  next(): number;
}

/**
 * A small fast stream (mulberry32) for the bulk draws of one image (noise lattices, sensor noise),
 * seeded from the image's Rng: plain integer arithmetic, no state objects.
 */
export class Uniform implements UniformSource {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = M.imul(t ^ (t >>> 15), t | 1);
    t ^= t + M.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** A pixel rectangle [x0, x1) x [y0, y1). */
export interface Box {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/**
 * Value noise on a size x size raster: random values on a lattice of `cells` cells across the
 * image, interpolated with a cubic B-spline (smooth, without the grid-aligned creases of bilinear
 * or smoothstep interpolation), `octaves` octaves each twice as fine and half as strong. Separable:
 * each lattice row is interpolated along x once, then each pixel combines four rows. Standard
 * deviation about 0.5, values within about [-1.3, 1.3]. With `box`, only the pixels inside it are
 * computed (the rest stay 0); the lattice, and so the values inside the box, are as without it.
 */
export function valueNoise(rng: UniformSource, size: number, cells: number, octaves = 1, box?: Box): Float32Array {
  const out = new Float32Array(size * size);
  const bx0 = box?.x0 ?? 0;
  const bx1 = box?.x1 ?? size;
  const by0 = box?.y0 ?? 0;
  const by1 = box?.y1 ?? size;
  const w = bx1 - bx0;
  let amp = 1;
  let total = 0;
  const ix = new Int32Array(size);
  const wx = new Float32Array(size * 4);
  for (let o = 0; o < octaves; o++) {
    const c = M.max(1, M.round(cells * 2 ** o));
    const g = c + 3;
    const grid = new Float32Array(g * g);
    for (let i = 0; i < grid.length; i++) grid[i] = rng.next() * 2 - 1;
    for (let x = 0; x < size; x++) {
      const gx = ((x + 0.5) / size) * c;
      const i = M.floor(gx);
      const f = gx - i;
      const f2 = f * f;
      const f3 = f2 * f;
      ix[x] = i;
      wx[4 * x] = (1 - f) * (1 - f) * (1 - f) / 6;
      wx[4 * x + 1] = (3 * f3 - 6 * f2 + 4) / 6;
      wx[4 * x + 2] = (-3 * f3 + 3 * f2 + 3 * f + 1) / 6;
      wx[4 * x + 3] = f3 / 6;
    }
    // rows[j][x - bx0]: lattice row j interpolated along x.
    const rows = new Float32Array(g * w);
    for (let j = 0; j < g; j++) {
      const row = j * g;
      for (let x = bx0; x < bx1; x++) {
        const i = row + ix[x];
        rows[j * w + x - bx0] = wx[4 * x] * grid[i] + wx[4 * x + 1] * grid[i + 1] + wx[4 * x + 2] * grid[i + 2] + wx[4 * x + 3] * grid[i + 3];
      }
    }
    for (let y = by0; y < by1; y++) {
      const r0 = ix[y] * w - bx0;
      const w0 = wx[4 * y] * amp;
      const w1 = wx[4 * y + 1] * amp;
      const w2 = wx[4 * y + 2] * amp;
      const w3 = wx[4 * y + 3] * amp;
      const base = y * size;
      for (let x = bx0; x < bx1; x++) {
        const k = r0 + x;
        out[base + x] += w0 * rows[k] + w1 * rows[k + w] + w2 * rows[k + 2 * w] + w3 * rows[k + 3 * w];
      }
    }
    total += amp * amp;
    amp *= 0.5;
  }
  // A B-spline average of uniform [-1, 1] values has a standard deviation of about 0.275 (measured); scale to 0.5.
  const k = 0.5 / (0.275 * M.sqrt(total));
  for (let y = by0; y < by1; y++) for (let x = bx0; x < bx1; x++) out[y * size + x] *= k;
  return out;
}

/** Smooth periodic 1-D noise over the angle, as a lookup table: sum of cosines with random phases. */
export function angularNoise(rng: UniformSource, n: number, harmonics: readonly number[], amplitudes: readonly number[]): Float32Array {
  const out = new Float32Array(n);
  for (let h = 0; h < harmonics.length; h++) {
    const k = harmonics[h];
    const a = amplitudes[h] * (0.5 + rng.next());
    const phase = rng.next() * 2 * M.PI;
    for (let i = 0; i < n; i++) out[i] += a * M.cos((k * 2 * M.PI * i) / n + phase);
  }
  return out;
}

export function smoothstep(e0: number, e1: number, x: number): number {
  const t = M.min(1, M.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** Blends `colour` over pixel p with weight a (0..1). */
function blend(img: Float32Array, p: number, colour: Rgb, a: number): void {
  img[p] += (colour[0] - img[p]) * a;
  img[p + 1] += (colour[1] - img[p + 1]) * a;
  img[p + 2] += (colour[2] - img[p + 2]) * a;
}

/**
 * A disc at (cx, cy) of radius r pixels, with an edge `soft` pixels wide (at least one pixel, so
 * small discs still anti-alias); radius below half a pixel fades the opacity instead.
 */
export function drawDisc(img: Float32Array, size: number, cx: number, cy: number, r: number, colour: Rgb, alpha: number, soft = 1): void {
  if (r < 0.5) {
    alpha *= r / 0.5;
    r = 0.5;
  }
  const w = M.max(1, soft);
  const x0 = M.max(0, M.floor(cx - r - w));
  const x1 = M.min(size - 1, M.ceil(cx + r + w));
  const y0 = M.max(0, M.floor(cy - r - w));
  const y1 = M.min(size - 1, M.ceil(cy + r + w));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const ex = x + 0.5 - cx;
      const ey = y + 0.5 - cy;
      const d = M.sqrt(ex * ex + ey * ey);
      const cover = 1 - smoothstep(r - w / 2, r + w / 2, d);
      if (cover > 0) blend(img, (y * size + x) * 3, colour, alpha * cover);
    }
  }
}

let scratch = new Float32Array(0);

/** Coverage of a capsule from (ax, ay) to (bx, by), half-width hw, max-ed into `mask`; returns its bounding box. */
function coverSegment(mask: Float32Array, size: number, ax: number, ay: number, bx: number, by: number, hw: number, gain: number, box: number[]): void {
  const minX = M.max(0, M.floor(M.min(ax, bx) - hw - 1));
  const maxX = M.min(size - 1, M.ceil(M.max(ax, bx) + hw + 1));
  const minY = M.max(0, M.floor(M.min(ay, by) - hw - 1));
  const maxY = M.min(size - 1, M.ceil(M.max(ay, by) + hw + 1));
  if (minX > maxX || minY > maxY) return;
  box[0] = M.min(box[0], minX);
  box[1] = M.max(box[1], maxX);
  box[2] = M.min(box[2], minY);
  box[3] = M.max(box[3], maxY);
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy || 1e-9;
  for (let y = minY; y <= maxY; y++) {
    for (let x = minX; x <= maxX; x++) {
      const px = x + 0.5 - ax;
      const py = y + 0.5 - ay;
      const t = M.min(1, M.max(0, (px * dx + py * dy) / len2));
      const qx = px - t * dx;
      const qy = py - t * dy;
      const d = M.sqrt(qx * qx + qy * qy);
      const cover = M.min(1, M.max(0, hw + 0.5 - d)) * gain;
      const p = y * size + x;
      if (cover > mask[p]) mask[p] = cover;
    }
  }
}

/**
 * A polyline (points as [x0, y0, x1, y1, ...]) of capsules, half-width going from hw0 to hw1 along
 * it; coverage is the maximum over segments (joints are not blended twice). Thinner than half a
 * pixel fades the opacity instead.
 */
export function drawPolyline(img: Float32Array, size: number, pts: number[], hw0: number, hw1: number, colour: Rgb, alpha: number): void {
  if (scratch.length < size * size) scratch = new Float32Array(size * size);
  const mask = scratch;
  const box = [size, -1, size, -1];
  const n = pts.length / 2;
  for (let i = 0; i + 1 < n; i++) {
    const t = n <= 2 ? 0 : i / (n - 2);
    const hw = hw0 + (hw1 - hw0) * t;
    // Thinner than half a pixel: drawn half a pixel wide, fainter (folded into the coverage).
    coverSegment(mask, size, pts[2 * i], pts[2 * i + 1], pts[2 * i + 2], pts[2 * i + 3], M.max(hw, 0.5), hw < 0.5 ? hw / 0.5 : 1, box);
  }
  for (let y = box[2]; y <= box[3]; y++) {
    for (let x = box[0]; x <= box[1]; x++) {
      const p = y * size + x;
      if (mask[p] > 0) {
        blend(img, p * 3, colour, alpha * mask[p]);
        mask[p] = 0;
      }
    }
  }
}

/** A single segment (see drawPolyline). */
export function drawSegment(img: Float32Array, size: number, ax: number, ay: number, bx: number, by: number, hw: number, colour: Rgb, alpha: number): void {
  drawPolyline(img, size, [ax, ay, bx, by], hw, hw, colour, alpha);
}
