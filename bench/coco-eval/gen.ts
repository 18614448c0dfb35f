// Deterministic COCO-sized workload for the evaluator benchmark: 5,000 images, the 80 COCO
// categories, ~32,000 ground-truth boxes (1% crowd, area field below w*h as for polygons) and
// exactly 100 detections per image (jittered true positives with correlated scores, duplicates,
// class confusions, background false positives), as a detector's results file would hold.
//
//   node --import tsx bench/coco-eval/gen.ts [--out DIR] [--images N] [--seed S]
//
// Writes DIR/gt.json and DIR/dt.json (default DIR: $TMPDIR/detkd-coco-bench).

import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

export const COCO_CATEGORY_IDS = [
  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33,
  34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
  62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90,
];

export interface BenchOptions {
  images: number;
  seed: number;
  detsPerImage: number;
}

export const DEFAULT_BENCH: BenchOptions = { images: 5000, seed: 20240601, detsPerImage: 100 };

/** mulberry32: a small deterministic PRNG (uniform in [0, 1)). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const r2 = (x: number): number => Math.round(x * 100) / 100;
const r4 = (x: number): number => Math.round(x * 10000) / 10000;

/** Returns the ground-truth and results json texts. Same options, same bytes. */
export function generateBenchmark(opts: BenchOptions = DEFAULT_BENCH): {
  gt: string;
  dt: string;
  numGt: number;
} {
  const rand = rng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const images: string[] = [];
  const anns: string[] = [];
  const dets: string[] = [];
  let imageId = 100;
  let annId = 1;
  for (let n = 0; n < opts.images; n++) {
    imageId += 1 + Math.floor(rand() * 40); // non-contiguous ids, like COCO val
    const W = rand() < 0.7 ? 640 : 480;
    const H = W === 640 ? 480 : 640;
    images.push(
      `{"id":${imageId},"width":${W},"height":${H},"file_name":"${String(imageId).padStart(12, '0')}.jpg"}`,
    );
    const scene = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(COCO_CATEGORY_IDS));
    const imgDets: string[] = [];
    const addDet = (cat: number, x: number, y: number, w: number, h: number, score: number): void => {
      if (imgDets.length >= opts.detsPerImage) return;
      imgDets.push(
        `{"image_id":${imageId},"category_id":${cat},"bbox":[${r2(x)},${r2(y)},${r2(Math.max(0, w))},${r2(Math.max(0, h))}],"score":${r4(Math.min(1, Math.max(0.001, score)))}}`,
      );
    };
    const numGt = 1 + Math.floor(rand() * 12);
    for (let g = 0; g < numGt; g++) {
      const cat = pick(scene);
      // sqrt(area) log-uniform in [6, 400]: ~40% small, ~26% medium, ~34% large
      const s = Math.exp(Math.log(6) + rand() * (Math.log(400) - Math.log(6)));
      const ar = Math.exp((rand() - 0.5) * 1.4);
      const w = Math.min(W - 1, s * Math.sqrt(ar));
      const h = Math.min(H - 1, s / Math.sqrt(ar));
      const x = rand() * (W - w);
      const y = rand() * (H - h);
      const crowd = rand() < 0.01 ? 1 : 0;
      const area = r2(w * h * (0.55 + rand() * 0.35));
      anns.push(
        `{"id":${annId++},"image_id":${imageId},"category_id":${cat},"bbox":[${r2(x)},${r2(y)},${r2(w)},${r2(h)}],"area":${area},"iscrowd":${crowd}}`,
      );
      // detector output for this object: recall grows with size; localisation noise shrinks
      const found = rand() < 0.45 + 0.5 * Math.min(1, s / 96);
      const copies = found ? 1 + (rand() < 0.35 ? 1 : 0) + (rand() < 0.15 ? 1 : 0) : rand() < 0.3 ? 1 : 0;
      for (let c = 0; c < copies; c++) {
        const noise = (0.04 + 0.25 * rand()) * (c === 0 ? 1 : 1.8);
        const dcat = rand() < 0.08 ? pick(COCO_CATEGORY_IDS) : cat;
        const quality = Math.max(0, 1 - noise * 2.5);
        addDet(
          dcat,
          x + (rand() - 0.5) * 2 * noise * w,
          y + (rand() - 0.5) * 2 * noise * h,
          w * (1 + (rand() - 0.5) * 2 * noise),
          h * (1 + (rand() - 0.5) * 2 * noise),
          0.15 + 0.7 * quality * (c === 0 ? 1 : 0.6) + (rand() - 0.5) * 0.3,
        );
      }
    }
    // background false positives up to the per-image budget (a detector keeps its top 100)
    while (imgDets.length < opts.detsPerImage) {
      const s = Math.exp(Math.log(8) + rand() * (Math.log(300) - Math.log(8)));
      const w = Math.min(W - 1, s * (0.6 + rand() * 0.8));
      const h = Math.min(H - 1, s * (0.6 + rand() * 0.8));
      addDet(
        rand() < 0.5 ? pick(scene) : pick(COCO_CATEGORY_IDS),
        rand() * (W - w),
        rand() * (H - h),
        w,
        h,
        rand() ** 2 * 0.55,
      );
    }
    // results files list an image's detections in no particular order
    for (let i = imgDets.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [imgDets[i], imgDets[j]] = [imgDets[j]!, imgDets[i]!];
    }
    dets.push(...imgDets);
  }
  const categories = COCO_CATEGORY_IDS.map(
    (id) => `{"id":${id},"name":"class${id}","supercategory":"thing"}`,
  );
  const gt =
    `{"info":{"description":"detkd coco-eval benchmark, seed ${opts.seed}"},\n"images":[\n${images.join(',\n')}\n],\n` +
    `"annotations":[\n${anns.join(',\n')}\n],\n"categories":[\n${categories.join(',\n')}\n]}\n`;
  return { gt, dt: `[\n${dets.join(',\n')}\n]\n`, numGt: anns.length };
}

export function defaultBenchDir(): string {
  return join(tmpdir(), 'detkd-coco-bench');
}

/** Writes gt.json and dt.json under `dir`. */
export function writeBenchmark(dir: string, opts: BenchOptions = DEFAULT_BENCH): { numGt: number } {
  const { gt, dt, numGt } = generateBenchmark(opts);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'gt.json'), gt);
  writeFileSync(join(dir, 'dt.json'), dt);
  return { numGt };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: defaultBenchDir() },
      images: { type: 'string', default: String(DEFAULT_BENCH.images) },
      seed: { type: 'string', default: String(DEFAULT_BENCH.seed) },
    },
  });
  const opts = { ...DEFAULT_BENCH, images: Number(values.images), seed: Number(values.seed) };
  const { numGt } = writeBenchmark(values.out, opts);
  console.log(
    `wrote ${values.out}/{gt,dt}.json: ${opts.images} images, ${numGt} gt, ${opts.images * opts.detsPerImage} detections`,
  );
}
