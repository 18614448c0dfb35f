// A trained checkpoint evaluated on a val set (`detkd eval --recipe R --checkpoint C`): the
// recipe's detector with the checkpoint's weights, run over the recipe's val set or another COCO
// json with the same categories.
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { DetkdError } from '../core/errors.ts';
import { type CocoDataset, loadCoco } from '../data/coco.ts';
import { buildDetector } from '../detection/models/build.ts';
import { loadDetectorCheckpoint, recipeCategories, recipeValSet } from './checkpoint-load.ts';
import { type DetectorEvaluation, evaluateDetector } from './evaluate.ts';
import { loadRecipe } from './recipe.ts';

export interface EvalCheckpointOptions {
  recipe: string;
  checkpoint: string;
  /** A COCO json to evaluate on instead of the recipe's val set, and its image folder. */
  data?: string;
  images?: string;
  /** Also write the detections here as a COCO results json. */
  saveResults?: string;
  device?: string;
}

/**
 * Builds the recipe's detector, loads the checkpoint (refused before any dataset is read when it
 * does not fit), and evaluates it on the val set (or `data`). Notes go to `log`.
 */
export async function evaluateCheckpoint(
  opts: EvalCheckpointOptions,
  log: (text: string) => void,
): Promise<{ evaluation: DetectorEvaluation; gtFile: string }> {
  const recipe = await loadRecipe(opts.recipe);
  const device = opts.device ?? 'cpu';
  if (opts.images !== undefined && opts.data === undefined) {
    throw new DetkdError('eval: --images goes with --data');
  }
  const det = buildDetector(recipe.model);
  try {
    if (device !== 'cpu') det.to(device);
    // The weights first: a checkpoint of another detector is refused before a dataset is read
    // (or, for a synthetic one, generated).
    const loaded = loadDetectorCheckpoint(det, opts.checkpoint, recipe, { device });
    for (const n of loaded.notes) log(`detkd: note: ${n}`);
    const { categories, annFile } = await recipeCategories(recipe, log);
    const val: CocoDataset =
      opts.data !== undefined
        ? await loadCoco({ annFile: opts.data, imageDir: opts.images ?? dirname(opts.data) })
        : await recipeValSet(recipe, log);
    const want = categories.categories.map((c) => c.id).join(',');
    const got = val.categories.categories.map((c) => c.id).join(',');
    if (want !== got) {
      throw new DetkdError(
        `eval: ${val.annFile} has category ids [${got}], but the recipe's ${annFile} has [${want}]: the detector's labels would map to the wrong classes`,
      );
    }
    const d = recipe.data;
    const evaluation = await evaluateDetector(det, val, { resize: d.resize, batchSize: d.batchSize, device });
    if (opts.saveResults !== undefined) {
      try {
        writeFileSync(opts.saveResults, `${JSON.stringify(evaluation.results)}\n`);
      } catch (err) {
        throw new DetkdError(`eval: cannot write ${opts.saveResults} (${(err as Error).message})`);
      }
    }
    return { evaluation, gtFile: val.annFile };
  } finally {
    det.dispose();
  }
}
