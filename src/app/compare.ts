// A comparison (`detkd compare`, and the demo through it): the baseline student and each
// distilled student trained with the same seeds, the teacher evaluated once. Every run lives in
// OUT/<arm>/seed-<s>/ with its own checkpoints: a finished run (result.json) is skipped, an
// interrupted one resumes exactly where it stopped, so running the same comparison again
// continues it. The CLI turns the results into the table and the plot.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DetkdError } from '../core/errors.ts';
import { baselineOf, type DistillRecipe, isDistillRecipe, teacherOf } from './distill-recipe.ts';
import { evaluateDetector } from './evaluate.ts';
import { type DetectionRecipe, loadRecipe, prepareData } from './recipe.ts';
import {
  cocoMetrics,
  loadTeacher,
  medianStepTime,
  type RunResult,
  runRecipe,
  studentMacs,
} from './run-recipe.ts';

/** JSON with sorted keys, to compare configs. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(Reflect.get(v, k))}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The recipe with its length changed to `epochs` (multistep milestones scaled, rounded, kept >= 1). */
export function withEpochs<R extends DetectionRecipe>(r: R, epochs: number | undefined): R {
  if (epochs === undefined) return r;
  const old = r.train.epochs ?? epochs;
  const lr = r.train.lr;
  let newLr = lr;
  if (lr && lr.rule.kind === 'multistep' && lr.byEpoch) {
    const ms = [
      ...new Set(
        lr.rule.milestones.map((m) => Math.max(1, Math.min(epochs - 1, Math.round((m * epochs) / old)))),
      ),
    ];
    newLr = { ...lr, rule: { ...lr.rule, milestones: ms.filter((m) => m >= 1 && m < epochs) } };
  }
  return {
    ...r,
    train: { ...r.train, epochs, evalInterval: epochs, ...(newLr ? { lr: newLr } : {}) },
  };
}

/** A finished run's result.json, or null. */
export function readResult(dir: string): RunResult | null {
  const p = join(dir, 'result.json');
  if (!existsSync(p)) return null;
  const r = JSON.parse(readFileSync(p, 'utf8')) as RunResult;
  // Step time from the log with the current rule (the median over windows).
  return { ...r, sPerIt: medianStepTime(dir) ?? r.sPerIt };
}

export interface Arm {
  name: string;
  recipe: DetectionRecipe;
  /** A plain recipe: trained without the teacher. */
  alone: boolean;
}

export interface Comparison {
  /** The first distillation recipe: the baseline, the data and the teacher come from it. */
  first: DistillRecipe;
  /** Its student trained without a teacher, first of the arms as 'baseline'. */
  base: DetectionRecipe;
  arms: Arm[];
  teacherCheckpoint: string;
}

/**
 * Loads the recipes and checks that they make one comparison: every distillation recipe distils
 * the same student (model, data, schedule) from the same teacher, plain recipes train on the same
 * data and schedule, and no two arms share a name.
 */
export async function planComparison(
  paths: readonly string[],
  o: { epochs?: number; teacher?: string } = {},
): Promise<Comparison> {
  const recipes: DistillRecipe[] = [];
  // Plain (teacherless) recipes are arms too: the student trained another way without a teacher
  // (e.g. another assigner) on the same data and schedule, so a distilled student can be read
  // against more than one baseline.
  const alone: DetectionRecipe[] = [];
  for (const p of paths) {
    const r = await loadRecipe(p);
    if (isDistillRecipe(r)) recipes.push(withEpochs(r, o.epochs));
    else alone.push(withEpochs(r, o.epochs));
  }
  if (recipes.length === 0) {
    throw new DetkdError(
      `compare: none of ${paths.join(', ')} is a distillation recipe (with a 'distill' section); the baseline and the teacher come from one`,
    );
  }
  const first = recipes[0]!;
  const base = baselineOf(first);
  for (const r of recipes.slice(1)) {
    const b = baselineOf(r);
    if (
      canonical(b.model) !== canonical(base.model) ||
      canonical(b.data) !== canonical(base.data) ||
      canonical(b.train) !== canonical(base.train)
    ) {
      throw new DetkdError(
        `compare: '${r.name}' and '${first.name}' distil different students (model, data or schedule differ); a comparison needs one baseline`,
      );
    }
    if (
      teacherOf(r).recipe.name !== teacherOf(first).recipe.name ||
      (o.teacher === undefined && teacherOf(r).checkpoint !== teacherOf(first).checkpoint)
    ) {
      throw new DetkdError(`compare: '${r.name}' and '${first.name}' use different teachers`);
    }
  }
  for (const r of alone) {
    if (canonical(r.data) !== canonical(base.data) || canonical(r.train) !== canonical(base.train)) {
      throw new DetkdError(
        `compare: '${r.name}' (trained without a teacher) must use the same data and schedule as the baseline student of '${first.name}'`,
      );
    }
  }
  const names = new Set<string>();
  for (const r of [...recipes, ...alone]) {
    if (names.has(r.name) || r.name === 'baseline' || r.name === 'teacher')
      throw new DetkdError(`compare: arm name '${r.name}' is used twice or reserved`);
    names.add(r.name);
  }
  return {
    first,
    base,
    arms: [
      { name: 'baseline', recipe: { ...base, name: 'baseline' }, alone: false },
      ...recipes.map((r) => ({ name: r.name, recipe: r as DetectionRecipe, alone: false })),
      ...alone.map((r) => ({ name: r.name, recipe: r, alone: true })),
    ],
    teacherCheckpoint: o.teacher ?? teacherOf(first).checkpoint,
  };
}

