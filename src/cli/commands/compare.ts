// `detkd compare RECIPES... --out DIR [--seeds K] [--epochs N] [--teacher CKPT] [--device D]`:
// trains the baseline student and each distilled student with the same seeds, evaluates the
// teacher once, and writes DIR/results.md (the table) and DIR/ap.png (AP per arm). Every run
// lives in DIR/<arm>/seed-<s>/ with its own checkpoints: a finished run (result.json) is skipped,
// an interrupted one resumes exactly where it stopped, so rerunning the same command continues an
// interrupted comparison. The table is rewritten after every run.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baselineOf, type DistillRecipe, isDistillRecipe, teacherOf } from '../../app/distill-recipe.ts';
import { evaluateDetector } from '../../app/evaluate.ts';
import { type DetectionRecipe, loadRecipe, prepareData } from '../../app/recipe.ts';
import {
  cocoMetrics,
  loadTeacher,
  medianStepTime,
  type RunResult,
  runRecipe,
  studentMacs,
} from '../../app/run-recipe.ts';
import { DetkdError } from '../../core/errors.ts';
import { parseVerbArgs } from '../args.ts';
import { plotAp } from '../compare/plot.ts';
import { type ArmSummary, markdownTable, summarise } from '../compare/table.ts';
import type { Command } from '../main.ts';
import { gracefulStop, stoppedNotice } from '../signals.ts';
import { VERBS } from '../verbs.ts';

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

function readResult(dir: string): RunResult | null {
  const p = join(dir, 'result.json');
  if (!existsSync(p)) return null;
  const r = JSON.parse(readFileSync(p, 'utf8')) as RunResult;
  // Step time from the log with the current rule (the median over windows).
  return { ...r, sPerIt: medianStepTime(dir) ?? r.sPerIt };
}

