// `detkd train RECIPE [--out DIR] [--resume] [--overwrite] [--device D]`: trains the recipe's
// detector with the generic Trainer (checkpoints, exact resume, progress, JSONL log, NaN guard)
// and evaluates COCO mAP on the recipe's val set. A distillation recipe trains its baseline
// student here (use `detkd distill` to distil).
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { baselineOf, isDistillRecipe } from '../../app/distill-recipe.ts';
import { loadRecipe } from '../../app/recipe.ts';
import { runRecipe } from '../../app/run-recipe.ts';
import type { Command } from '../main.ts';
import { gracefulStop, stoppedNotice } from '../signals.ts';

const USAGE = `usage: detkd train RECIPE [--out DIR] [--resume] [--overwrite] [--device cpu|cuda:N]

Trains the detector a recipe describes (a .ts file under recipes/, or your own).
  --out DIR     run directory (default runs/<recipe name>)
  --resume      continue from DIR/last.safetensors, exactly where it stopped
  --overwrite   start fresh even if DIR holds a previous run
  --device D    cpu (default) or cuda:N with a CUDA libtorch
A distillation recipe trains its student without the teacher here (the baseline);
'detkd distill' distils it.`;

export const command: Command = {
  summary: 'train a detector from a recipe',
  async run(argv) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
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
    const loaded = await loadRecipe(positionals[0]!);
    const recipe = baselineOf(loaded);
    const runDir =
      values.out ?? join('runs', isDistillRecipe(loaded) ? `${loaded.name}-baseline` : recipe.name);
    console.log(`detkd train: ${recipe.name} (${recipe.description}) -> ${runDir}`);
    const stop = gracefulStop();
    try {
      await runRecipe(recipe, {
        runDir,
        resume: values.resume,
        overwrite: values.overwrite,
        device: values.device,
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
