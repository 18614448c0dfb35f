// Evaluates a detector on a COCO dataset: batched inference through the deterministic loader
// (eval transforms: resize, no flip, no jitter), detections mapped back to original pixels and
// category ids, then COCO mAP with the pycocotools-exact evaluator. Reports images per second.
// A two-stage detector's RPN proposals (test settings, original pixels, score = objectness) are
// scored too: class-agnostic recall at 100 / 300 / 1000 proposals, as mmdet's proposal metric.
import { readFileSync } from 'node:fs';
import { noGrad, type Tensor, tidy } from '../core/tensor.ts';
import type { CocoDataset } from '../data/coco.ts';
import { DetectionLoader } from '../data/loader.ts';
import { evalTransforms, type ResizeSpec } from '../data/transforms.ts';
import type { Detector } from '../detection/any-detector.ts';
import {
  type CocoResultEntry,
  type DetectionResult,
  toCocoResults,
  toOriginal,
} from '../detection/postprocess.ts';
import type { TwoStageDetector } from '../detection/two-stage.ts';
import type { CocoEvalResult } from '../eval/coco-eval.ts';
import { evaluateCoco } from '../eval/coco-eval.ts';
import { indexGroundTruth } from '../eval/coco-input.ts';
import {
  PROPOSAL_NUMS,
  type ProposalRecallResult,
  proposalMetrics,
  proposalRecallColumns,
} from '../eval/proposal-recall.ts';
import type { ImageMeta } from '../structures/instances.ts';
import { disposeBatch, toTensorBatch } from '../structures/tensor-batch.ts';

export interface EvaluateOptions {
  resize: ResizeSpec | null;
  batchSize?: number;
  numWorkers?: number;
  device?: string;
  /** Called after each batch with (images done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * A two-stage detector's RPN proposal recall (class-agnostic, IoU .50:.95; ARs/ARm/ARl at 1000
 * proposals), equal to mmdet's CocoMetric(metric='proposal') / pycocotools with useCats = 0.
 */
export interface ProposalStats {
  AR100: number;
  AR300: number;
  AR1000: number;
  ARs1000: number;
  ARm1000: number;
  ARl1000: number;
  /** The same numbers under mmdet's names: 'AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', ... */
  metrics: Record<string, number>;
  /** Proposals scored (at most 1000 per image) and non-crowd ground-truth boxes. */
  numProposals: number;
  numGt: number;
  /** The whole evaluation (pycocotools' recall array included). */
  result: ProposalRecallResult;
}

export interface DetectorEvaluation {
  coco: CocoEvalResult;
  /** Two-stage detectors only: the RPN's proposal recall. */
  proposals?: ProposalStats;
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
  const proposals: ProposalColumns | null = det.detectorKind === 'two-stage' ? emptyColumns() : null;
  // mmdet gives every proposal the first class; with useCats = 0 any listed category would do.
  const proposalCategory = proposals === null ? 0 : ds.categories.categoryIdOf(0);
  const total = ds.length;
  let images = 0;
  const t0 = performance.now();
  try {
    for await (const host of loader.epoch(0)) {
      tidy(() => {
        const b = toTensorBatch(host, o.device ?? 'cpu');
        let dets: DetectionResult[];
        switch (det.detectorKind) {
          case 'dense':
            dets = noGrad(() => det.predict(b.images, b.metas));
            break;
          case 'two-stage': {
            const out = predictWithProposals(det, b.images, b.metas);
            dets = out.detections;
            out.proposals.forEach((p, i) => {
              addProposals(proposals!, p, b.metas[i]!.imageId, proposalCategory);
            });
            break;
          }
          default:
            return assertNever(det);
        }
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
  const out: DetectorEvaluation = { coco, results, images, seconds, imagesPerSecond: images / seconds };
  if (proposals !== null) {
    const r = proposalRecallColumns(gt, proposals, { maxDets: PROPOSAL_NUMS, gtSource: ds.annFile });
    out.proposals = {
      AR100: r.AR[0]!,
      AR300: r.AR[1]!,
      AR1000: r.AR[2]!,
      ARs1000: r.ARs,
      ARm1000: r.ARm,
      ARl1000: r.ARl,
      metrics: proposalMetrics(r),
      numProposals: r.numProposals,
      numGt: r.numGt,
      result: r,
    };
  }
  return out;
}

function assertNever(x: never): never {
  throw new Error(
    `evaluateDetector: unknown detector ${String((x as { detectorKind?: unknown }).detectorKind)}`,
  );
}

interface ProposalColumns {
  imageId: number[];
  categoryId: number[];
  bbox: number[];
  score: number[];
}

function emptyColumns(): ProposalColumns {
  return { imageId: [], categoryId: [], bbox: [], score: [] };
}

/** One image's proposals (xyxy, original pixels) appended as COCO columns (xywh), one category as mmdet. */
function addProposals(
  out: ProposalColumns,
  p: { boxes: Tensor; scores: Tensor },
  imageId: number,
  categoryId: number,
): void {
  const b = p.boxes.toArray();
  const s = p.scores.toArray();
  for (let i = 0; i < s.length; i++) {
    const x1 = b[4 * i]!;
    const y1 = b[4 * i + 1]!;
    out.imageId.push(imageId);
    out.categoryId.push(categoryId);
    out.bbox.push(x1, y1, b[4 * i + 2]! - x1, b[4 * i + 3]! - y1);
    out.score.push(s[i]!);
  }
}

/**
 * TwoStageDetector.predict with its forward pass kept: one backbone/RPN run gives both the
 * detections (original pixels, labels 0..N-1) and the test proposals (original pixels, objectness).
 * Mirrors TwoStageDetector.detect + predict step for step (test/cli/two-stage.test.ts checks the
 * detections are predict's).
 */
export function predictWithProposals(
  det: TwoStageDetector,
  images: Tensor,
  metas: readonly ImageMeta[],
): { detections: DetectionResult[]; proposals: { boxes: Tensor; scores: Tensor }[] } {
  return noGrad(() =>
    tidy(() => {
      const f = det.forward(images, metas);
      const detections = det.predictFrom(f, metas);
      const proposals = f.proposals.map((p, i) => ({
        boxes: toOriginal(p.boxes, metas[i]!),
        scores: p.scores,
      }));
      return { detections, proposals };
    }),
  );
}
