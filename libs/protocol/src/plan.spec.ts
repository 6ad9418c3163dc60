import { UserInputError } from '@gan-study/core';
import { profileDefaults } from './config';
import type { StudyConfig } from './config';
import type { ClassifierJobSpec, GanJobSpec } from './jobs';
import { ClassCounts, buildPlan, topologicalOrder } from './plan';

const PUBLIC: ClassCounts = {
  classes: ['benign', 'malignant'],
  train: { benign: 1440, malignant: 1197 },
  test: { benign: 360, malignant: 300 },
};

function config(over: Partial<StudyConfig> = {}): StudyConfig {
  return { ...profileDefaults('paper'), ...over };
}

const gansOf = (p: ReturnType<typeof buildPlan>) => p.jobs.filter((j): j is GanJobSpec => j.kind === 'gan');
const clfsOf = (p: ReturnType<typeof buildPlan>) => p.jobs.filter((j): j is ClassifierJobSpec => j.kind === 'classifier');

describe('buildPlan on the public binary set', () => {
  const plan = buildPlan(config(), PUBLIC);

  it('has 12 GAN jobs and 17 classifier scenarios', () => {
    expect(gansOf(plan)).toHaveLength(12);
    expect(clfsOf(plan)).toHaveLength(17);
    expect(clfsOf(plan).filter((j) => j.scenario === 'baseline').map((j) => j.budget)).toEqual([50, 100, 200, 500]);
    expect(clfsOf(plan).filter((j) => j.scenario === 'reference')).toHaveLength(1);
    expect(plan.majorityClass).toBe('benign');
    expect(plan.minorityClasses).toEqual(['malignant']);
  });

  it('carries balanceShards into the classifier jobs only when it is set and they run on two replicas', () => {
    expect(clfsOf(plan).every((j) => !('balanceShards' in j))).toBe(true);
    const balanced = buildPlan(config({ balanceShards: true, dataParallel: 2, trainers: 2 }), PUBLIC);
    expect(clfsOf(balanced).every((j) => j.balanceShards === true && j.replicas === 2)).toBe(true);
    expect(gansOf(balanced).every((j) => !('balanceShards' in j))).toBe(true);
    for (const dataParallel of [1, 3]) {
      expect(clfsOf(buildPlan(config({ balanceShards: true, dataParallel, trainers: 3 }), PUBLIC)).every((j) => !('balanceShards' in j))).toBe(true);
    }
  });

  it('fills the minority class to its real training count', () => {
    const g = plan.jobs.find((j) => j.id === 'gan-dcgan-b50-malignant') as GanJobSpec;
    expect(g.generate).toBe(1197 - 50);
    expect(g.budget).toBe(50);
    expect(g.sourceClass).toBeNull();
    expect(g.resolution).toBe(64);
    expect(g.imageSize).toBe(224);
    const cyc = plan.jobs.find((j) => j.id === 'gan-cyclegan-b500-malignant') as GanJobSpec;
    expect(cyc.sourceClass).toBe('benign');
    expect(cyc.generate).toBe(697);
  });

  it('wires each GAN classifier to its GAN job and every GAN job to the reference', () => {
    const c = plan.jobs.find((j) => j.id === 'clf-gan-pggan-b200-r0') as ClassifierJobSpec;
    expect(c.dependsOn).toEqual(['gan-pggan-b200-malignant']);
    expect(c.generated).toEqual([{ job: 'gan-pggan-b200-malignant', artifact: 'generated.bin', className: 'malignant', count: 997 }]);
    expect(c.minorityClasses).toEqual(['malignant']);
    for (const g of gansOf(plan)) expect(g.dependsOn).toEqual(['clf-reference-r0']);
    const ref = plan.jobs.find((j) => j.id === 'clf-reference-r0') as ClassifierJobSpec;
    expect(ref.budget).toBeNull();
    expect(ref.minorityClasses).toEqual([]);
    expect(topologicalOrder(plan.jobs).map((j) => j.id)).toEqual(plan.jobs.map((j) => j.id));
  });

  it('has unique ids and deterministic seeds that depend on the id and the study seed', () => {
    const ids = plan.jobs.map((j) => j.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(plan.jobs.map((j) => j.seed)).size).toBe(ids.length);
    const again = buildPlan(config(), PUBLIC);
    expect(again).toEqual(plan);
    const fewer = buildPlan(config({ budgets: [200], gans: ['pggan'] }), PUBLIC);
    for (const j of fewer.jobs) expect(j.seed).toBe(plan.jobs.find((k) => k.id === j.id)!.seed);
    const other = buildPlan(config({ seed: 2 }), PUBLIC);
    expect(other.jobs[0].seed).not.toBe(plan.jobs[0].seed);
  });

  it('repeats classifier scenarios with distinct seeds, not GAN jobs', () => {
    const p = buildPlan(config({ repeats: 3 }), PUBLIC);
    expect(gansOf(p)).toHaveLength(12);
    expect(clfsOf(p)).toHaveLength(51);
    const reps = clfsOf(p).filter((j) => j.scenario === 'baseline' && j.budget === 50);
    expect(reps.map((j) => j.id)).toEqual(['clf-baseline-b50-r0', 'clf-baseline-b50-r1', 'clf-baseline-b50-r2']);
    expect(reps.map((j) => j.repeat)).toEqual([0, 1, 2]);
    expect(new Set(reps.map((j) => j.seed)).size).toBe(3);
    expect(new Set(reps.map((j) => j.budgetSeed)).size).toBe(1);
  });

  it('gives classifier jobs config.dataParallel replicas and GAN jobs one', () => {
    const p = buildPlan(config({ dataParallel: 2, trainers: 2 }), PUBLIC);
    expect(new Set(clfsOf(p).map((j) => j.replicas))).toEqual(new Set([2]));
    expect(new Set(gansOf(p).map((j) => j.replicas))).toEqual(new Set([1]));
  });

  it('uses fillTo and the random feature network when asked', () => {
    const p = buildPlan(config({ fillTo: 1440 }), PUBLIC, { featureNetwork: 'random' });
    const g = p.jobs.find((j) => j.id === 'gan-dcgan-b100-malignant') as GanJobSpec;
    expect(g.generate).toBe(1340);
    expect(g.featureJob).toBeNull();
    expect(g.dependsOn).toEqual([]);
  });
});

