/**
 * Class profiles of the synthetic lesion set: each class is a point in a space of dermoscopic
 * features (the ABCD rule: Asymmetry, Border irregularity, Colour variegation, Diameter; plus
 * dermoscopic structures: pigment network, dots and globules, streaks, vessels, cysts...).
 *
 * An image of class c draws a "confuser" class c' and a mixing weight t from a half-normal with
 * scale `overlap`, and takes every numeric feature as lerp(c, c', t) plus class-independent jitter.
 * When t passes 0.5 the image looks more like c' than like c: that is the irreducible error that
 * keeps a classifier on all real images below 100 %, and what makes a rare class hard to learn.
 * Nothing about the class enters an image any other way (skin tone, lighting, hair, position and
 * zoom are drawn the same for every class).
 *
 * These are caricatures for a benchmark, informed by textbook descriptions, not clinical models.
 */
import type { Rng } from '@gan-study/core';
import { UserInputError } from '@gan-study/core';
import type { Rgb } from './raster';

/** Math through a module binding: under Jest's vm context every global lookup (`Math`) is slow in hot loops. */
const M = Math;

/** Pigment colours, sRGB in [0, 1], as they look on light skin. */
export const PALETTE = {
  tan: [0.74, 0.54, 0.4],
  brown: [0.52, 0.33, 0.21],
  darkBrown: [0.3, 0.17, 0.1],
  black: [0.11, 0.08, 0.08],
  blueGrey: [0.45, 0.5, 0.6],
  red: [0.78, 0.3, 0.3],
  pink: [0.9, 0.68, 0.68],
  white: [0.92, 0.88, 0.86],
  waxy: [0.66, 0.53, 0.33],
  purple: [0.48, 0.18, 0.36],
} as const satisfies Record<string, Rgb>;
export type Pigment = keyof typeof PALETTE;
export const PIGMENTS = Object.keys(PALETTE) as Pigment[];

/** The numeric features of a lesion; all are mixed linearly between classes. */
export interface LesionFeatures {
  /** Lesion radius as a fraction of the image width, before the (class-independent) zoom. */
  diameter: number;
  /** Axis ratio of the underlying ellipse (>= 1). */
  elongation: number;
  /** Amplitude of the 2nd and 3rd border harmonics: lopsided, asymmetric outlines. */
  asymmetry: number;
  /** Amplitude of the 5th to 13th border harmonics: notched, irregular borders. */
  irregularity: number;
  /** Width of the border fade, as a fraction of the radius (small = sharp, "stuck-on"). */
  edge: number;
  /** How much that width changes around the border (an abrupt cut-off in places). */
  edgeVariation: number;
  /** Opacity of the lesion over the skin (translucent pearly lesions are low). */
  opacity: number;
  /** Gain of the colour-patch noise: 1 = one blended colour, 4 = distinct patches (variegation). */
  variegation: number;
  /** Darker (> 0) or lighter (< 0) centre. */
  centreDark: number;
  /** White central patch (dermatofibroma; regression in melanoma). */
  centreWhite: number;
  /** Contrast of the pigment network. */
  network: number;
  /** 0 = regular honeycomb fading at the periphery, 1 = warped, thickened, broken network. */
  networkIrregular: number;
  /** Dots and globules, in units of about 14 per lesion. */
  dots: number;
  /** 0 = even-sized and central, 1 = varied sizes, at the periphery. */
  dotIrregular: number;
  /** Share of the border with radial streaks (pseudopods). */
  streaks: number;
  /** Arborizing red vessels (basal cell carcinoma). */
  vessels: number;
  /** Blue-grey ovoid nests (basal cell carcinoma). */
  nests: number;
  /** Milia-like white cysts (seborrheic keratosis). */
  cysts: number;
  /** Cerebriform fissures (seborrheic keratosis). */
  fissures: number;
  /** White surface scale (actinic keratosis). */
  scale: number;
  /** Pink-red halo of the surrounding skin. */
  erythema: number;
}

export interface LesionProfile extends LesionFeatures {
  name: string;
  description: string;
  /** Weights of the pigments present. */
  colours: Partial<Record<Pigment, number>>;
  /** Colour of the dots and globules. */
  dotColour: Pigment;
}

