/**
 * The study's job graph, from the config and the dataset's class counts.
 *
 * For each budget and each GAN: one GAN job per minority class, trained on that class's budget of
 * real training images (CycleGAN also on the largest class, which it translates from), generating
 * `fillTo - budget` images; then a classifier job on every other class's real images + each minority
 * class's budget + the generated images, evaluated on the test split. Plus the imbalanced baseline
 * per budget (no generated images) and the all-real reference. On the public binary set with the
 * default budgets and GANs: 12 GAN jobs and 17 classifier scenarios; `repeats` runs each classifier
 * scenario that many times with different seeds.
 *
 * GAN jobs depend on the first all-real reference classifier (`clf-reference-r0`): its penultimate
 * layer is the feature network for FID/KID/precision/recall, the same for every GAN and budget.
 *
 * Job ids are deterministic and name what the job is; each job's seed is derived from config.seed
 * and its id (Rng fork), so adding a budget or a GAN does not change the other jobs' seeds.
 */
import { Rng, UserInputError } from '@gan-study/core';
import type { StudyConfig } from './config';
import { GAN_ARTIFACTS } from './jobs';
import type { ClassifierJobSpec, GanJobSpec, JobGanKind, JobSpec } from './jobs';

export interface ClassCounts {
  /** Class names, sorted as the dataset sorts them. */
  classes: string[];
  /** Training images per class. */
  train: Record<string, number>;
  /** Test images per class. */
  test: Record<string, number>;
}

export interface PlanOptions {
  /**
   * The FID/KID feature network: 'reference' (default) makes every GAN job wait for the first
   * all-real classifier and use its penultimate layer; 'random' uses a randomly initialised
   * classifier per GAN job, so GAN jobs can start at once (numbers then compare less well).
   */
  featureNetwork?: 'reference' | 'random';
}

export interface Plan {
  version: 1;
  classes: string[];
  /** The largest class (kept whole; CycleGAN's source). */
  majorityClass: string;
  /** The classes cut down to each budget and filled up. */
  minorityClasses: string[];
  /** Per minority class: the number of training images after the fill-up. */
  fillTo: Record<string, number>;
  budgets: number[];
  gans: JobGanKind[];
  repeats: number;
  counts: ClassCounts;
  jobs: JobSpec[];
}

