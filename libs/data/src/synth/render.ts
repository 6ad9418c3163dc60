/**
 * Renders one synthetic dermoscopy image at the requested size directly (no downscaling), from a
 * lesion's features and the image's own Rng:
 *   skin (tone, mottling, fine texture) -> lesion body (Fourier-perturbed ellipse, colour patches
 *   from per-pigment noise fields mixed by a softmax, pigment network, centre) -> erythema, scale ->
 *   dots, cysts, nests, streaks, vessels, fissures -> hair -> lighting gradient, dermoscope
 *   vignette, exposure, white balance, sensor noise.
 * Every geometric quantity is relative to the image size, so a 32 px and a 224 px image from the
 * same Rng show the same lesion.
 */
import type { Rng } from '@gan-study/core';
import { angularNoise, drawDisc, drawPolyline, smoothstep, Uniform, valueNoise, type Box, type Rgb } from './raster';
import { PALETTE, type LesionProfile, type Pigment } from './profiles';

/** Math through a module binding: under Jest's vm context every global lookup (`Math`) is slow in hot loops. */
const M = Math;

/** Skin tones from light to brown (class-independent; skewed towards light, as in ISIC images). */
const SKIN_TONES: Rgb[] = [
  [0.94, 0.8, 0.72],
  [0.87, 0.68, 0.57],
  [0.74, 0.54, 0.42],
  [0.52, 0.37, 0.28],
];
const SKIN_REF = SKIN_TONES[0];
const ANGLES = 256;
const TWO_PI = 2 * M.PI;

