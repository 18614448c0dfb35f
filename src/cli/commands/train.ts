// `detkd train RECIPE [--out DIR] [--resume] [--overwrite] [--device D]`: trains the recipe's
// detector with the generic Trainer (checkpoints, exact resume, progress, JSONL log, NaN guard)
// and evaluates COCO mAP on the recipe's val set. A distillation recipe trains its baseline
// student here (use `detkd distill` to distil).
import { join } from 'node:path';
import { baselineOf, isDistillRecipe } from '../../app/distill-recipe.ts';
import { loadRecipe } from '../../app/recipe.ts';
import { parseVerbArgs } from '../args.ts';
import type { Command } from '../main.ts';
import { gracefulStop, stoppedNotice } from '../signals.ts';
import { VERBS } from '../verbs.ts';

export const command: Command = {
  async run(argv) {
    const { values, positionals, help } = parseVerbArgs(VERBS.train, argv);
    if (help) {
      console.log(VERBS.train.usage);
      return 0;
    }
    const loaded = await loadRecipe(positionals[0]!);
    // run-recipe loads libtorch: only once the recipe has passed its checks.
    const { runRecipe } = await import('../../app/run-recipe.ts');
    const recipe = baselineOf(loaded);
    const runDir =
      values.out ?? join('runs', isDistillRecipe(loaded) ? `${loaded.name}-baseline` : recipe.name);
    console.log(`detkd train: ${recipe.name} (${recipe.description}) -> ${runDir}`);
    const stop = gracefulStop();
    let status: 'finished' | 'stopped';
    try {
      ({ status } = await runRecipe(recipe, {
        runDir,
        resume: values.resume,
        overwrite: values.overwrite,
        device: values.device,
        signal: stop.signal,
      }));
    } finally {
      stop.release();
    }
    // (A signal during the last step lets the run finish: nothing to continue then.)
    if (status === 'stopped' && stop.exitCode !== null) {
      console.error(stoppedNotice(stop, `saved ${join(runDir, 'last.safetensors')}`, { addResume: true }));
      return stop.exitCode;
    }
    return 0;
  },
};
