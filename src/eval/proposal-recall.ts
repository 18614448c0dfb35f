// Class-agnostic proposal recall (an RPN's AR@100 / AR@300 / AR@1000), equal to pycocotools'
// COCOeval(iouType='bbox') with params.useCats = 0 and params.maxDets = [100, 300, 1000]: what
// mmdetection's CocoMetric(metric='proposal') runs and logs. docs/coco-eval.md has the rules;
// scripts/fixtures/proposal_recall_oracle.py made the oracle fixture from pycocotools' own code.
//
// With useCats = 0 pycocotools evaluates one pseudo-category per image: the ground truth of every
// category listed in the file, concatenated in ascending category id (file order inside one), and
// the detections likewise (those of a category the ground truth does not list are dropped), then
// sorted by score and cut to maxDets[-1]. Matching is the evaluator's own (coco-eval.ts matchAll)
// run once at the largest maxDets; smaller ones cut that result by each detection's rank in its
// image, as pycocotools' accumulate does. Only recall is computed.

import { DetkdError } from '../core/errors.ts';
import { groupDetections, matchAll } from './coco-eval.ts';
import {
  type CocoGtIndex,
  type DetectionArrays,
  flattenColumns,
  flattenResults,
  indexGroundTruth,
} from './coco-input.ts';
import type { CocoDetectionColumns, CocoGroundTruth, CocoResult } from './coco-types.ts';
import { numpyMean } from './numpy-mean.ts';
import { formatFixed3 } from './report.ts';

/** mmdet's default proposal_nums. */
export const PROPOSAL_NUMS: readonly number[] = [100, 300, 1000];

const T = 10;
const A = 4;

export interface ProposalRecallOptions {
  /** Proposals per image to measure recall at, ascending (default [100, 300, 1000]). */
  maxDets?: readonly number[];
  /** Names the results in error messages (a file name). */
  resultsSource?: string;
  /** Names the ground truth in error messages (a file name). */
  gtSource?: string;
}

export interface ProposalRecallResult {
  maxDets: number[];
  /** AR over IoU .50:.95 and area 'all', one per maxDets entry; -1 without ground truth. */
  AR: number[];
  /** AR of the small / medium / large ground truth at the largest maxDets; -1 where none. */
  ARs: number;
  ARm: number;
  ARl: number;
  /** pycocotools' eval['recall'] with one category: [T=10, A=4, M=maxDets.length] row-major; -1 where no gt. */
  recall: Float64Array;
  /** Non-crowd ground truth boxes (area 'all'). */
  numGt: number;
  /** Proposals evaluated, after the per-image cut to the largest maxDets. */
  numProposals: number;
}

/**
 * Class-agnostic recall of `results` (proposals: category_id may be any category of the ground
 * truth; score = objectness) against every ground-truth box, as pycocotools with useCats = 0.
 * Invalid entries throw a DetkdError naming the entry index and field; an empty list is valid
 * (recall 0 wherever there is ground truth).
 *
 * @example
 * const r = proposalRecall(gt, proposals);
 * proposalMetrics(r); // { 'AR@100': .., 'AR@300': .., 'AR@1000': .., 'AR_s@1000': .., ... }
 */
export function proposalRecall(
  gt: CocoGroundTruth | CocoGtIndex,
  results: readonly CocoResult[],
  opts: ProposalRecallOptions = {},
): ProposalRecallResult {
  const index = asIndex(gt, opts);
  return proposalRecallIndexed(index, flattenResults(index, results, opts.resultsSource), opts.maxDets);
}

/** proposalRecall for proposals held as typed-array columns. */
export function proposalRecallColumns(
  gt: CocoGroundTruth | CocoGtIndex,
  proposals: CocoDetectionColumns,
  opts: ProposalRecallOptions = {},
): ProposalRecallResult {
  const index = asIndex(gt, opts);
  return proposalRecallIndexed(index, flattenColumns(index, proposals, opts.resultsSource), opts.maxDets);
}

function asIndex(gt: CocoGroundTruth | CocoGtIndex, opts: ProposalRecallOptions): CocoGtIndex {
  return 'kind' in gt && gt.kind === 'coco-gt-index' ? gt : indexGroundTruth(gt, opts.gtSource);
}

function checkMaxDets(maxDets: readonly number[]): number[] {
  const ok =
    maxDets.length > 0 &&
    maxDets.every((n, i) => Number.isInteger(n) && n > 0 && (i === 0 || n > maxDets[i - 1]!));
  if (!ok) {
    throw new DetkdError(
      `proposal recall: maxDets must be ascending positive integers, got [${maxDets.join(', ')}]`,
    );
  }
  return [...maxDets];
}

/** The ground truth as one category: per image, every category's boxes in ascending category id. */
export function agnosticGroundTruth(gt: CocoGtIndex): CocoGtIndex {
  const I = gt.imageIds.length;
  const K = gt.categoryIds.length;
  const n = gt.area.length;
  const groupStart = new Int32Array(I + 1);
  const box = new Float64Array(n * 4);
  const area = new Float64Array(n);
  const crowd = new Uint8Array(n);
  const idZero = new Uint8Array(n);
  let p = 0;
  for (let i = 0; i < I; i++) {
    for (let k = 0; k < K; k++) {
      for (let g = gt.groupStart[k * I + i]!; g < gt.groupStart[k * I + i + 1]!; g++) {
        box.set(gt.box.subarray(g * 4, g * 4 + 4), p * 4);
        area[p] = gt.area[g]!;
        crowd[p] = gt.crowd[g]!;
        idZero[p] = gt.idZero[g]!;
        p++;
      }
    }
    groupStart[i + 1] = p;
  }
  return {
    kind: 'coco-gt-index',
    imageIds: gt.imageIds,
    categoryIds: Float64Array.of(-1),
    categoryNames: ['(any)'],
    imageIndex: gt.imageIndex,
    categoryIndex: new Map([[-1, 0]]),
    groupStart,
    box,
    area,
    crowd,
    idZero,
  };
}

