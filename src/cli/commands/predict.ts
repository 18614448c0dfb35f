// `detkd predict --recipe R --checkpoint C IMAGES... --out DIR`: runs a trained detector on image
// files and writes COCO results plus one PNG per image with the detections drawn.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { loadDetectorCheckpoint, recipeCategories } from '../../app/checkpoint-load.ts';
import { loadRecipe } from '../../app/recipe.ts';
import { DetkdError } from '../../core/errors.ts';
import { noGrad, tidy } from '../../core/tensor.ts';
import { collate } from '../../data/collate.ts';
import { decodeImageFile, type RgbImage } from '../../data/decode.ts';
import { Rng } from '../../data/rng.ts';
import { applyTransforms, evalTransforms, makeSample, type ResizeSpec } from '../../data/transforms.ts';
import type { DenseDetector } from '../../detection/detector.ts';
import { buildDetector } from '../../detection/models/build.ts';
import { type CocoResultEntry, toCocoResults } from '../../detection/postprocess.ts';
import { toTensorBatch } from '../../structures/tensor-batch.ts';
import { parseVerbArgs } from '../args.ts';
import { classColor, type DrawItem, renderDetections, upscaleForDrawing } from '../draw.ts';
import type { Command } from '../main.ts';
import { VERBS } from '../verbs.ts';

export const USAGE = VERBS.predict.usage;

export interface PredictOptions {
  recipe: string;
  checkpoint: string;
  images: string[];
  out: string;
  scoreThr?: number;
  device?: string;
}

export interface PredictEntry extends CocoResultEntry {
  file_name: string;
}

export interface PredictSummary {
  results: PredictEntry[];
  /** PNG paths written, by image index (null for an image that failed). */
  drawn: (string | null)[];
  /** Images that could not be read, with the reason. */
  failed: { file: string; message: string }[];
}

/** Output names: the base name without extension, made unique with -<index>. */
function outputNames(files: readonly string[]): string[] {
  const bases = files.map((f) => basename(f, extname(f)));
  const count = new Map<string, number>();
  for (const b of bases) count.set(b, (count.get(b) ?? 0) + 1);
  return bases.map((b, i) => ((count.get(b) ?? 0) > 1 ? `${b}-${i}` : b));
}

/** One image's detections in original pixels, as host arrays. */
interface HostDetections {
  /** COCO entries (xywh, dataset category ids), in the detector's order. */
  entries: CocoResultEntry[];
  boxes: number[]; // [D * 4] xyxy
  labels: number[]; // [D] contiguous labels
}

/** One image through the eval transform (resize, pad) and the detector. */
function detect(
  det: DenseDetector,
  img: RgbImage,
  index: number,
  file: string,
  o: { resize: ResizeSpec; device: string; categoryIdOf: (label: number) => number },
): HostDetections {
  const sample = makeSample(img, {
    imageId: index,
    fileName: file,
    boxes: new Float32Array(0),
    labels: new Int32Array(0),
    ignore: new Float32Array(0),
  });
  const cfg = evalTransforms(o.resize);
  // The eval transform has no flip and no jitter: the generator's numbers change nothing.
  const host = collate([applyTransforms(sample, cfg, new Rng(0))], cfg.padDivisor, {
    indices: [index],
    epoch: 0,
    step: index,
  });
  return tidy(() => {
    const b = toTensorBatch(host, o.device);
    const [d] = noGrad(() => det.predict(b.images, b.metas));
    if (d === undefined) throw new Error('predict: the detector returned no result');
    return {
      entries: toCocoResults(d, index, o.categoryIdOf),
      boxes: d.boxes.toArray(),
      labels: d.labels.toArray(),
    };
  });
}

/**
 * Runs the detector over `images`; writes results.json and the drawings into `out`.
 * Unreadable images are collected in `failed` (and logged), not thrown.
 */