/** What OUT/teacher.json holds: the teacher's val metrics and size. */
export interface TeacherRecord {
  name: string;
  metrics: Record<string, number>;
  params: number;
  macs: number | null;
  checkpoint: string;
}

/** The teacher's record, evaluated on the val set once per checkpoint (kept in OUT/teacher.json). */
export async function teacherRecord(
  c: Comparison,
  out: string,
  device: string,
  log: (s: string) => void,
): Promise<TeacherRecord> {
  const file = join(out, 'teacher.json');
  if (existsSync(file)) {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as TeacherRecord;
    if (kept.checkpoint === c.teacherCheckpoint) return kept;
  }
  const { first } = c;
  log(`evaluating the teacher ${c.teacherCheckpoint} on the val set ...`);
  const data = await prepareData(first);
  const t = loadTeacher(first, data, c.teacherCheckpoint, device, log);
  const e = await t.peek((m) =>
    evaluateDetector(m, data.val, { resize: first.data.resize, batchSize: first.data.batchSize, device }),
  );
  const macs = t.peek((m) => studentMacs(m, first.data.resize, device));
  const teacher: TeacherRecord = {
    name: teacherOf(first).recipe.name,
    metrics: cocoMetrics({ ...e.coco.stats }, e.proposals),
    params: t.numParameters(),
    macs,
    checkpoint: c.teacherCheckpoint,
  };
  t.dispose();
  writeFileSync(file, `${JSON.stringify(teacher, null, 2)}\n`);
  log(`  teacher AP ${(teacher.metrics.AP! * 100).toFixed(1)}`);
  return teacher;
}

/** The finished runs of every arm, by arm name. */
export function armResults(c: Comparison, out: string, seeds: readonly number[]): Map<string, RunResult[]> {
  const results = new Map<string, RunResult[]>();
  for (const a of c.arms) {
    results.set(
      a.name,
      seeds.map((s) => readResult(join(out, a.name, `seed-${s}`))).filter((r): r is RunResult => r !== null),
    );
  }
  return results;
}

export interface TrainArmsOptions {
  out: string;
  seeds: readonly number[];
  device: string;
  /** The --teacher override, passed to the distilled arms. */
  teacher?: string;
  signal?: AbortSignal;
  log: (s: string) => void;
  /** Called after each run (the CLI rewrites the table). */
  afterRun?: () => Promise<void>;
}

/**
 * Trains every arm for every seed that has no result yet, seed-major (an interrupted comparison
 * has complete seeds to show). 'stopped' when the signal ended it with runs left to do.
 */
export async function trainArms(c: Comparison, o: TrainArmsOptions): Promise<'finished' | 'stopped'> {
  const total = c.arms.length * o.seeds.length;
  let k = 0;
  for (const s of o.seeds) {
    for (const a of c.arms) {
      // Runs left to do after a signal (one arriving during a run's last step lets it finish).
      if (o.signal?.aborted) return 'stopped';
      k++;
      const dir = join(o.out, a.name, `seed-${s}`);
      if (readResult(dir) !== null) {
        o.log(`[${k}/${total}] ${a.name} seed ${s}: done earlier`);
        continue;
      }
      const resume = existsSync(join(dir, 'last.safetensors'));
      o.log(`[${k}/${total}] ${a.name} seed ${s}${resume ? ' (resuming)' : ''} -> ${dir}`);
      const r = await runRecipe(a.recipe, {
        runDir: dir,
        resume,
        overwrite: !resume,
        device: o.device,
        seed: s,
        ...(o.teacher && !a.alone ? { teacherCheckpoint: o.teacher } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
      await o.afterRun?.();
      if (r.status === 'stopped') return 'stopped';
    }
  }
  return 'finished';
}
