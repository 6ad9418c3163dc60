/**
 * The study config: a profile's defaults, then an optional JSON file, then flags (nanoGPT's
 * configurator, CycleGAN's options/). Validated with a zod schema: an unknown key or a wrong type is
 * an error naming the key and the value. Every leaf remembers where its value came from, so the
 * resolved config can be printed with overrides marked and saved into the run directory.
 *
 * Model sections (classifier, dcgan, pggan, cyclegan) are overrides that the models' own
 * resolve*Config functions validate; this schema checks only that they are objects.
 */
import { z } from 'zod';
import { UserInputError } from '@gan-study/core';

export const PROFILES = ['smoke', 'quick', 'paper'] as const;
export type Profile = (typeof PROFILES)[number];
export const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export const GAN_NAMES = ['dcgan', 'pggan', 'cyclegan'] as const;

const positiveInt = z.number().int().positive();
const modelOverrides = z.record(z.string(), z.unknown());
const classList = z.array(z.string().min(1)).min(2);

export const studyConfigSchema = z.strictObject({
  profile: z.enum(PROFILES),
  seed: z.number().int().nonnegative(),
  dataset: z.strictObject({
    path: z.string().min(1).nullable(),
    syntheticSeed: z.number().int().nonnegative(),
    syntheticClasses: classList.nullable(),
    syntheticCounts: z.strictObject({ train: z.array(positiveInt), test: z.array(positiveInt) }).nullable(),
  }),
  imageSize: positiveInt.min(8),
  budgets: z.array(positiveInt).min(1),
  gans: z.array(z.enum(GAN_NAMES)),
  minorityClasses: z.array(z.string().min(1)).min(1).nullable(),
  fillTo: positiveInt.nullable(),
  repeats: positiveInt,
  classifier: modelOverrides,
  dcgan: modelOverrides,
  pggan: modelOverrides,
  cyclegan: modelOverrides,
  ganResolution: z.strictObject({ dcgan: positiveInt, pggan: positiveInt, cyclegan: positiveInt }),
  backend: z.enum(BACKENDS),
  trainers: positiveInt,
  gpus: z.array(z.number().int().nonnegative()).min(1).nullable(),
  dataParallel: positiveInt,
  allReduce: z.enum(['ring', 'coordinator']),
  // A default, so that a run saved before the key resumes.
  balanceShards: z.boolean().default(false),
  checkpointEvery: positiveInt,
  heartbeatMs: positiveInt,
  trainerTimeoutMs: positiveInt,
  maxAttempts: positiveInt,
  statusEverySec: z.number().positive(),
  http: z.number().int().min(0).max(65535).nullable(),
  runDir: z.string().min(1),
});

export type StudyConfig = z.infer<typeof studyConfigSchema>;
export type ConfigSource = 'default' | 'file' | 'flag';

/** Defaults shared by every profile; each field's reason beside it. */
const BASE: Omit<StudyConfig, 'profile'> = {
  seed: 1, // the study's master seed; every job's seed is derived from it and the job id
  dataset: {
    path: null, // null: the embedded synthetic stand-in (the public set cannot be downloaded here)
    syntheticSeed: 1, // which synthetic set; same seed, same bytes
    syntheticClasses: null, // null: the public set's classes, benign and malignant
    syntheticCounts: null, // null: the public set's counts (train 1440/1197, test 360/300)
  },
  imageSize: 224, // the paper's input size
  budgets: [50, 100, 200, 500], // the paper's budgets of real minority images
  gans: ['dcgan', 'pggan', 'cyclegan'], // the paper's three GANs
  minorityClasses: null, // null: every class smaller than the largest
  fillTo: null, // null: fill each minority class up to its real training count (1197), as the paper
  repeats: 1, // the paper ran each scenario once
  classifier: {}, // the models' own defaults
  dcgan: {},
  pggan: {},
  cyclegan: {},
  ganResolution: { dcgan: 64, pggan: 128, cyclegan: 256 }, // each GAN's reference resolution
  backend: 'auto', // the best available: GPU, then native CPU, then wasm
  trainers: 2, // one per core on the machines we test on
  gpus: null, // no pinning
  dataParallel: 1, // trainers per classifier job
  allReduce: 'ring', // measured on one host, 2 trainers (tools/bench/allreduce.ts, protocol 2): 8.4 MB (the 64 px classifier) ring 63-72 ms vs coordinator 156-173 ms p50, 4 MB alike, 1 MB and less the coordinator is a little faster (7-21 vs 12-34 ms); 2.2 MB (the 64 px classifier's vector with fc1 as factors, protocol 6) ring 7.8 vs 9.1 ms at K=2, 14.1 vs 18.8 ms at K=3; a replica without a peer address falls back to the coordinator
  balanceShards: false, // two replicas on one host cut each batch in halves, so a rerun gives the same bits; true: where both passes take as long (PairBalance), a step 4.9% shorter while the host made one trainer the slower, no change while they were alike (bench section 3, 12 rounds each on the same processes, 2026-12-08); the weights then follow the machine's timing in their last bits
  checkpointEvery: 200, // steps between checkpoints: bounded loss on a crash, small I/O
  heartbeatMs: 500, // liveness both ways
  trainerTimeoutMs: 5000, // a silent trainer is declared lost after this
  maxAttempts: 3, // attempts per job before the study marks it failed
  statusEverySec: 30, // console status table period
  http: null, // no status page unless asked for
  runDir: 'runs/study', // replaced by a timestamped directory when not given
};

