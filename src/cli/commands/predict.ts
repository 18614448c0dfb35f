// `detkd predict --recipe R --checkpoint C IMAGES... --out DIR`: runs a trained detector on image
// files and writes COCO results plus one PNG per image with the detections drawn.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { openPredictor } from '../../app/predict.ts';
import { DetkdError } from '../../core/errors.ts';
import { decodeImageFile, type RgbImage } from '../../data/decode.ts';
import type { CocoResultEntry } from '../../detection/postprocess.ts';
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
  const predictor = await openPredictor(opts, warn);
  const { categories } = predictor;
  const results: PredictEntry[] = [];
  const drawn: (string | null)[] = [];
  const failed: { file: string; message: string }[] = [];
  try {
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
      const r = predictor.detect(img, i, file);
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
    predictor.dispose();
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