export async function predict(
  opts: PredictOptions,
  log: (text: string) => void = (t) => console.log(t),
  warn: (text: string) => void = (t) => console.error(t),
): Promise<PredictSummary> {
  const scoreThr = opts.scoreThr ?? 0.3;
  const device = opts.device ?? 'cpu';
  const recipe = await loadRecipe(opts.recipe);
  const det = buildDetector(recipe.model);
  const results: PredictEntry[] = [];
  const drawn: (string | null)[] = [];
  const failed: { file: string; message: string }[] = [];
  try {
    if (device !== 'cpu') det.to(device);
    const loaded = loadDetectorCheckpoint(det, opts.checkpoint, recipe, { device });
    for (const n of loaded.notes) warn(`detkd: note: ${n}`);
    // After the weights: a checkpoint that does not fit is refused before a synthetic set is generated.
    const { categories } = await recipeCategories(recipe, warn);
    det.eval();
    try {
      mkdirSync(opts.out, { recursive: true });
    } catch (e) {
      throw new DetkdError(`predict: cannot create ${opts.out} (${(e as Error).message})`);
    }
    const names = outputNames(opts.images);
    for (const [i, file] of opts.images.entries()) {
      let img: RgbImage;
      try {
        img = await decodeImageFile(file);
      } catch (e) {
        if (!(e instanceof DetkdError)) throw e;
        warn(`detkd: predict: skipped ${e.message}`);
        failed.push({ file, message: e.message });
        drawn.push(null);
        continue;
      }
      const r = detect(det, img, i, file, {
        resize: recipe.data.resize,
        device,
        categoryIdOf: (l) => categories.categoryIdOf(l),
      });
      const entries: PredictEntry[] = [];
      const items: (DrawItem & { score: number })[] = [];
      r.entries.forEach((e, k) => {
        if (e.score < scoreThr) return;
        entries.push({
          image_id: e.image_id,
          file_name: file,
          category_id: e.category_id,
          bbox: e.bbox,
          score: e.score,
        });
        const label = r.labels[k]!;
        const name = categories.categories[label]?.name ?? String(e.category_id);
        items.push({
          box: [r.boxes[4 * k]!, r.boxes[4 * k + 1]!, r.boxes[4 * k + 2]!, r.boxes[4 * k + 3]!],
          text: `${name} ${e.score.toFixed(2)}`,
          color: classColor(label),
          score: e.score,
        });
      });
      // Lowest score first, so the best detection's label ends up on top.
      items.sort((a, b) => a.score - b.score);
      const png = join(opts.out, `${names[i]}.png`);
      // Small images are drawn upscaled (nearest neighbour) so labels stay legible.
      const up = upscaleForDrawing(img, items);
      writeFileSync(png, await renderDetections(up.img, up.items));
      results.push(...entries);
      drawn.push(png);
      log(`${file}: ${entries.length} detection(s) >= ${scoreThr} -> ${png}`);
    }
  } finally {
    det.dispose();
  }
  const resultsFile = join(opts.out, 'results.json');
  writeFileSync(resultsFile, `${JSON.stringify(results)}\n`);
  log(
    `wrote ${resultsFile} (${results.length} detections, ${drawn.filter((d) => d !== null).length} image(s))`,
  );
  return { results, drawn, failed };
}

export const command: Command = {
  async run(argv) {
    const { values: v, positionals, help } = parseVerbArgs(VERBS.predict, argv);
    if (help) {
      console.log(USAGE);
      return 0;
    }
    const s = await predict({
      recipe: v.recipe,
      checkpoint: v.checkpoint,
      out: v.out,
      images: positionals,
      scoreThr: v['score-thr'],
      device: v.device,
    });
    if (s.failed.length > 0) {
      console.error(
        `detkd: predict: ${s.failed.length} of ${positionals.length} image(s) could not be read: ${s.failed.map((f) => f.file).join(', ')}`,
      );
      return 1;
    }
    return 0;
  },
};
