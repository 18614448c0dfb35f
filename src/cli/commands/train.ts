// `detkd train RECIPE [--out DIR] [--resume] [--overwrite] [--device D]`: trains the recipe's
// detector with the generic Trainer (checkpoints, exact resume, progress, JSONL log, NaN guard)
// and evaluates COCO mAP on the recipe's val set.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DetkdError } from '../../core/errors.ts';
import { manualSeed } from '../../core/random.ts';
import { DetectionLoader } from '../../data/loader.ts';
import { evalTransforms, trainTransforms } from '../../data/transforms.ts';
import type { DenseDetector } from '../../detection/detector.ts';
import { evaluateDetector } from '../../detection/evaluate.ts';
import { buildDetector } from '../../detection/models/build.ts';
import type { Batch } from '../../structures/tensor-batch.ts';
import type { JsonValue } from '../../train/checkpoint.ts';
import { detectionSource, type Metrics, type Task } from '../../train/task.ts';
import { Trainer } from '../../train/trainer.ts';
import type { Command } from '../main.ts';
import { type DetectionRecipe, loadRecipe, prepareData, type RecipeDatasets } from '../recipe.ts';

const USAGE = `usage: detkd train RECIPE [--out DIR] [--resume] [--overwrite] [--device cpu|cuda:N]

Trains the detector a recipe describes (a .ts file under recipes/, or your own).
  --out DIR     run directory (default runs/<recipe name>)
  --resume      continue from DIR/last.safetensors, exactly where it stopped
  --overwrite   start fresh even if DIR holds a previous run
  --device D    cpu (default) or cuda:N with a CUDA libtorch`;

export function detectorFor(recipe: DetectionRecipe, data: RecipeDatasets): DenseDetector {
  const n = data.train.categories.size;
  if (recipe.model.numClasses !== n) {
    throw new DetkdError(
      `recipe ${recipe.name}: model.numClasses is ${recipe.model.numClasses} but ${data.train.annFile} has ${n} categories`,
    );
  }
  return buildDetector(recipe.model);
}

/** COCO metrics as the trainer logs them. */
export function cocoMetrics(s: { [k: string]: number }): Metrics {
  const out: Metrics = {};
  for (const k of ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100']) out[k] = s[k]!;
  return out;
}

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
    const recipe = await loadRecipe(positionals[0]!);
    const runDir = values.out ?? join('runs', recipe.name);
    const device = values.device;
    console.log(`detkd train: ${recipe.name} (${recipe.description}) -> ${runDir}`);
    const data = await prepareData(recipe);
    console.log(
      `  train ${data.train.length} images, val ${data.val.length} images, ${data.train.categories.size} classes`,
    );
    // The initial weights come from the global generator: seed it before building, so a recipe
    // and seed give the same run every time.
    manualSeed(recipe.train.seed ?? 0);
    const det = detectorFor(recipe, data);
    if (device !== 'cpu') det.to(device);
    console.log(`  model: ${recipe.model.kind}, ${(det.numParameters() / 1e6).toFixed(2)} M parameters`);
    const d = recipe.data;
    const loader = new DetectionLoader(data.train, {
      batchSize: d.batchSize,
      transforms: d.augment === false ? evalTransforms(d.resize) : trainTransforms(d.resize),
      seed: recipe.train.seed ?? 0,
      numWorkers: d.numWorkers ?? 1,
      dropLast: true,
      cacheBytes: (d.cacheMB ?? 1024) * 2 ** 20,
    });
    const task: Task<Batch> = {
      module: det,
      losses: (b) => det.losses(b),
      evaluate: async () => {
        const e = await evaluateDetector(det, data.val, { resize: d.resize, batchSize: d.batchSize, device });
        console.log(
          `  eval: AP ${(e.coco.stats.AP * 100).toFixed(1)}, AP50 ${(e.coco.stats.AP50 * 100).toFixed(1)} (${e.imagesPerSecond.toFixed(1)} img/s)`,
        );
        return cocoMetrics({ ...e.coco.stats });
      },
    };
    const trainer = new Trainer(task, detectionSource(loader, device), {
      ...recipe.train,
      best: recipe.train.best ?? { metric: 'AP' },
      runDir,
      resume: values.resume,
      overwrite: values.overwrite,
      recipe: JSON.parse(
        JSON.stringify({ ...recipe, ...(data.synthHash ? { synthHash: data.synthHash } : {}) }),
      ) as JsonValue,
    });
    try {
      const r = await trainer.fit();
      const last = r.history[r.history.length - 1];
      console.log(
        `done (${r.status}): ${last ? `AP ${(Number(last.metrics.AP) * 100).toFixed(1)}` : 'no evaluation'}; best ${r.best ? `${(r.best.value * 100).toFixed(1)} at epoch ${r.best.epoch}` : '-'}; run dir ${r.runDir}`,
      );
    } finally {
      await loader.close();
    }
    return 0;
  },
};