export const command: Command = {
  async run(argv) {
    const { values, positionals, help } = parseVerbArgs(VERBS.compare, argv);
    if (help) {
      console.log(VERBS.compare.usage);
      return 0;
    }
    const K = values.seeds;
    const epochs = values.epochs;
    const recipes: DistillRecipe[] = [];
    // Plain (teacherless) recipes are arms too: the student trained another way without a teacher
    // (e.g. another assigner) on the same data and schedule, so a distilled student can be read
    // against more than one baseline.
    const alone: DetectionRecipe[] = [];
    for (const p of positionals) {
      const r = await loadRecipe(p);
      if (isDistillRecipe(r)) recipes.push(withEpochs(r, epochs));
      else alone.push(withEpochs(r, epochs));
    }
    if (recipes.length === 0) {
      throw new DetkdError(
        `compare: none of ${positionals.join(', ')} is a distillation recipe (with a 'distill' section); the baseline and the teacher come from one`,
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
        (values.teacher === undefined && teacherOf(r).checkpoint !== teacherOf(first).checkpoint)
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
    const out = values.out;
    mkdirSync(out, { recursive: true });
    const device = values.device;
    const teacherCkpt = values.teacher ?? teacherOf(first).checkpoint;
    const seeds = Array.from({ length: K }, (_, i) => i);
    const arms: { name: string; recipe: DetectionRecipe }[] = [
      { name: 'baseline', recipe: { ...base, name: 'baseline' } },
      ...recipes.map((r) => ({ name: r.name, recipe: r as DetectionRecipe })),
      ...alone.map((r) => ({ name: r.name, recipe: r })),
    ];
    const aloneNames = new Set(alone.map((r) => r.name));
    console.log(
      `detkd compare: ${arms.length} arms (${arms.map((a) => a.name).join(', ')}) x ${K} seed(s), ${base.train.epochs ?? '?'} epochs each -> ${out}`,
    );

    // The teacher, evaluated once.
    const teacherFile = join(out, 'teacher.json');
    let teacher: {
      name: string;
      metrics: Record<string, number>;
      params: number;
      macs: number | null;
      checkpoint: string;
    } | null = null;
    if (existsSync(teacherFile)) {
      teacher = JSON.parse(readFileSync(teacherFile, 'utf8'));
      if (teacher?.checkpoint !== teacherCkpt) teacher = null;
    }
    if (teacher === null) {
      console.log(`evaluating the teacher ${teacherCkpt} on the val set ...`);
      const data = await prepareData(first);
      const t = loadTeacher(first, data, teacherCkpt, device, (s) => console.log(s));
      const e = await t.peek((m) =>
        evaluateDetector(m, data.val, { resize: first.data.resize, batchSize: first.data.batchSize, device }),
      );
      const macs = t.peek((m) => studentMacs(m, first.data.resize, device));
      teacher = {
        name: teacherOf(first).recipe.name,
        metrics: cocoMetrics({ ...e.coco.stats }),
        params: t.numParameters(),
        macs,
        checkpoint: teacherCkpt,
      };
      t.dispose();
      writeFileSync(teacherFile, `${JSON.stringify(teacher, null, 2)}\n`);
      console.log(`  teacher AP ${(teacher.metrics.AP! * 100).toFixed(1)}`);
    }

    const writeTable = async (): Promise<string> => {
      const results = new Map<string, RunResult[]>();
      for (const a of arms) {
        results.set(
          a.name,
          seeds
            .map((s) => readResult(join(out, a.name, `seed-${s}`)))
            .filter((r): r is RunResult => r !== null),
        );
      }
      // Only seeds every arm finished, so means compare like with like.
      const shared = seeds.filter((s) => arms.every((a) => results.get(a.name)!.some((r) => r.seed === s)));
      const summaries: ArmSummary[] = arms.map((a) => summarise(a.name, results.get(a.name)!, shared));
      const md = markdownTable({
        teacher: teacher
          ? { name: teacher.name, metrics: teacher.metrics, params: teacher.params, macs: teacher.macs }
          : null,
        baseline: summaries[0]!,
        methods: summaries.slice(1),
        seeds: shared,
        ...(alone.length > 0
          ? {
              notes: [
                `Trained without a teacher (other ways to train the same student): ${alone.map((r) => r.name).join(', ')}.`,
              ],
            }
          : {}),
      });
      const pending = arms.flatMap((a) =>
        seeds
          .filter((s) => !results.get(a.name)!.some((r) => r.seed === s))
          .map((s) => `${a.name}/seed-${s}`),
      );
      writeFileSync(
        join(out, 'results.md'),
        `# detkd compare\n\n${md}${pending.length > 0 ? `\nNot finished yet: ${pending.join(', ')}.\n` : ''}`,
      );
      if (shared.length > 0) await plotAp(summaries, teacher?.metrics.AP ?? null, join(out, 'ap.png'));
      return md;
    };

    const total = arms.length * K;
    let k = 0;
    const stop = gracefulStop();
    // Runs left to do after a signal (one arriving during a run's last step lets it finish).
    let interrupted = false;
    try {
      // Seed-major order: an interrupted comparison has complete seeds to show.
      for (const s of seeds) {
        for (const a of arms) {
          if (stop.signal.aborted) {
            interrupted = true;
            break;
          }
          k++;
          const dir = join(out, a.name, `seed-${s}`);
          if (readResult(dir) !== null) {
            console.log(`[${k}/${total}] ${a.name} seed ${s}: done earlier`);
            continue;
          }
          const resume = existsSync(join(dir, 'last.safetensors'));
          console.log(`[${k}/${total}] ${a.name} seed ${s}${resume ? ' (resuming)' : ''} -> ${dir}`);
          const r = await runRecipe(a.recipe, {
            runDir: dir,
            resume,
            overwrite: !resume,
            device,
            seed: s,
            ...(values.teacher && !aloneNames.has(a.name) ? { teacherCheckpoint: values.teacher } : {}),
            signal: stop.signal,
          });
          await writeTable();
          if (r.status === 'stopped') interrupted = true;
        }
      }
    } finally {
      stop.release();
    }
    if (interrupted && stop.exitCode !== null) {
      console.error(
        stoppedNotice(stop, `finished runs and the interrupted one's checkpoint are kept in ${out}`, {
          addResume: false,
        }),
      );
      return stop.exitCode;
    }
    const md = await writeTable();
    console.log(`\n${md}\ntable: ${join(out, 'results.md')}, plot: ${join(out, 'ap.png')}`);
    return 0;
  },
};
