// The demo's steps before its comparison (`detkd demo`): the synthetic demo set (generated when
// missing), and the teacher: the committed one when it was trained on exactly this dataset
// (generator version and dataset hash stamped in the file), else retrained from its recipe,
// stamped and saved in the demo's folder.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DetkdError } from '../core/errors.ts';
import { type DistillRecipe, isDistillRecipe, teacherOf } from './distill-recipe.ts';
import { loadRecipe, prepareData, readSynthManifest, synthDir } from './recipe.ts';
import { runRecipe } from './run-recipe.ts';
import { readTeacherStamp, writeStampedTeacher } from './teacher-stamp.ts';

/** The repository root (recipes/ and teachers/ live there), from this file's location. */
function root(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export interface DemoSet {
  recipePath: string;
  recipe: DistillRecipe;
  /** The synthetic set's folder, its generator version and content hash. */
  dir: string;
  version: number;
  hash: string;
}

/** The demo recipe and its dataset, generated when missing. */
export async function demoSet(log: (s: string) => void): Promise<DemoSet> {
  const recipePath = join(root(), 'recipes', 'demo-ld-kd.ts');
  const recipe = await loadRecipe(recipePath);
  if (!isDistillRecipe(recipe)) throw new DetkdError(`${recipePath}: not a distillation recipe`);
  await prepareData(recipe, log);
  const dir = synthDir(recipe.data)!;
  const m = readSynthManifest(dir);
  return { recipePath, recipe, dir, version: m.version, hash: m.hash };
}

/** The committed teacher's path if it was trained on this very set, else why it cannot be used. */
export function committedTeacher(s: DemoSet): { teacher: string } | { why: string } {
  const teacher = join(root(), teacherOf(s.recipe).checkpoint);
  const stamp = existsSync(teacher) ? readTeacherStamp(teacher) : null;
  if (stamp === null) return { why: `${teacher} is missing or has no stamp` };
  if (stamp.synthHash !== s.hash || stamp.synthVersion !== s.version) {
    return {
      why: `${teacher} was trained on generator v${stamp.synthVersion}, dataset ${stamp.synthHash.slice(0, 12)}; ${s.dir} is v${s.version}, dataset ${s.hash.slice(0, 12)}`,
    };
  }
  return { teacher };
}

/**
 * Trains the teacher from its recipe in OUT/teacher (resuming an interrupted retraining) and, when
 * it finished, writes the stamped fp16 teacher there.
 */
export async function retrainTeacher(
  s: DemoSet,
  out: string,
  o: { signal?: AbortSignal; log?: (s: string) => void } = {},
): Promise<{ status: 'finished'; teacher: string } | { status: 'stopped'; runDir: string }> {
  const tr = teacherOf(s.recipe).recipe;
  const runDir = join(out, 'teacher');
  const resume = existsSync(join(runDir, 'last.safetensors'));
  const r = await runRecipe(tr, {
    runDir,
    resume,
    overwrite: !resume,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  // Even when the teacher's run finished during its last step: the user asked to stop, and a
  // rerun stamps the finished teacher and goes on.
  if (r.status !== 'finished' || o.signal?.aborted === true) return { status: 'stopped', runDir };
  const teacher = join(runDir, 'teacher-fp16.safetensors');
  writeStampedTeacher(join(runDir, 'model_final.safetensors'), teacher, {
    synthVersion: s.version,
    synthHash: s.hash,
    recipe: tr.name,
    ...(r.final ? { valAP: r.final.AP! } : {}),
  });
  return { status: 'finished', teacher };
}
