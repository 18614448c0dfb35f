// `detkd distill RECIPE [--teacher CKPT] [--out DIR] [--resume] [--overwrite] [--device D]`:
// trains a distillation recipe's student with its frozen teacher and distillation terms. The
// deliverables (model_final/model_best.safetensors) hold the student alone and load in
// `detkd eval --recipe RECIPE --checkpoint ...` and `detkd predict` like any detector.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isDistillRecipe } from '../../app/distill-recipe.ts';
import { loadRecipe } from '../../app/recipe.ts';
import { runRecipe } from '../../app/run-recipe.ts';
import { DetkdError } from '../../core/errors.ts';
import type { Command } from '../main.ts';
import { gracefulStop, stoppedNotice } from '../signals.ts';

const USAGE = `usage: detkd distill RECIPE [--teacher CKPT] [--out DIR] [--resume] [--overwrite] [--device cpu|cuda:N]

Distils a teacher into the student a distillation recipe describes (recipes/demo-*.ts).
  --teacher CKPT  teacher weights (detkd checkpoint, model file or safetensors); default: the recipe's
  --out DIR       run directory (default runs/<recipe name>)
  --resume        continue from DIR/last.safetensors, exactly where it stopped
  --overwrite     start fresh even if DIR holds a previous run
  --device D      cpu (default) or cuda:N with a CUDA libtorch`;

export const command: Command = {
  summary: 'distil a teacher into a student from a distillation recipe',
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        teacher: { type: 'string' },
        out: { type: 'string' },
        resume: { type: 'boolean', default: false },
        overwrite: { type: 'boolean', default: false },
        device: { type: 'string', default: 'cpu' },
        help: { type: 'boolean', default: false },
      },
    });
    if (values.help || positionals.length !== 1) {
      console.log(USAGE);
      return values.help ? 0 : 2;
    }
    const recipe = await loadRecipe(positionals[0]!);
    if (!isDistillRecipe(recipe)) {
      throw new DetkdError(
        `recipe ${positionals[0]}: '${recipe.name}' has no 'distill' section (a teacher and terms); train it with 'detkd train'`,
      );
    }
    const runDir = values.out ?? join('runs', recipe.name);
    console.log(`detkd distill: ${recipe.name} (${recipe.description}) -> ${runDir}`);
    const stop = gracefulStop();
    try {
      await runRecipe(recipe, {
        runDir,
        resume: values.resume,
        overwrite: values.overwrite,
        device: values.device,
        ...(values.teacher ? { teacherCheckpoint: values.teacher } : {}),
        signal: stop.signal,
      });
    } finally {
      stop.release();
    }
    if (stop.exitCode !== null) {
      console.error(stoppedNotice(stop, `saved ${join(runDir, 'last.safetensors')}`, { addResume: true }));
      return stop.exitCode;
    }
    return 0;
  },
};