/** Detections as one category, ordered by (category, input order) as pycocotools concatenates them. */
function agnosticDetections(gt: CocoGtIndex, det: DetectionArrays): DetectionArrays {
  const K = gt.categoryIds.length;
  const start = new Int32Array(K + 1);
  for (let j = 0; j < det.count; j++) {
    const k = det.categoryIndex[j]!;
    if (k >= 0) start[k + 1]!++;
  }
  for (let k = 1; k <= K; k++) start[k]! += start[k - 1];
  const n = start[K]!;
  const out: DetectionArrays = {
    count: n,
    imageIndex: new Int32Array(n),
    categoryIndex: new Int32Array(n), // all 0
    box: new Float64Array(n * 4),
    score: new Float64Array(n),
    dropped: det.dropped,
  };
  const fill = start.slice(0, K);
  for (let j = 0; j < det.count; j++) {
    const k = det.categoryIndex[j]!;
    if (k < 0) continue;
    const p = fill[k]!++;
    out.imageIndex[p] = det.imageIndex[j]!;
    out.score[p] = det.score[j]!;
    out.box.set(det.box.subarray(j * 4, j * 4 + 4), p * 4);
  }
  return out;
}

/** Proposal recall of detections already flattened against indexed ground truth. */
export function proposalRecallIndexed(
  gt: CocoGtIndex,
  det: DetectionArrays,
  maxDetsIn: readonly number[] = PROPOSAL_NUMS,
): ProposalRecallResult {
  const maxDets = checkMaxDets(maxDetsIn);
  const M = maxDets.length;
  const maxDet = maxDets[M - 1]!;
  const one = agnosticGroundTruth(gt);
  const dt = groupDetections(one, agnosticDetections(gt, det), maxDet);
  const { tp, npig } = matchAll(one, dt, maxDet);
  const nDet = dt.score.length;
  const recall = new Float64Array(T * A * M).fill(-1);
  const count = new Int32Array(T);
  for (let a = 0; a < A; a++) {
    const np = npig[a]!;
    if (np === 0) continue; // no non-ignored gt in this range: -1
    for (let m = 0; m < M; m++) {
      count.fill(0);
      for (let d = 0; d < nDet; d++) {
        if (dt.rank[d]! >= maxDets[m]!) continue;
        const bits = tp[d * A + a]!;
        if (bits === 0) continue;
        for (let t = 0; t < T; t++) if (bits & (1 << t)) count[t]!++;
      }
      for (let t = 0; t < T; t++) recall[(t * A + a) * M + m] = count[t]! / np;
    }
  }
  // pycocotools' _summarize: the mean of recall[:, :, a, m] over the entries > -1.
  const buf = new Float64Array(T);
  const ar = (a: number, m: number): number => {
    let n = 0;
    for (let t = 0; t < T; t++) {
      const v = recall[(t * A + a) * M + m]!;
      if (v > -1) buf[n++] = v;
    }
    return n === 0 ? -1 : numpyMean(buf, n);
  };
  return {
    maxDets,
    AR: maxDets.map((_, m) => ar(0, m)),
    ARs: ar(1, M - 1),
    ARm: ar(2, M - 1),
    ARl: ar(3, M - 1),
    recall,
    numGt: npig[0]!,
    numProposals: nDet,
  };
}

/** The numbers under mmdet's names: 'AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000'. */
export function proposalMetrics(r: ProposalRecallResult): Record<string, number> {
  const out: Record<string, number> = {};
  r.maxDets.forEach((n, m) => {
    out[`AR@${n}`] = r.AR[m]!;
  });
  const last = r.maxDets[r.maxDets.length - 1]!;
  out[`AR_s@${last}`] = r.ARs;
  out[`AR_m@${last}`] = r.ARm;
  out[`AR_l@${last}`] = r.ARl;
  return out;
}

/**
 * The six lines pycocotools' summarize() prints for a proposal evaluation (stats[6:12]), in its
 * layout: ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=1000 ] = 0.512'.
 */
export function formatProposalSummary(
  r: Pick<ProposalRecallResult, 'maxDets' | 'AR' | 'ARs' | 'ARm' | 'ARl'>,
): string {
  const last = r.maxDets[r.maxDets.length - 1]!;
  const rows: [string, number, number][] = [
    ...r.maxDets.map((n, m): [string, number, number] => ['all', n, r.AR[m]!]),
    ['small', last, r.ARs],
    ['medium', last, r.ARm],
    ['large', last, r.ARl],
  ];
  return rows
    .map(
      ([area, n, v]) =>
        ` ${'Average Recall'.padEnd(18)} (AR) @[ IoU=${'0.50:0.95'.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(n).padStart(3)} ] = ${formatFixed3(v)}`,
    )
    .join('\n');
}
