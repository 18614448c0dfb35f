// A trained detector run on single images (`detkd predict`): the recipe's detector with the
// checkpoint's weights, each image through the recipe's evaluation transform, the detections back
// in original pixels with the dataset's category ids.
import { noGrad, tidy } from '../core/tensor.ts';
import type { CategoryMap } from '../data/categories.ts';
import { collate } from '../data/collate.ts';
import type { RgbImage } from '../data/decode.ts';
import { Rng } from '../data/rng.ts';
import { applyTransforms, evalTransforms, makeSample } from '../data/transforms.ts';
import { buildDetector } from '../detection/models/build.ts';
import { type CocoResultEntry, toCocoResults } from '../detection/postprocess.ts';
import { toTensorBatch } from '../structures/tensor-batch.ts';
import { loadDetectorCheckpoint, recipeCategories } from './checkpoint-load.ts';
import { loadRecipe } from './recipe.ts';

/** One image's detections in original pixels, as host arrays. */
export interface HostDetections {
  /** COCO entries (xywh, dataset category ids), in the detector's order. */
  entries: CocoResultEntry[];
  boxes: number[]; // [D * 4] xyxy
  labels: number[]; // [D] contiguous labels
}

export interface Predictor {
  /** The recipe's classes, in label order. */
  categories: CategoryMap;
  /** Runs one decoded image; `index` becomes its image_id. */
  detect(img: RgbImage, index: number, file: string): HostDetections;
  dispose(): void;
}

/**
 * Builds the recipe's detector with the checkpoint's weights (refused, naming the file, when they
 * do not fit: before a synthetic set would be generated for the class list). Notes go to `warn`.
 */
export async function openPredictor(
  o: { recipe: string; checkpoint: string; device?: string },
  warn: (text: string) => void,
): Promise<Predictor> {
  const device = o.device ?? 'cpu';
  const recipe = await loadRecipe(o.recipe);
  const det = buildDetector(recipe.model);
  try {
    if (device !== 'cpu') det.to(device);
    const loaded = loadDetectorCheckpoint(det, o.checkpoint, recipe, { device });
    for (const n of loaded.notes) warn(`detkd: note: ${n}`);
    const { categories } = await recipeCategories(recipe, warn);
    det.eval();
    const cfg = evalTransforms(recipe.data.resize);
    return {
      categories,
      detect(img, index, file) {
        const sample = makeSample(img, {
          imageId: index,
          fileName: file,
          boxes: new Float32Array(0),
          labels: new Int32Array(0),
          ignore: new Float32Array(0),
        });
        // The eval transform has no flip and no jitter: the generator's numbers change nothing.
        const host = collate([applyTransforms(sample, cfg, new Rng(0))], cfg.padDivisor, {
          indices: [index],
          epoch: 0,
          step: index,
        });
        return tidy(() => {
          const b = toTensorBatch(host, device);
          const [d] = noGrad(() => det.predict(b.images, b.metas));
          if (d === undefined) throw new Error('predict: the detector returned no result');
          return {
            entries: toCocoResults(d, index, (l) => categories.categoryIdOf(l)),
            boxes: d.boxes.toArray(),
            labels: d.labels.toArray(),
          };
        });
      },
      dispose: () => det.dispose(),
    };
  } catch (e) {
    det.dispose();
    throw e;
  }
}
