/**
 * Times jobs of a profile in this process (one trainer, no coordinator), for choosing profile sizes.
 *
 *   npx tsx apps/trainer/src/jobs/bench.ts --data DIR [--profile quick] [--set key=value ...]
 *       [--only id,id,...] [--backend auto] [--threads N]
 *
 * DIR is an image folder (e.g. from `npx study synth`). `--only` runs the listed jobs and whatever
 * they depend on. Prints one line per job (wall time, metrics or losses) and the total.
 */
import { loadImageFolder } from '@gan-study/data';
import type { Dataset } from '@gan-study/data';
import { initBackend } from '@gan-study/models';
import type { BackendChoice } from '@gan-study/models';
import { buildPlan, parseAssignment, resolveConfig } from '@gan-study/protocol';
import type { JobSpec, Plan } from '@gan-study/protocol';
import { runPlanInMemory } from './testing';

function args(argv: string[]): { data: string; profile: string; sets: string[]; only: string[] | null; backend: string; threads?: number } {
  const out = { data: '', profile: 'quick', sets: [] as string[], only: null as string[] | null, backend: 'auto', threads: undefined as number | undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--data') out.data = v();
    else if (a === '--profile') out.profile = v();
    else if (a === '--set') out.sets.push(v());
    else if (a === '--only') out.only = v().split(',');
    else if (a === '--backend') out.backend = v();
    else if (a === '--threads') out.threads = Number(v());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!out.data) throw new Error('--data DIR is required');
  return out;
}

function withDependencies(plan: Plan, only: string[]): Plan {
  const byId = new Map(plan.jobs.map((j) => [j.id, j]));
  const keep = new Set<string>();
  const add = (id: string) => {
    const j = byId.get(id);
    if (!j) throw new Error(`--only: no job ${id} in the plan`);
    if (keep.has(id)) return;
    keep.add(id);
    j.dependsOn.forEach(add);
  };
  only.forEach(add);
  return { ...plan, jobs: plan.jobs.filter((j) => keep.has(j.id)) };
}

async function main(): Promise<void> {
  const a = args(process.argv.slice(2));
  const { config } = resolveConfig({ profile: a.profile, flags: a.sets.map(parseAssignment) });
  const info = await initBackend((a.backend as BackendChoice) ?? config.backend, { threads: a.threads });
  console.log(`backend ${info.backend} (${info.devices.join('; ')})`);
  const cache = new Map<number, Promise<Dataset>>();
  const dataset = (size: number) => {
    let d = cache.get(size);
    if (!d) {
      d = loadImageFolder(a.data, { size });
      cache.set(size, d);
    }
    return d;
  };
  const ds = await dataset(config.imageSize);
  const count = (set: Dataset['train']) => Object.fromEntries(ds.classes.map((c, i) => [c, set.labels.filter((l) => l === i).length]));
  let plan = buildPlan(config, { classes: ds.classes, train: count(ds.train), test: count(ds.test) });
  if (a.only) plan = withDependencies(plan, a.only);
  const t0 = Date.now();
  let cpu = process.cpuUsage();
  await runPlanInMemory(plan, dataset, {
    backend: info.backend,
    onJob: (spec: JobSpec, r, ms) => {
      const what =
        r.kind === 'classifier'
          ? `acc=${r.metrics.accuracy.toFixed(3)} auc=${r.metrics.auc.toFixed(3)} loss=${r.finalLoss.toFixed(3)} steps=${r.steps}`
          : `steps=${r.steps} ${Object.entries(r.finalLosses).map(([k, v]) => `${k}=${v.toFixed(3)}`).join(' ')} fid=${r.quality?.fid.toFixed(2)} prec=${r.quality?.precision.toFixed(2)} rec=${r.quality?.recall.toFixed(2)} train=${r.durations.trainMs}ms`;
      const used = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      console.log(`${spec.id.padEnd(30)} ${String(ms).padStart(7)} ms wall ${String(Math.round((used.user + used.system) / 1000)).padStart(7)} ms cpu  ${what}`);
    },
  });
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s for ${plan.jobs.length} jobs`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