/** Each profile's departures from BASE. */
export const PROFILE_DEFAULTS: Record<Profile, Partial<StudyConfig>> = {
  // The whole plan at a tiny size, for tests and CI: budgets and counts scaled down by 10.
  smoke: {
    dataset: { path: null, syntheticSeed: 1, syntheticClasses: null, syntheticCounts: { train: [144, 120], test: [36, 30] } },
    imageSize: 16,
    budgets: [5, 10, 20, 50],
    ganResolution: { dcgan: 16, pggan: 16, cyclegan: 16 },
    classifier: { filters: [4, 8], hidden: [16], epochs: 1, batchSize: 16 },
    dcgan: { steps: 3, batchSize: 8, ngf: 4, ndf: 4, latentDim: 8 },
    pggan: { stableImages: 8, fadeImages: 8, finalStableImages: 8, batchSize: 4, width: 1 / 64 },
    cyclegan: { steps: 3, decaySteps: 1, batchSize: 1, ngf: 4, ndf: 4, nBlocks: 1, nLayersD: 2 },
    checkpointEvery: 2,
    statusEverySec: 5,
  },
  // The default of `npm run study`: the public set's counts, small images, short training.
  quick: {
    // 16 px keeps every job under a minute of CPU (measured: classifier 5-9 s, DCGAN ~35 s, PGGAN
    // ~55 s, CycleGAN ~45 s on wasm) while the all-real reference stays well above the budget-50
    // baseline (0.82 vs 0.55 accuracy on the synthetic set).
    imageSize: 16,
    ganResolution: { dcgan: 16, pggan: 16, cyclegan: 16 },
    classifier: { filters: [16, 32], hidden: [64], epochs: 5, batchSize: 32 },
    dcgan: { steps: 400, batchSize: 32, ngf: 32, ndf: 32, latentDim: 64 },
    pggan: { width: 1 / 16, batchSize: 16, stableImages: 800, fadeImages: 800, finalStableImages: 1600 },
    cyclegan: { steps: 200, decaySteps: 100, batchSize: 4, ngf: 8, ndf: 8, nBlocks: 2, nLayersD: 2 },
    checkpointEvery: 100,
    statusEverySec: 15,
  },
  // The paper's sizes, for GPUs.
  paper: {
    imageSize: 224,
    ganResolution: { dcgan: 64, pggan: 128, cyclegan: 256 },
    checkpointEvery: 500,
  },
};

export function profileDefaults(profile: Profile): StudyConfig {
  return { ...structuredClone(BASE), ...structuredClone(PROFILE_DEFAULTS[profile]), profile };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Keys whose values are replaced whole rather than merged key by key. */
const OPAQUE = new Set(['dataset.syntheticCounts']);

function mergeInto(target: Record<string, unknown>, patch: Record<string, unknown>, source: ConfigSource, sources: Record<string, ConfigSource>, prefix: string): void {
  for (const [key, value] of Object.entries(patch)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const current = target[key];
    if (isPlainObject(value) && isPlainObject(current) && !OPAQUE.has(path)) {
      mergeInto(current, value, source, sources, path);
    } else {
      target[key] = structuredClone(value);
      for (const k of Object.keys(sources)) if (k === path || k.startsWith(`${path}.`)) delete sources[k];
      sources[path] = source;
    }
  }
}

/** Parses `--set key.path=value` into a nested patch; the value is JSON when it parses, else a string. */
export function parseAssignment(text: string): Record<string, unknown> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UserInputError(`--set expects key=value, got '${text}'`);
  const path = text.slice(0, eq).trim().split('.');
  const raw = text.slice(eq + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const patch: Record<string, unknown> = {};
  let node = patch;
  path.forEach((key, i) => {
    if (!key) throw new UserInputError(`--set has an empty key segment in '${text}'`);
    if (i === path.length - 1) node[key] = value;
    else node = (node[key] = {}) as Record<string, unknown>;
  });
  return patch;
}

function describe(value: unknown): string {
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function getPath(obj: unknown, path: Array<string | number | symbol>): unknown {
  let node = obj;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[key as string | number];
  }
  return node;
}

/** Turns zod issues into one message that names each key and its value. */
function explain(issues: z.core.$ZodIssue[], candidate: unknown, where: string): string {
  const lines = issues.map((issue) => {
    const key = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((k) => `unknown config key '${key ? `${key}.` : ''}${k}'`).join('; ');
    }
    return `config key '${key || '(root)'}' = ${describe(getPath(candidate, issue.path))}: ${issue.message}`;
  });
  return `invalid study config (${where}): ${lines.join('; ')}`;
}