/** A job id part from a class name: letters, digits, '.', '_' and '-' kept, anything else '_'. */
export function idPart(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

export function jobSeed(studySeed: number, id: string): number {
  return new Rng(studySeed).fork(`job/${id}`).nextUint32();
}

export const REFERENCE_JOB = 'clf-reference-r0';

export function ganJobId(gan: JobGanKind, budget: number, className: string): string {
  return `gan-${gan}-b${budget}-${idPart(className)}`;
}

export function classifierJobId(scenario: 'baseline' | 'gan' | 'reference', gan: JobGanKind | null, budget: number | null, repeat: number): string {
  if (scenario === 'reference') return `clf-reference-r${repeat}`;
  if (scenario === 'baseline') return `clf-baseline-b${budget}-r${repeat}`;
  return `clf-gan-${gan}-b${budget}-r${repeat}`;
}

function checkCounts(counts: ClassCounts): void {
  if (counts.classes.length < 2) throw new UserInputError(`the dataset needs at least two classes, got ${JSON.stringify(counts.classes)}`);
  for (const c of counts.classes) {
    for (const split of ['train', 'test'] as const) {
      const n = counts[split][c];
      if (!Number.isInteger(n) || n < 0) throw new UserInputError(`class "${c}" has no valid ${split} count (got ${n})`);
    }
    if (counts.train[c] === 0) throw new UserInputError(`class "${c}" has no training images`);
  }
  const ids = new Map<string, string>();
  for (const c of counts.classes) {
    const other = ids.get(idPart(c));
    if (other !== undefined) throw new UserInputError(`classes "${other}" and "${c}" give the same job id part "${idPart(c)}"`);
    ids.set(idPart(c), c);
  }
}

/** The job graph; throws UserInputError for a plan that cannot run (naming the key and the values). */
export function buildPlan(config: StudyConfig, counts: ClassCounts, opts: PlanOptions = {}): Plan {
  checkCounts(counts);
  const featureNetwork = opts.featureNetwork ?? 'reference';
  const classes = counts.classes;
  // The largest class; on a tie, the first in the dataset's (sorted) order.
  const majorityClass = classes.reduce((best, c) => (counts.train[c] > counts.train[best] ? c : best), classes[0]);
  const largest = counts.train[majorityClass];

  let minorityClasses: string[];
  if (config.minorityClasses === null) {
    minorityClasses = classes.filter((c) => counts.train[c] < largest);
    if (minorityClasses.length === 0) {
      throw new UserInputError(
        `config key 'minorityClasses' is null but no class is smaller than the largest (${classes.map((c) => `${c}: ${counts.train[c]}`).join(', ')}); name the minority classes`,
      );
    }
  } else {
    for (const c of config.minorityClasses) {
      if (!classes.includes(c)) throw new UserInputError(`config key 'minorityClasses': class "${c}" is not in the dataset (classes: ${classes.join(', ')})`);
    }
    if (new Set(config.minorityClasses).size !== config.minorityClasses.length) {
      throw new UserInputError(`config key 'minorityClasses' = ${JSON.stringify(config.minorityClasses)}: a class is listed twice`);
    }
    if (config.minorityClasses.length === classes.length) {
      throw new UserInputError(`config key 'minorityClasses' = ${JSON.stringify(config.minorityClasses)}: at least one class must stay whole`);
    }
    if (config.gans.includes('cyclegan') && config.minorityClasses.includes(majorityClass)) {
      throw new UserInputError(`config key 'minorityClasses': "${majorityClass}" is the largest class, which CycleGAN translates from; it cannot also be a minority class`);
    }
    minorityClasses = classes.filter((c) => config.minorityClasses!.includes(c));
  }

  const fillTo: Record<string, number> = {};
  for (const c of minorityClasses) fillTo[c] = config.fillTo ?? counts.train[c];
  const budgets = [...config.budgets].sort((a, b) => a - b);
  for (const b of budgets) {
    if (!Number.isInteger(b) || b <= 0) throw new UserInputError(`config key 'budgets': ${b} is not a positive integer`);
    for (const c of minorityClasses) {
      if (b > counts.train[c]) {
        throw new UserInputError(`config key 'budgets': budget ${b} is larger than class "${c}" with ${counts.train[c]} training images`);
      }
      if (config.gans.length > 0 && b >= fillTo[c]) {
        throw new UserInputError(
          `config key 'budgets': budget ${b} leaves nothing to generate for class "${c}" (filled to ${fillTo[c]}${config.fillTo === null ? ', its real training count' : " by 'fillTo'"})`,
        );
      }
    }
  }
  if (!Number.isInteger(config.repeats) || config.repeats < 1) throw new UserInputError(`config key 'repeats' must be a positive integer, got ${config.repeats}`);
  const gans = [...new Set(config.gans)] as JobGanKind[];

  const jobs: JobSpec[] = [];
  const common = (id: string) => ({ id, seed: jobSeed(config.seed, id), checkpointEvery: config.checkpointEvery });
  const classifier = (
    scenario: 'baseline' | 'gan' | 'reference',
    gan: JobGanKind | null,
    budget: number | null,
    repeat: number,
    ganJobs: GanJobSpec[],
  ): ClassifierJobSpec => ({
    ...common(classifierJobId(scenario, gan, budget, repeat)),
    kind: 'classifier',
    dependsOn: ganJobs.map((g) => g.id),
    replicas: config.dataParallel,
    scenario,
    gan,
    budget,
    repeat,
    minorityClasses: scenario === 'reference' ? [] : minorityClasses,
    budgetSeed: config.seed,
    generated: ganJobs.map((g) => ({ job: g.id, artifact: GAN_ARTIFACTS.generated, className: g.className, count: g.generate })),
    imageSize: config.imageSize,
    overrides: config.classifier,
    ...(config.balanceShards && config.dataParallel === 2 ? { balanceShards: true as const } : {}),
  });

  for (let r = 0; r < config.repeats; r++) jobs.push(classifier('reference', null, null, r, []));
  for (const b of budgets) for (let r = 0; r < config.repeats; r++) jobs.push(classifier('baseline', null, b, r, []));
  for (const b of budgets) {
    for (const gan of gans) {
      const ganJobs: GanJobSpec[] = minorityClasses.map((c) => {
        const id = ganJobId(gan, b, c);
        const featureJob = featureNetwork === 'reference' ? REFERENCE_JOB : null;
        return {
          ...common(id),
          kind: 'gan',
          dependsOn: featureJob === null ? [] : [featureJob],
          replicas: 1,
          gan,
          className: c,
          sourceClass: gan === 'cyclegan' ? majorityClass : null,
          budget: b,
          budgetSeed: config.seed,
          generate: fillTo[c] - b,
          resolution: config.ganResolution[gan],
          imageSize: config.imageSize,
          overrides: config[gan],
          featureJob,
        };
      });
      jobs.push(...ganJobs);
      for (let r = 0; r < config.repeats; r++) jobs.push(classifier('gan', gan, b, r, ganJobs));
    }
  }

  return {
    version: 1,
    classes: [...classes],
    majorityClass,
    minorityClasses,
    fillTo,
    budgets,
    gans,
    repeats: config.repeats,
    counts: { classes: [...classes], train: { ...counts.train }, test: { ...counts.test } },
    jobs,
  };
}

/** Jobs in an order where every job comes after the jobs it depends on (stable otherwise). */
export function topologicalOrder(jobs: readonly JobSpec[]): JobSpec[] {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: JobSpec[] = [];
  const visit = (j: JobSpec): void => {
    if (done.has(j.id)) return;
    if (visiting.has(j.id)) throw new Error(`the plan has a dependency cycle through ${j.id}`);
    visiting.add(j.id);
    for (const d of j.dependsOn) {
      const dep = byId.get(d);
      if (!dep) throw new Error(`job ${j.id} depends on unknown job ${d}`);
      visit(dep);
    }
    visiting.delete(j.id);
    done.add(j.id);
    out.push(j);
  };
  jobs.forEach(visit);
  return out;
}