describe('buildPlan on multi-class data', () => {
  const counts: ClassCounts = {
    classes: ['bcc', 'keratosis', 'melanoma', 'nevus'],
    train: { bcc: 300, keratosis: 400, melanoma: 500, nevus: 2000 },
    test: { bcc: 50, keratosis: 50, melanoma: 50, nevus: 200 },
  };

  it('fills every smaller class, per-class GAN jobs, CycleGAN from the largest', () => {
    const p = buildPlan(config({ budgets: [50, 100] }), counts);
    expect(p.majorityClass).toBe('nevus');
    expect(p.minorityClasses).toEqual(['bcc', 'keratosis', 'melanoma']);
    expect(gansOf(p)).toHaveLength(2 * 3 * 3);
    const c = p.jobs.find((j) => j.id === 'clf-gan-cyclegan-b100-r0') as ClassifierJobSpec;
    expect(c.dependsOn).toEqual(['gan-cyclegan-b100-bcc', 'gan-cyclegan-b100-keratosis', 'gan-cyclegan-b100-melanoma']);
    expect(c.generated.map((g) => [g.className, g.count])).toEqual([
      ['bcc', 200],
      ['keratosis', 300],
      ['melanoma', 400],
    ]);
    const g = p.jobs.find((j) => j.id === 'gan-cyclegan-b50-keratosis') as GanJobSpec;
    expect(g.sourceClass).toBe('nevus');
  });

  it('honours an explicit minority list', () => {
    const p = buildPlan(config({ budgets: [50], minorityClasses: ['melanoma'] }), counts);
    expect(p.minorityClasses).toEqual(['melanoma']);
    expect(gansOf(p).map((j) => j.id)).toEqual(['gan-dcgan-b50-melanoma', 'gan-pggan-b50-melanoma', 'gan-cyclegan-b50-melanoma']);
  });
});

describe('buildPlan errors', () => {
  it('names the budget and the class when a budget is larger than the class', () => {
    expect(() => buildPlan(config({ budgets: [50, 1500] }), PUBLIC)).toThrow(UserInputError);
    expect(() => buildPlan(config({ budgets: [50, 1500] }), PUBLIC)).toThrow(/budget 1500 is larger than class "malignant" with 1197/);
  });

  it('rejects a budget that leaves nothing to generate', () => {
    expect(() => buildPlan(config({ budgets: [1197] }), PUBLIC)).toThrow(/budget 1197 leaves nothing to generate for class "malignant"/);
  });

  it('rejects unknown minority classes, equal classes without a minority list, and the largest as CycleGAN target', () => {
    expect(() => buildPlan(config({ minorityClasses: ['melanoma'] }), PUBLIC)).toThrow(/class "melanoma" is not in the dataset/);
    const equal: ClassCounts = { classes: ['a', 'b'], train: { a: 100, b: 100 }, test: { a: 10, b: 10 } };
    expect(() => buildPlan(config({ budgets: [10] }), equal)).toThrow(/no class is smaller than the largest/);
    expect(() => buildPlan(config({ budgets: [10], minorityClasses: ['a'] }), equal)).toThrow(/"a" is the largest class/);
    expect(buildPlan(config({ budgets: [10], minorityClasses: ['b'] }), equal).minorityClasses).toEqual(['b']);
  });

  it('rejects a class without training images', () => {
    const bad: ClassCounts = { classes: ['a', 'b'], train: { a: 100, b: 0 }, test: { a: 10, b: 10 } };
    expect(() => buildPlan(config({ budgets: [10] }), bad)).toThrow(/class "b" has no training images/);
  });
});
