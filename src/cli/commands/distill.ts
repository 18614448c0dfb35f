// `detkd distill RECIPE [--teacher CKPT [--teacher-format F]] [--out DIR] [--resume] [--overwrite] [--device D]`:
// trains a distillation recipe's student with its frozen teacher and distillation terms. The
// deliverables (model_final/model_best.safetensors) hold the student alone and load in
// `detkd eval --recipe RECIPE --checkpoint ...` and `detkd predict` like any detector.
import { join } from 'node:path';
import { isDistillRecipe } from '../../app/distill-recipe.ts';
import { loadRecipe } from '../../app/recipe.ts';
import { runRecipe } from '../../app/run-recipe.ts';
import { DetkdError } from '../../core/errors.ts';
import { parseVerbArgs } from '../args.ts';
import type { Command } from '../main.ts';
import { gracefulStop, stoppedNotice } from '../signals.ts';
import { VERBS } from '../verbs.ts';

export const command: Command = {
  async run(argv) {
    const { values, positionals, help } = parseVerbArgs(VERBS.distill, argv);
    if (help) {
      console.log(VERBS.distill.usage);
      return 0;
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
    let status: 'finished' | 'stopped';
    try {
      ({ status } = await runRecipe(recipe, {
        runDir,
        resume: values.resume,
        overwrite: values.overwrite,
        device: values.device,
        ...(values.teacher ? { teacherCheckpoint: values.teacher } : {}),
        ...(values['teacher-format']
          ? { teacherFormat: values['teacher-format'] as 'torchvision' | 'mmdet' }
          : {}),
        signal: stop.signal,
      }));
    } finally {
      stop.release();
    }
    if (status === 'stopped' && stop.exitCode !== null) {
      console.error(stoppedNotice(stop, `saved ${join(runDir, 'last.safetensors')}`, { addResume: true }));
      return stop.exitCode;
    }
    return 0;
  },
};