function mixRgb(a: Rgb, b: Rgb, t: number): [number, number, number] {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** RGB floats in [0, 1], HWC, size x size. */
export function renderLesion(rng: Rng, size: number, p: LesionProfile): Float32Array {
  const S = size;
  const img = new Float32Array(S * S * 3);

  // --- Nuisance, drawn first and the same way for every class.
  const toneT = rng.next() ** 1.8 * (SKIN_TONES.length - 1);
  const ti = M.min(SKIN_TONES.length - 2, M.floor(toneT));
  const skin = mixRgb(SKIN_TONES[ti], SKIN_TONES[ti + 1], toneT - ti);
  const zoom = M.exp(rng.normal(0, 0.15));
  const cx = S * (0.5 + rng.normal(0, 0.05));
  const cy = S * (0.5 + rng.normal(0, 0.05));
  const rot = rng.next() * TWO_PI;
  const light = rng.uniform(0, 0.25);
  const lightDir = rng.next() * TWO_PI;
  const vignette = rng.next() < 0.3 ? rng.uniform(0.4, 0.95) : 0;
  const vignetteAt = rng.uniform(0.8, 1.05);
  const exposure = M.exp(rng.normal(0, 0.07));
  const balance = [M.exp(rng.normal(0, 0.03)), M.exp(rng.normal(0, 0.03)), M.exp(rng.normal(0, 0.03))];
  const hairs = rng.next() < 0.55 ? 0 : 1 + rng.int(5);

  // Bulk draws (noise lattices, sensor noise) come from a fast stream seeded by the image's Rng.
  const bulk = new Uniform(rng.nextUint32());

  // --- Skin.
  const mottle = valueNoise(bulk, S, 3, 2);
  const fine = valueNoise(bulk, S, 22, 1);
  const redness = valueNoise(bulk, S, 2, 1);
  for (let i = 0, q = 0; i < S * S; i++, q += 3) {
    const m = 1 + 0.05 * mottle[i] + 0.035 * fine[i];
    const r = 0.03 * redness[i];
    img[q] = skin[0] * m + r;
    img[q + 1] = skin[1] * m - r * 0.5;
    img[q + 2] = skin[2] * m - r * 0.3;
  }

  // --- Lesion geometry: ellipse (elongation, rotation) with a Fourier-perturbed radius.
  const R = p.diameter * zoom * S;
  const ax = M.sqrt(p.elongation);
  const cos = M.cos(rot);
  const sin = M.sin(rot);
  const rfun = new Float32Array(ANGLES);
  const lopsided = angularNoise(rng, ANGLES, [2, 3], [p.asymmetry, p.asymmetry * 0.7]);
  const notched = angularNoise(rng, ANGLES, [5, 7, 9, 11, 13], [1, 0.8, 0.7, 0.6, 0.5].map((a) => a * p.irregularity));
  for (let i = 0; i < ANGLES; i++) rfun[i] = M.max(0.35, 1 + lopsided[i] + notched[i]);
  const softNoise = angularNoise(rng, ANGLES, [1, 2, 3], [0.6, 0.45, 0.3]);
  const edge = new Float32Array(ANGLES);
  for (let i = 0; i < ANGLES; i++) edge[i] = M.max(0.02, p.edge * (1 + p.edgeVariation * softNoise[i] * 1.4));

  /** Image position of the lesion point at relative radius rho (1 = border) and angle phi. */
  const toImage = (rho: number, phi: number): [number, number] => {
    const a = M.round(((phi / TWO_PI + 1) % 1) * ANGLES) % ANGLES;
    const r = rho * R * rfun[a];
    const lx = r * M.cos(phi) * ax;
    const ly = (r * M.sin(phi)) / ax;
    return [cx + lx * cos - ly * sin, cy + lx * sin + ly * cos];
  };

  // Only a box around the lesion (and its erythema halo) is touched by the per-pixel lesion work.
  let rmax = 0;
  for (let i = 0; i < ANGLES; i++) rmax = M.max(rmax, rfun[i] * (1 + edge[i]));
  const ext = R * rmax * ax * 1.9 + 2;
  const box: Box = {
    x0: M.max(0, M.floor(cx - ext)),
    x1: M.min(S, M.ceil(cx + ext)),
    y0: M.max(0, M.floor(cy - ext)),
    y1: M.min(S, M.ceil(cy + ext)),
  };

  // Relative distance d (1 on the border), coverage, and lesion-frame coordinates per pixel.
  const dist = new Float32Array(S * S).fill(10);
  const cover = new Float32Array(S * S);
  const lxs = new Float32Array(S * S);
  const lys = new Float32Array(S * S);
  for (let y = box.y0; y < box.y1; y++) {
    for (let x = box.x0; x < box.x1; x++) {
      const i = y * S + x;
      const dx = x + 0.5 - cx;
      const dy = y + 0.5 - cy;
      const lx = (dx * cos + dy * sin) / ax;
      const ly = (-dx * sin + dy * cos) * ax;
      const phi = M.atan2(ly, lx);
      const a = M.round(((phi / TWO_PI + 1) % 1) * ANGLES) % ANGLES;
      const d = M.sqrt(lx * lx + ly * ly) / (R * rfun[a]);
      // At least 0.7 px of fade so small images still anti-alias.
      const w = M.max(edge[a], 0.7 / (R * rfun[a]));
      dist[i] = d;
      cover[i] = 1 - smoothstep(1 - w, 1 + w, d);
      lxs[i] = lx / R;
      lys[i] = ly / R;
    }
  }

  // --- Lesion colour: one score field per pigment, mixed by a softmax whose gain is the
  // variegation. The fields are random combinations of three noise fields (cheaper than one each).
  const pigments = Object.keys(p.colours) as Pigment[];
  const logW = pigments.map((pg) => M.log(p.colours[pg] as number));
  const patchCells = M.max(2, 0.9 / M.max(0.05, p.diameter * zoom));
  const base = [valueNoise(bulk, S, patchCells, 2, box), valueNoise(bulk, S, patchCells, 2, box), valueNoise(bulk, S, patchCells, 2, box)];
  const mixW = pigments.map(() => {
    const w = [rng.normal(), rng.normal(), rng.normal()];
    const norm = M.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2]) || 1;
    return w.map((v) => v / norm);
  });
  const tint = [skin[0] / SKIN_REF[0], skin[1] / SKIN_REF[1], skin[2] / SKIN_REF[2]].map((v) => M.pow(v, 0.6));
  const hasNetwork = p.network > 0.03;
  const netCell = 0.1;
  const netRot = rng.next() * M.PI;
  const nc = M.cos(netRot);
  const ns = M.sin(netRot);
  const warpA = hasNetwork ? valueNoise(bulk, S, patchCells * 2.5, 1, box) : null;
  const warpB = hasNetwork ? valueNoise(bulk, S, patchCells * 2.5, 1, box) : null;
  const thick = hasNetwork ? valueNoise(bulk, S, patchCells * 1.5, 1, box) : null;
  const whiteNoise = p.centreWhite > 0.01 ? valueNoise(bulk, S, patchCells * 2, 1, box) : null;
  const scores = new Float64Array(pigments.length);
  for (let y = box.y0; y < box.y1; y++) {
    for (let x = box.x0; x < box.x1; x++) {
      const i = y * S + x;
      const q = i * 3;
      const a = cover[i] * p.opacity;
      if (a <= 0.001) continue;
      const d = dist[i];
      const n0 = base[0][i];
      const n1 = base[1][i];
      const n2 = base[2][i];
      let max = -1e300;
      for (let k = 0; k < pigments.length; k++) {
        const m = mixW[k];
        scores[k] = logW[k] + p.variegation * (m[0] * n0 + m[1] * n1 + m[2] * n2);
        if (scores[k] > max) max = scores[k];
      }
      let r = 0;
      let g = 0;
      let b = 0;
      let total = 0;
      for (let k = 0; k < pigments.length; k++) {
        const e = M.exp(scores[k] - max);
        const c = PALETTE[pigments[k]];
        r += e * c[0];
        g += e * c[1];
        b += e * c[2];
        total += e;
      }
      const centre = M.max(0, 1 - d);
      let shade = (1 - p.centreDark * centre * centre) / total;
      if (warpA !== null && warpB !== null && thick !== null) {
        const irr = p.networkIrregular;
        // Honeycomb: three plane waves 60 degrees apart peak together at the hole centres.
        const wa = (0.2 + irr * 1.1) * warpA[i];
        const wb = (0.2 + irr * 1.1) * warpB[i];
        const rx = (lxs[i] * nc + lys[i] * ns) / netCell + wa;
        const ry = (lys[i] * nc - lxs[i] * ns) / netCell + wb;
        const h = M.cos(TWO_PI * rx) + M.cos(TWO_PI * (0.5 * rx + 0.866 * ry)) + M.cos(TWO_PI * (-0.5 * rx + 0.866 * ry));
        const line = 1 - M.sqrt(M.max(0, (h + 1.5) / 4.5));
        // A regular network fades towards the periphery; an atypical one stays to the edge.
        const fade = 1 - smoothstep(0.5, 1, d) * (1 - irr);
        shade *= 1 - 0.5 * p.network * line * fade * M.max(0, 1 + irr * 1.3 * thick[i]);
      }
      r *= shade * tint[0];
      g *= shade * tint[1];
      b *= shade * tint[2];
      if (whiteNoise !== null) {
        const wc = p.centreWhite * (1 - smoothstep(0, 0.55, d)) * (0.75 + 0.25 * whiteNoise[i]);
        r += (PALETTE.white[0] - r) * wc;
        g += (PALETTE.white[1] - g) * wc;
        b += (PALETTE.white[2] - b) * wc;
      }
      img[q] += (r - img[q]) * a;
      img[q + 1] += (g - img[q + 1]) * a;
      img[q + 2] += (b - img[q + 2]) * a;
    }
  }

  // --- Erythema around the lesion and white scale on it.
  if (p.erythema > 0.01 || p.scale > 0.01) {
    for (let y = box.y0; y < box.y1; y++) {
      for (let x = box.x0; x < box.x1; x++) {
        const i = y * S + x;
        const q = i * 3;
        const d = dist[i];
        const er = p.erythema * 0.4 * (1 - smoothstep(0.85, 1.8, d)) * (0.6 + 0.4 * redness[i]);
        if (er > 0) {
          img[q] += (0.86 - img[q]) * er;
          img[q + 1] += (0.42 - img[q + 1]) * er;
          img[q + 2] += (0.42 - img[q + 2]) * er;
        }
        const sc = p.scale * 0.8 * cover[i] * smoothstep(0.1, 0.7, fine[i]);
        if (sc > 0) {
          img[q] += (0.95 - img[q]) * sc;
          img[q + 1] += (0.93 - img[q + 1]) * sc;
          img[q + 2] += (0.9 - img[q + 2]) * sc;
        }
      }
    }
  }

  // --- Structures.
  const dotCount = M.round(M.max(0, p.dots) * 14 * rng.uniform(0.6, 1.4));
  const dotRgb = PALETTE[p.dotColour];
  for (let k = 0; k < dotCount; k++) {
    const peripheral = rng.next() < p.dotIrregular;
    const rho = peripheral ? rng.uniform(0.55, 1.08) : M.sqrt(rng.next()) * 0.6;
    const [x, y] = toImage(rho, rng.next() * TWO_PI);
    const rad = R * 0.045 * (peripheral ? M.exp(rng.normal(0, 0.45)) : 1 + rng.normal(0, 0.08));
    const shade = 0.8 + 0.4 * rng.next();
    drawDisc(img, S, x, y, rad, [dotRgb[0] * shade, dotRgb[1] * shade, dotRgb[2] * shade], 0.85, rad * 0.5);
  }
  const cystCount = M.round(M.max(0, p.cysts) * 8 * rng.next());
  for (let k = 0; k < cystCount; k++) {
    const [x, y] = toImage(M.sqrt(rng.next()) * 0.8, rng.next() * TWO_PI);
    drawDisc(img, S, x, y, R * 0.04 * rng.uniform(0.7, 1.3), [0.96, 0.93, 0.8], 0.8, R * 0.02);
  }
  const nestCount = M.round(M.max(0, p.nests) * 5 * rng.uniform(0.5, 1.5));
  for (let k = 0; k < nestCount; k++) {
    const [x, y] = toImage(M.sqrt(rng.next()) * 0.75, rng.next() * TWO_PI);
    const rad = R * 0.1 * rng.uniform(0.7, 1.3);
    drawDisc(img, S, x, y, rad, PALETTE.blueGrey, 0.6, rad * 0.6);
  }
  if (p.streaks > 0.02) {
    const sectors = 1 + rng.int(3);
    const centres = Array.from({ length: sectors }, () => rng.next() * TWO_PI);
    const count = M.round(p.streaks * 26);
    for (let k = 0; k < count; k++) {
      const phi = centres[k % sectors] + rng.normal(0, 0.3);
      const [x0, y0] = toImage(0.85, phi);
      const [x1, y1] = toImage(rng.uniform(1.04, 1.25), phi + rng.normal(0, 0.04));
      const c = rng.next() < 0.5 ? PALETTE.darkBrown : PALETTE.brown;
      drawPolyline(img, S, [x0, y0, (x0 + x1) / 2, (y0 + y1) / 2, x1, y1], R * 0.03, R * 0.01, c, 0.7);
    }
  }
  const walk = (count: number, step: number, steps: number, hw: number, colour: Rgb, alpha: number, branch: number): void => {
    for (let k = 0; k < count; k++) {
      const stack: Array<[number, number, number, number, number]> = [];
      const [sx, sy] = toImage(M.sqrt(rng.next()) * 0.7, rng.next() * TWO_PI);
      stack.push([sx, sy, rng.next() * TWO_PI, steps, hw]);
      while (stack.length > 0) {
        const [x0, y0, dir0, n, w] = stack.pop() as [number, number, number, number, number];
        const pts = [x0, y0];
        let x = x0;
        let y = y0;
        let dir = dir0;
        for (let s = 0; s < n; s++) {
          dir += rng.normal(0, 0.5);
          x += M.cos(dir) * step * R;
          y += M.sin(dir) * step * R;
          pts.push(x, y);
          if (stack.length < 6 && rng.next() < branch) stack.push([x, y, dir + (rng.next() < 0.5 ? 1 : -1) * rng.uniform(0.4, 1.1), M.max(2, n - s - 1), w * 0.6]);
        }
        drawPolyline(img, S, pts, w, w * 0.5, colour, alpha);
      }
    }
  };
  const vesselTrees = M.round(M.max(0, p.vessels) * 4 * rng.uniform(0.6, 1.4));
  walk(vesselTrees, 0.11, 7, R * 0.022, [0.74, 0.12, 0.16], 0.85, 0.25);
  const fissureCount = M.round(M.max(0, p.fissures) * 9 * rng.uniform(0.6, 1.4));
  walk(fissureCount, 0.09, 4, R * 0.016, [0.25, 0.15, 0.09], 0.6, 0.1);

  // --- Hair: quadratic Bezier strands across the image.
  for (let h = 0; h < hairs; h++) {
    const edgePoint = (): [number, number] => {
      const t = rng.next() * S;
      switch (rng.int(4)) {
        case 0:
          return [t, -2];
        case 1:
          return [S + 2, t];
        case 2:
          return [t, S + 2];
        default:
          return [-2, t];
      }
    };
    const [x0, y0] = edgePoint();
    const [x2, y2] = rng.next() < 0.5 ? edgePoint() : [rng.next() * S, rng.next() * S];
    const x1 = rng.next() * S;
    const y1 = rng.next() * S;
    const pts: number[] = [];
    for (let s = 0; s <= 24; s++) {
      const t = s / 24;
      const u = 1 - t;
      pts.push(u * u * x0 + 2 * u * t * x1 + t * t * x2, u * u * y0 + 2 * u * t * y1 + t * t * y2);
    }
    const hw = S * rng.uniform(0.0015, 0.0035);
    const dark = rng.uniform(0.6, 1.4);
    drawPolyline(img, S, pts, hw, hw, [0.11 * dark, 0.08 * dark, 0.06 * dark], 0.85);
  }

  // --- Camera: lighting gradient, dermoscope vignette, exposure, white balance, sensor noise.
  const lx = M.cos(lightDir);
  const ly = M.sin(lightDir);
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      const u = (x + 0.5) / S - 0.5;
      const v = (y + 0.5) / S - 0.5;
      let f = exposure * (1 + 2 * light * (u * lx + v * ly));
      if (vignette > 0) f *= 1 - vignette * smoothstep(vignetteAt * 0.5, vignetteAt * 0.5 + 0.12, M.sqrt(u * u + v * v));
      const n = (bulk.next() - 0.5) * 0.03;
      const q = (y * S + x) * 3;
      img[q] = img[q] * f * balance[0] + n;
      img[q + 1] = img[q + 1] * f * balance[1] + n;
      img[q + 2] = img[q + 2] * f * balance[2] + n;
    }
  }
  for (let i = 0; i < img.length; i++) img[i] = img[i] < 0 ? 0 : img[i] > 1 ? 1 : img[i];
  return img;
}