/** Class-independent spread of each feature (standard deviation of the jitter added per image). */
export const JITTER: LesionFeatures = {
  diameter: 0.03,
  elongation: 0.08,
  asymmetry: 0.03,
  irregularity: 0.015,
  edge: 0.04,
  edgeVariation: 0.15,
  opacity: 0.05,
  variegation: 0.6,
  centreDark: 0.08,
  centreWhite: 0.05,
  network: 0.08,
  networkIrregular: 0.15,
  dots: 0.2,
  dotIrregular: 0.2,
  streaks: 0.08,
  vessels: 0.1,
  nests: 0.1,
  cysts: 0.15,
  fissures: 0.15,
  scale: 0.1,
  erythema: 0.1,
};

const NONE = { centreWhite: 0, streaks: 0, vessels: 0, nests: 0, cysts: 0, fissures: 0, scale: 0, erythema: 0 };

export const PROFILES: Record<string, LesionProfile> = {
  nevus: {
    ...NONE,
    name: 'nevus',
    description: 'benign mole: small, round, symmetric, smooth fading border, one or two similar browns, regular network and central globules',
    diameter: 0.16, elongation: 1.12, asymmetry: 0.035, irregularity: 0.01, edge: 0.18, edgeVariation: 0.15, opacity: 0.85,
    colours: { tan: 0.5, brown: 0.45, darkBrown: 0.05 }, variegation: 1, centreDark: 0.15,
    network: 0.3, networkIrregular: 0.1, dots: 0.3, dotIrregular: 0.1, dotColour: 'brown',
  },
  melanoma: {
    ...NONE,
    name: 'melanoma',
    description: 'larger, asymmetric, notched border with abrupt cut-off in places, variegated (browns, black, blue-grey, red, white regression), atypical network, peripheral irregular dots, radial streaks',
    diameter: 0.25, elongation: 1.3, asymmetry: 0.14, irregularity: 0.055, edge: 0.1, edgeVariation: 0.8, opacity: 0.92,
    colours: { tan: 0.12, brown: 0.22, darkBrown: 0.26, black: 0.14, blueGrey: 0.14, red: 0.06, white: 0.06 }, variegation: 3.5, centreDark: 0,
    centreWhite: 0.08, network: 0.35, networkIrregular: 0.85, dots: 0.7, dotIrregular: 0.9, dotColour: 'black', streaks: 0.35, erythema: 0.12,
  },
  bcc: {
    ...NONE,
    name: 'bcc',
    description: 'basal cell carcinoma: pearly pink-white translucent plaque, arborizing red vessels, blue-grey ovoid nests, no network',
    diameter: 0.2, elongation: 1.2, asymmetry: 0.1, irregularity: 0.03, edge: 0.2, edgeVariation: 0.4, opacity: 0.6,
    colours: { pink: 0.5, white: 0.2, red: 0.12, blueGrey: 0.18 }, variegation: 2, centreDark: -0.1,
    network: 0, networkIrregular: 0, dots: 0.1, dotIrregular: 0.5, dotColour: 'blueGrey', vessels: 1, nests: 0.7, erythema: 0.3,
  },
  keratosis: {
    ...NONE,
    name: 'keratosis',
    description: 'seborrheic keratosis: waxy "stuck-on" plaque with a sharp border, tan to brown, milia-like white cysts, comedo-like dark openings, cerebriform fissures',
    diameter: 0.22, elongation: 1.25, asymmetry: 0.06, irregularity: 0.02, edge: 0.04, edgeVariation: 0.1, opacity: 0.95,
    colours: { waxy: 0.4, tan: 0.25, brown: 0.25, darkBrown: 0.1 }, variegation: 2, centreDark: 0.05,
    network: 0.05, networkIrregular: 0.5, dots: 0.5, dotIrregular: 0.5, dotColour: 'darkBrown', cysts: 1, fissures: 0.8, scale: 0.1,
  },
  dermatofibroma: {
    ...NONE,
    name: 'dermatofibroma',
    description: 'small firm papule: central white scar-like patch, delicate peripheral network, light brown',
    diameter: 0.12, elongation: 1.15, asymmetry: 0.04, irregularity: 0.012, edge: 0.3, edgeVariation: 0.2, opacity: 0.7,
    colours: { tan: 0.6, brown: 0.3, pink: 0.1 }, variegation: 1, centreDark: -0.2, centreWhite: 0.75,
    network: 0.3, networkIrregular: 0.2, dots: 0, dotIrregular: 0.2, dotColour: 'brown', erythema: 0.1,
  },
  vascular: {
    ...NONE,
    name: 'vascular',
    description: 'vascular lesion (angioma): small, sharp, red to purple with red-purple lacunae',
    diameter: 0.12, elongation: 1.2, asymmetry: 0.05, irregularity: 0.02, edge: 0.08, edgeVariation: 0.2, opacity: 0.9,
    colours: { red: 0.55, purple: 0.4, darkBrown: 0.05 }, variegation: 1.5, centreDark: 0.1,
    network: 0, networkIrregular: 0, dots: 1, dotIrregular: 0.3, dotColour: 'purple',
  },
  actinic: {
    ...NONE,
    name: 'actinic',
    description: 'actinic keratosis: ill-defined pink-red patch, white surface scale, erythema, fine vessels',
    diameter: 0.2, elongation: 1.3, asymmetry: 0.1, irregularity: 0.04, edge: 0.35, edgeVariation: 0.5, opacity: 0.55,
    colours: { pink: 0.45, red: 0.3, tan: 0.2, white: 0.05 }, variegation: 2, centreDark: 0,
    network: 0.1, networkIrregular: 0.5, dots: 0.1, dotIrregular: 0.5, dotColour: 'red', vessels: 0.2, scale: 0.7, erythema: 0.5,
  },
};