export interface LoadConfigOptions {
  profile?: string;
  /** Parsed contents of a --config JSON file, and its path for messages. */
  file?: { path: string; contents: unknown };
  /** Patches from flags, applied in order. */
  flags?: Array<Record<string, unknown>>;
}

export interface ResolvedConfig {
  config: StudyConfig;
  /** Where each overridden leaf came from; keys absent here are defaults. */
  sources: Record<string, ConfigSource>;
  defaults: StudyConfig;
}

export function resolveConfig(opts: LoadConfigOptions = {}): ResolvedConfig {
  const fileProfile = isPlainObject(opts.file?.contents) ? (opts.file.contents as Record<string, unknown>).profile : undefined;
  const flagProfile = [...(opts.flags ?? [])].reverse().find((f) => 'profile' in f)?.profile;
  const profile = (flagProfile ?? opts.profile ?? fileProfile ?? 'quick') as string;
  if (!(PROFILES as readonly string[]).includes(profile)) {
    throw new UserInputError(`unknown profile '${profile}' (expected one of ${PROFILES.join(', ')})`);
  }
  const defaults = profileDefaults(profile as Profile);
  const merged = structuredClone(defaults) as unknown as Record<string, unknown>;
  const sources: Record<string, ConfigSource> = {};
  if (opts.file) {
    if (!isPlainObject(opts.file.contents)) throw new UserInputError(`${opts.file.path}: the config file must hold a JSON object`);
    mergeInto(merged, opts.file.contents, 'file', sources, '');
  }
  for (const patch of opts.flags ?? []) mergeInto(merged, patch, 'flag', sources, '');
  if (opts.profile && !sources.profile) sources.profile = 'flag';
  const parsed = studyConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const where = opts.file ? `profile ${profile}, file ${opts.file.path}, flags` : `profile ${profile}, flags`;
    throw new UserInputError(explain(parsed.error.issues, merged, where));
  }
  checkConsistency(parsed.data);
  return { config: parsed.data, sources, defaults };
}

function checkConsistency(c: StudyConfig): void {
  const sorted = [...c.budgets].sort((a, b) => a - b);
  if (new Set(sorted).size !== sorted.length) throw new UserInputError(`config key 'budgets' = ${describe(c.budgets)}: budgets must be distinct`);
  if (c.gpus && c.gpus.length < c.trainers) {
    throw new UserInputError(`config key 'gpus' = ${describe(c.gpus)}: ${c.trainers} trainers need ${c.trainers} GPUs, ${c.gpus.length} given`);
  }
  if (c.dataParallel > c.trainers) {
    throw new UserInputError(`config key 'dataParallel' = ${c.dataParallel}: a classifier job cannot have more replicas than there are trainers (${c.trainers})`);
  }
  if (c.trainerTimeoutMs < 2 * c.heartbeatMs) {
    throw new UserInputError(`config key 'trainerTimeoutMs' = ${c.trainerTimeoutMs}: must be at least twice heartbeatMs (${c.heartbeatMs})`);
  }
  const counts = c.dataset.syntheticCounts;
  const classes = c.dataset.syntheticClasses;
  if (counts && counts.train.length !== counts.test.length) {
    throw new UserInputError(`config key 'dataset.syntheticCounts' = ${describe(counts)}: train and test need one count per class each`);
  }
  if (counts && classes && counts.train.length !== classes.length) {
    throw new UserInputError(`config key 'dataset.syntheticCounts' = ${describe(counts)}: ${classes.length} classes need ${classes.length} counts`);
  }
}

function leaves(value: unknown, prefix: string, out: Array<[string, unknown]>): void {
  if (isPlainObject(value) && Object.keys(value).length > 0 && !OPAQUE.has(prefix)) {
    for (const [k, v] of Object.entries(value)) leaves(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, value]);
  }
}

/** The resolved config, one `key = value` line per leaf, overrides marked with their source and default. */
export function formatConfig(resolved: ResolvedConfig): string {
  const rows: Array<[string, unknown]> = [];
  leaves(resolved.config, '', rows);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows
    .map(([key, value]) => {
      const source = Object.entries(resolved.sources).find(([k]) => key === k || key.startsWith(`${k}.`))?.[1];
      const mark = source ? `  (${source}) [default: ${describe(getPath(resolved.defaults, key.split('.')) as Json)}]` : '';
      return `${key.padEnd(width)} = ${describe(value)}${mark}`;
    })
    .join('\n');
}

/** What goes into the run directory's config.json: the values and where the overrides came from. */
export function configRecord(resolved: ResolvedConfig): { config: StudyConfig; overrides: Record<string, ConfigSource> } {
  return { config: resolved.config, overrides: resolved.sources };
}

/** Parses config.json as written by `configRecord` (for `--resume`), validating it again. */
export function parseConfigRecord(contents: unknown, file: string): StudyConfig {
  const config = isPlainObject(contents) ? contents.config : undefined;
  const parsed = studyConfigSchema.safeParse(config);
  if (!parsed.success) throw new UserInputError(`${file}: ${explain(parsed.error.issues, config, 'saved run config')}`);
  return parsed.data;
}
