// `detkd demo` (what `make demo` runs): generates the synthetic `demo` set if it is missing,
// checks that the committed teacher was trained on exactly this dataset (generator version and
// dataset hash stamped in the file) and retrains it from its recipe if not, then trains the
// baseline student and the LD + KD distilled student with the same seed and prints the
// comparison table (`detkd compare` with one seed, so an interrupted demo resumes).
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDistillRecipe, teacherOf } from '../../app/distill-recipe.ts';
import { loadRecipe, prepareData, readSynthManifest, synthDir } from '../../app/recipe.ts';
import { runRecipe } from '../../app/run-recipe.ts';
import { readTeacherStamp, writeStampedTeacher } from '../../app/teacher-stamp.ts';
import { parseVerbArgs } from '../args.ts';
import type { Command } from '../main.ts';
import { gracefulStop, stoppedNotice } from '../signals.ts';
import { VERBS } from '../verbs.ts';
import { command as compare } from './compare.ts';

/** The repository root (recipes/ and teachers/ live there), from this file's location. */
function root(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
}

export const command: Command = {
  async run(argv) {
    const { values, help } = parseVerbArgs(VERBS.demo, argv);
    if (help) {
      console.log(VERBS.demo.usage);
      return 0;
    }
    const t0 = performance.now();
    const recipePath = join(root(), 'recipes', 'demo-ld-kd.ts');
    const recipe = await loadRecipe(recipePath);
    if (!isDistillRecipe(recipe)) throw new Error(`${recipePath}: not a distillation recipe`);
    console.log('detkd demo: distil a GFL teacher into a 4x smaller GFL student with LD + KD\n');
    // 1. The dataset (generated when missing).
    await prepareData(recipe);
    const dir = synthDir(recipe.data)!;
    const data = readSynthManifest(dir);
    // 2. The teacher: the committed one if it was trained on this very dataset, else retrained.
    let teacher = join(root(), teacherOf(recipe).checkpoint);
    const stamp = existsSync(teacher) ? readTeacherStamp(teacher) : null;
    if (stamp !== null && stamp.synthHash === data.hash && stamp.synthVersion === data.version) {
      console.log(
        `teacher: ${teacher} (stamped: generator v${stamp.synthVersion}, dataset ${data.hash.slice(0, 12)}, matches ${dir})`,
      );
    } else {
      const why =
        stamp === null
          ? `${teacher} is missing or has no stamp`
          : `${teacher} was trained on generator v${stamp.synthVersion}, dataset ${stamp.synthHash.slice(0, 12)}; ${dir} is v${data.version}, dataset ${data.hash.slice(0, 12)}`;
      console.log(
        `teacher: ${why}.\nRetraining the teacher from recipes/demo-teacher.ts (about 20-30 min on 2 cores) ...`,
      );
      const tr = teacherOf(recipe).recipe;
      const runDir = join(values.out, 'teacher');
      const stop = gracefulStop();
      let r: Awaited<ReturnType<typeof runRecipe>>;
      try {
        r = await runRecipe(tr, {
          runDir,
          resume: existsSync(join(runDir, 'last.safetensors')),
          overwrite: !existsSync(join(runDir, 'last.safetensors')),
          signal: stop.signal,
        });
      } finally {
        stop.release();
      }
      // Even when the teacher's run finished during its last step: the user asked to stop, and a
      // rerun stamps the finished teacher and goes on.
      if (stop.exitCode !== null) {
        console.error(
          stoppedNotice(stop, `the teacher's checkpoint is kept in ${runDir}`, { addResume: false }),
        );
        return stop.exitCode;
      }
      teacher = join(runDir, 'teacher-fp16.safetensors');
      writeStampedTeacher(join(runDir, 'model_final.safetensors'), teacher, {
        synthVersion: data.version,
        synthHash: data.hash,
        recipe: tr.name,
        ...(r.final ? { valAP: r.final.AP! } : {}),
      });
      console.log(`teacher: retrained, stamped and saved to ${teacher}`);
    }
    // 3. Baseline and LD + KD, side by side.
    const code = await compare.run([
      recipePath,
      '--out',
      values.out,
      '--seeds',
      String(values.seeds),
      '--teacher',
      teacher,
    ]);
    // compare printed how to continue after a Ctrl-C (rerunning the demo resumes it).
    if (code !== 0) return code;
    console.log(`\ndemo finished in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
    return code;
  },
};