/** Class names accepted for each profile (lower case; HAM10000's short codes included). */
const ALIASES: Record<string, string> = {
  benign: 'nevus', nevus: 'nevus', naevus: 'nevus', nv: 'nevus', mole: 'nevus',
  malignant: 'melanoma', melanoma: 'melanoma', mel: 'melanoma',
  bcc: 'bcc', 'basal-cell-carcinoma': 'bcc', basal_cell_carcinoma: 'bcc',
  keratosis: 'keratosis', bkl: 'keratosis', 'seborrheic-keratosis': 'keratosis', seborrheic_keratosis: 'keratosis', sk: 'keratosis',
  dermatofibroma: 'dermatofibroma', df: 'dermatofibroma',
  vascular: 'vascular', vasc: 'vascular', angioma: 'vascular',
  actinic: 'actinic', akiec: 'actinic', 'actinic-keratosis': 'actinic', actinic_keratosis: 'actinic',
};

export const KNOWN_CLASS_NAMES = Object.keys(ALIASES);

/** The profile for a class name; an unknown name is an error listing the known ones. */
export function profileFor(className: string): LesionProfile {
  const key = ALIASES[className.toLowerCase()];
  if (key === undefined) {
    throw new UserInputError(`synthetic class "${className}" has no lesion profile; known classes: ${KNOWN_CLASS_NAMES.join(', ')}`);
  }
  return PROFILES[key];
}

const FEATURE_KEYS = Object.keys(JITTER) as Array<keyof LesionFeatures>;

/** Lower and upper bounds each feature is clamped to after mixing and jitter. */
const BOUNDS: Partial<Record<keyof LesionFeatures, [number, number]>> = {
  diameter: [0.06, 0.42],
  elongation: [1, 2],
  edge: [0.02, 0.6],
  opacity: [0.3, 1],
  variegation: [0.3, 6],
  centreDark: [-0.4, 0.5],
};

/** One image's features: the class mixed with a confuser (weight t ~ |N(0, overlap)|, at most 0.95), plus jitter. */
export function drawLesion(rng: Rng, profiles: LesionProfile[], classIndex: number, overlap: number): LesionProfile & { mix: number } {
  const own = profiles[classIndex];
  let other = own;
  let t = 0;
  if (profiles.length > 1) {
    let j = rng.int(profiles.length - 1);
    if (j >= classIndex) j++;
    other = profiles[j];
    t = M.min(0.95, M.abs(rng.normal(0, overlap)));
  }
  const out = { ...own, mix: t, colours: {} as Partial<Record<Pigment, number>> };
  for (const k of FEATURE_KEYS) {
    const [lo, hi] = BOUNDS[k] ?? [0, 1];
    const v = own[k] + (other[k] - own[k]) * t + rng.normal(0, JITTER[k]);
    out[k] = M.min(hi, M.max(lo, v));
  }
  for (const pg of PIGMENTS) {
    const w = (own.colours[pg] ?? 0) * (1 - t) + (other.colours[pg] ?? 0) * t;
    if (w > 0.005) out.colours[pg] = w * M.exp(rng.normal(0, 0.3));
  }
  out.dotColour = t > 0.5 ? other.dotColour : own.dotColour;
  return out;
}
