// Evaluates a detector on a COCO dataset: batched inference through the deterministic loader
// (eval transforms: resize, no flip, no jitter), detections mapped back to original pixels and
// category ids, then COCO mAP with the pycocotools-exact evaluator. Reports images per second.
import { readFileSync } from 'node:fs';
import { noGrad, tidy } from '../core/tensor.ts';
import type { CocoDataset } from '../data/coco.ts';
import { DetectionLoader } from '../data/loader.ts';
import { evalTransforms, type ResizeSpec } from '../data/transforms.ts';
import type { Detector } from '../detection/any-detector.ts';
import { type CocoResultEntry, toCocoResults } from '../detection/postprocess.ts';
import type { CocoEvalResult } from '../eval/coco-eval.ts';
import { evaluateCoco } from '../eval/coco-eval.ts';
import { indexGroundTruth } from '../eval/coco-input.ts';
import { disposeBatch, toTensorBatch } from '../structures/tensor-batch.ts';

export interface EvaluateOptions {
  resize: ResizeSpec | null;
  batchSize?: number;
  numWorkers?: number;
  device?: string;
  /** Called after each batch with (images done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface DetectorEvaluation {
  coco: CocoEvalResult;
  results: CocoResultEntry[];
  images: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Runs the detector over `ds` and scores it against `ds.annFile`. */
export async function evaluateDetector(
  det: Detector,
  ds: CocoDataset,
  o: EvaluateOptions,
): Promise<DetectorEvaluation> {
  const gt = indexGroundTruth(JSON.parse(readFileSync(ds.annFile, 'utf8')), ds.annFile);
  const loader = new DetectionLoader(ds, {
    batchSize: o.batchSize ?? 8,
    transforms: evalTransforms(o.resize),
    shuffle: false,
    numWorkers: o.numWorkers ?? 0,
  });
  const wasTraining = det.training;
  det.eval();
  const results: CocoResultEntry[] = [];
  const total = ds.length;
  let images = 0;
  const t0 = performance.now();
  try {
    for await (const host of loader.epoch(0)) {
      tidy(() => {
        const b = toTensorBatch(host, o.device ?? 'cpu');
        const dets = noGrad(() => det.predict(b.images, b.metas));
        dets.forEach((d, i) => {
          results.push(...toCocoResults(d, b.metas[i]!.imageId, (l) => ds.categories.categoryIdOf(l)));
        });
        disposeBatch(b);
      });
      images += host.metas.length;
      o.onProgress?.(images, total);
    }
  } finally {
    await loader.close();
    det.train(wasTraining);
  }
  const seconds = (performance.now() - t0) / 1000;
  const coco = evaluateCoco(gt, results, { gtSource: ds.annFile });
  return { coco, results, images, seconds, imagesPerSecond: images / seconds };
}
