// COCO bbox mAP, equal to pycocotools' COCOeval(iouType='bbox') with default parameters.
// Reference: PythonAPI/pycocotools/cocoeval.py (evaluateImg, accumulate, summarize) and
// common/maskApi.c (bbIou); the exact rules are in docs/coco-eval.md and the slow
// literal port is scripts/coco-eval-reference.py.
//
// Same numbers, different shape of work:
//   - annotations and detections are grouped by (category, image) with integer keys (typed arrays);
//   - the IoU matrix of a group is computed once and reused for the 4 area ranges;
//   - matching runs once with maxDets=100 (as pycocotools does); maxDets 1 and 10 cut that result
//     by each detection's rank in its image;
//   - each category's detections are sorted by score once; ignored detections are skipped in the
//     precision/recall sweep, which leaves the interpolated precision unchanged.
// groupDetections and matchAll take the cut (maxDets[-1]) as a parameter: proposal-recall.ts runs
// them class-agnostically at 1000 for an RPN's AR@100 / AR@300 / AR@1000.

import {
  type CocoGtIndex,
  type DetectionArrays,
  flattenColumns,
  flattenResults,
  indexGroundTruth,
} from './coco-input.ts';
import type { CocoDetectionColumns, CocoGroundTruth, CocoResult } from './coco-types.ts';
import { numpyMean } from './numpy-mean.ts';

/** numpy.linspace(.5, .95, 10): 0.5 + i * ((0.95 - 0.5) / 9), the last exactly 0.95. */
export const IOU_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, 10);
/** numpy.linspace(0, 1, 101): i * 0.01, the last exactly 1. */
export const RECALL_THRESHOLDS: readonly number[] = linspace(0, 1, 101);
export const MAX_DETS: readonly number[] = [1, 10, 100];
/** [lo, hi], both inclusive: all, small, medium, large. */
export const AREA_RANGES: readonly (readonly [number, number])[] = [
  [0, 1e10],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e10],
];
export const AREA_LABELS = ['all', 'small', 'medium', 'large'] as const;

function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

const T = 10;
const R = 101;
const A = 4;
const M = 3;
const MAX_DET = 100;
const EPS = 2.220446049250313e-16; // np.spacing(1)
const ALL_T = (1 << T) - 1;

/** The 12 numbers pycocotools' summarize() prints, in its order; -1 where nothing is defined. */
export interface CocoStats {
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
  AR1: number;
  AR10: number;
  AR100: number;
  ARs: number;
  ARm: number;
  ARl: number;
}

export const STAT_NAMES: readonly (keyof CocoStats)[] = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
];

/** One category's numbers (maxDets 100); -1 where the category has no ground truth in that range. */
export interface CocoCategoryStats {
  id: number;
  name: string;
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
  AR100: number;
  /** Non-crowd ground truth boxes with area in [0, 1e10]. */
  numGt: number;
  /** Detections evaluated (after the per-image cut to 100). */
  numDet: number;
}

export interface CocoEvalResult {
  stats: CocoStats;
  /** AP@[.50:.95] per category id (detectron2's per-category AP); -1 for a category without ground truth. */
  perCategory: Record<number, number>;
  /** Per-category detail, by ascending category id. */
  categories: CocoCategoryStats[];
  /** pycocotools' eval['precision'], [T=10, R=101, K, A=4, M=3] row-major; -1 where undefined. */
  precision: Float64Array;
  /** pycocotools' eval['recall'], [T=10, K, A=4, M=3] row-major. */
  recall: Float64Array;
  /** Detections dropped because their category is not in the ground truth. */
  droppedDetections: number;
}

export interface EvaluateCocoOptions {
  /** Names the results in error messages (a file name). */
  resultsSource?: string;
  /** Names the ground truth in error messages (a file name). */
  gtSource?: string;
}

/**
 * COCO bbox evaluation, equal to pycocotools' COCOeval with default parameters.
 *
 * Pass the ground truth as a COCO object or, to evaluate repeatedly, as `indexGroundTruth(gt)`.
 * Invalid detections (unknown image id, bbox not 4 finite numbers or negative w/h, non-finite score)
 * throw a DetkdError naming the entry index and field. Detections of unknown categories are
 * dropped. An empty list is valid (every category with ground truth gets AP 0).
 *
 * @example
 * const { stats, perCategory } = evaluateCoco(gt, results);
 * console.log(stats.AP, perCategory[1]);
 */
export function evaluateCoco(
  gt: CocoGroundTruth | CocoGtIndex,
  results: readonly CocoResult[],
  opts: EvaluateCocoOptions = {},
): CocoEvalResult {
  const index = asIndex(gt, opts);
  return evaluateIndexed(index, flattenResults(index, results, opts.resultsSource));
}

/** evaluateCoco for detections held as typed-array columns. */
export function evaluateCocoColumns(
  gt: CocoGroundTruth | CocoGtIndex,
  detections: CocoDetectionColumns,
  opts: EvaluateCocoOptions = {},
): CocoEvalResult {
  const index = asIndex(gt, opts);
  return evaluateIndexed(index, flattenColumns(index, detections, opts.resultsSource));
}

function asIndex(gt: CocoGroundTruth | CocoGtIndex, opts: EvaluateCocoOptions): CocoGtIndex {
  return 'kind' in gt && gt.kind === 'coco-gt-index' ? gt : indexGroundTruth(gt, opts.gtSource);
}

/** Detections of each (category, image) group, sorted by score and cut to `maxDet` (100). */
export interface KeptDetections {
  start: Int32Array; // [K * I + 1]
  box: Float64Array; // [D * 4]
  area: Float64Array; // [D] w*h
  score: Float64Array; // [D]
  rank: Int32Array; // [D] position in its group, 0..maxDet-1
}

/**
 * Groups detections by (category, image), each group sorted by score (ties in input order) and
 * cut to its first `maxDet` (pycocotools' maxDets[-1]). Shared with proposal-recall.ts.
 */
export function groupDetections(gt: CocoGtIndex, det: DetectionArrays, maxDet = MAX_DET): KeptDetections {
  const I = gt.imageIds.length;
  const groups = gt.categoryIds.length * I;
  const n = det.count;
  const score = det.score;
  // Counting sort by group key: stable, so file order survives inside a group.
  const start = new Int32Array(groups + 1);
  for (let j = 0; j < n; j++) {
    const k = det.categoryIndex[j]!;
    if (k >= 0) start[k * I + det.imageIndex[j]! + 1]!++;
  }
  for (let g = 1; g <= groups; g++) start[g]! += start[g - 1];
  const order = new Int32Array(start[groups]!);
  const fill = start.slice(0, groups);
  for (let j = 0; j < n; j++) {
    const k = det.categoryIndex[j]!;
    if (k >= 0) order[fill[k * I + det.imageIndex[j]!]!++] = j;
  }
  // Sort each group by score, descending, ties in file order (np.argsort(-score, kind='mergesort')).
  const byScore = (a: number, b: number): number => score[b]! - score[a]! || a - b;
  const keptStart = new Int32Array(groups + 1);
  let total = 0;
  for (let g = 0; g < groups; g++) {
    const s = start[g]!;
    const e = start[g + 1]!;
    if (e - s > 16) order.subarray(s, e).sort(byScore);
    else {
      for (let i = s + 1; i < e; i++) {
        const x = order[i]!;
        const sx = score[x]!;
        let j = i - 1;
        while (j >= s && score[order[j]!]! < sx) {
          order[j + 1] = order[j]!;
          j--;
        }
        order[j + 1] = x;
      }
    }
    total += Math.min(e - s, maxDet);
    keptStart[g + 1] = total;
  }
  const box = new Float64Array(total * 4);
  const area = new Float64Array(total);
  const keptScore = new Float64Array(total);
  const rank = new Int32Array(total);
  for (let g = 0; g < groups; g++) {
    const s = start[g]!;
    const kept = keptStart[g + 1]! - keptStart[g]!;
    for (let r = 0; r < kept; r++) {
      const j = order[s + r]!;
      const p = keptStart[g]! + r;
      const b = j * 4;
      box[p * 4] = det.box[b]!;
      box[p * 4 + 1] = det.box[b + 1]!;
      box[p * 4 + 2] = det.box[b + 2]!;
      box[p * 4 + 3] = det.box[b + 3]!;
      area[p] = det.box[b + 2]! * det.box[b + 3]!; // loadRes: area = w*h
      keptScore[p] = score[j]!;
      rank[p] = r;
    }
  }
  return { start: keptStart, box, area, score: keptScore, rank };
}

/**
 * Per-image matching (pycocotools evaluateImg) for every (category, image) group and area range.
 * Writes, per kept detection and area range, one bit per IoU threshold: `tp` (matched to a
 * non-ignored gt with a non-zero id) and `ig` (ignored). Neither bit set = false positive.
 * `maxDet` is the cut groupDetections made. Shared with proposal-recall.ts.
 */
export function matchAll(
  gt: CocoGtIndex,
  dt: KeptDetections,
  maxDet = MAX_DET,
): { tp: Uint16Array; ig: Uint16Array; npig: Int32Array; nonEmpty: Uint8Array } {
  const I = gt.imageIds.length;
  const K = gt.categoryIds.length;
  const nDet = dt.score.length;
  const tp = new Uint16Array(nDet * A); // [D, A]
  const ig = new Uint16Array(nDet * A); // [D, A]
  const npig = new Int32Array(K * A); // non-ignored gt per [K, A]
  const nonEmpty = new Uint8Array(K); // a category with any gt or dt (pycocotools' E non-empty)
  let ious = new Float64Array(1024);
  const dMax = new Float64Array(maxDet); // a detection's best IoU over the group's gt
  const cand = new Int32Array(maxDet); // detections with best IoU >= .5
  const candOut = new Uint8Array(maxDet); // ... and whether their w*h is outside the area range
  let cap = 16;
  let col = new Int32Array(cap); // sorted position -> gt column of the IoU matrix
  let sIgn = new Uint8Array(cap);
  let sCrowd = new Uint8Array(cap);
  let sIdZero = new Uint8Array(cap);
  let taken = new Uint8Array(cap);
  const gBox = gt.box;
  const dBox = dt.box;

  for (let k = 0; k < K; k++) {
    for (let i = 0; i < I; i++) {
      const key = k * I + i;
      const g0 = gt.groupStart[key]!;
      const G = gt.groupStart[key + 1]! - g0;
      const d0 = dt.start[key]!;
      const D = dt.start[key + 1]! - d0;
      if (G === 0 && D === 0) continue;
      nonEmpty[k] = 1;
      if (G > cap) {
        cap = G * 2;
        col = new Int32Array(cap);
        sIgn = new Uint8Array(cap);
        sCrowd = new Uint8Array(cap);
        sIdZero = new Uint8Array(cap);
        taken = new Uint8Array(cap);
      }
      // IoU [D, G] (maskApi.c bbIou), once for all area ranges.
      if (D > 0 && G > 0) {
        if (D * G > ious.length) ious = new Float64Array(D * G * 2);
        for (let d = 0; d < D; d++) {
          const q = (d0 + d) * 4;
          const dx = dBox[q]!;
          const dy = dBox[q + 1]!;
          const dw = dBox[q + 2]!;
          const dh = dBox[q + 3]!;
          const da = dw * dh;
          let best = 0;
          for (let g = 0; g < G; g++) {
            const p = (g0 + g) * 4;
            const gx = gBox[p]!;
            const gy = gBox[p + 1]!;
            const gw = gBox[p + 2]!;
            const gh = gBox[p + 3]!;
            let v = 0;
            const w = Math.min(dw + dx, gw + gx) - Math.max(dx, gx);
            if (w > 0) {
              const h = Math.min(dh + dy, gh + gy) - Math.max(dy, gy);
              if (h > 0) {
                const inter = w * h;
                v = gt.crowd[g0 + g] ? inter / da : inter / (da + gw * gh - inter);
              }
            }
            ious[d * G + g] = v;
            if (v > best) best = v;
          }
          dMax[d] = best;
        }
      } else dMax.fill(0, 0, D);
      for (let a = 0; a < A; a++) {
        const lo = AREA_RANGES[a]![0];
        const hi = AREA_RANGES[a]![1];
        // Non-ignored gt first, ignored last, each in file order (argsort of _ignore, mergesort).
        let nNon = 0;
        for (let g = 0; g < G; g++) {
          const ar = gt.area[g0 + g]!;
          if (!(gt.crowd[g0 + g] || ar < lo || ar > hi)) nNon++;
        }
        let pNon = 0;
        let pIgn = nNon;
        for (let g = 0; g < G; g++) {
          const ar = gt.area[g0 + g]!;
          const ignored = gt.crowd[g0 + g] || ar < lo || ar > hi;
          const s = ignored ? pIgn++ : pNon++;
          col[s] = g;
          sIgn[s] = ignored ? 1 : 0;
          sCrowd[s] = gt.crowd[g0 + g]!;
          sIdZero[s] = gt.idZero[g0 + g]!;
        }
        npig[k * A + a]! += nNon;
        if (D === 0) continue;
        // Detections whose best IoU is below .5 stay unmatched at every threshold (most false
        // positives): ignored everywhere when their w*h is out of range, else plain FPs.
        let nCand = 0;
        for (let d = 0; d < D; d++) {
          const da = dt.area[d0 + d]!;
          const out = da < lo || da > hi;
          if (dMax[d]! >= IOU_THRESHOLDS[0]!) {
            cand[nCand] = d;
            candOut[nCand++] = out ? 1 : 0;
          } else if (out) ig[(d0 + d) * A + a] = ALL_T;
        }
        if (nCand === 0) continue;
        for (let t = 0; t < T; t++) {
          const thr = IOU_THRESHOLDS[t]!; // min(t, 1 - 1e-10) = t
          const bit = 1 << t;
          taken.fill(0, 0, G);
          for (let c = 0; c < nCand; c++) {
            const d = cand[c]!;
            const p = (d0 + d) * A + a;
            let m = -1;
            if (dMax[d]! >= thr) {
              let best = thr;
              const row = d * G;
              for (let s = 0; s < G; s++) {
                if (taken[s] && !sCrowd[s]) continue; // a non-crowd gt is taken once
                if (m > -1 && sIgn[m] === 0 && sIgn[s] === 1) break; // have a real match: skip ignored gt
                const v = ious[row + col[s]!]!;
                if (v < best) continue;
                best = v; // >=: an IoU tie goes to the later gt
                m = s;
              }
            }
            if (m === -1) {
              if (candOut[c]) ig[p]! |= bit;
              continue;
            }
            taken[m] = 1;
            if (sIgn[m]) ig[p]! |= bit;
            else if (sIdZero[m]) {
              // dtMatches holds the gt id, 0 reads as "unmatched": a false positive unless out of range.
              if (candOut[c]) ig[p]! |= bit;
            } else tp[p]! |= bit;
          }
        }
      }
    }
  }
  return { tp, ig, npig, nonEmpty };
}

/** Evaluates detections already flattened against indexed ground truth. */
export function evaluateIndexed(gt: CocoGtIndex, det: DetectionArrays): CocoEvalResult {
  const I = gt.imageIds.length;
  const K = gt.categoryIds.length;
  const dt = groupDetections(gt, det);
  const { tp, ig, npig, nonEmpty } = matchAll(gt, dt);
  const score = dt.score;
  const byScore = (a: number, b: number): number => score[b]! - score[a]! || a - b;

  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const numDet = new Int32Array(K);
  let order = new Int32Array(0);
  let sTp = new Uint16Array(0);
  let sIg = new Uint16Array(0);
  let sRank = new Int32Array(0);
  let prTp = new Float64Array(0);
  const ntp = new Int32Array(T);
  const extra = new Int32Array(T);

  for (let k = 0; k < K; k++) {
    if (!nonEmpty[k]) continue; // pycocotools: E empty -> -1
    const c0 = dt.start[k * I]!;
    const n = dt.start[(k + 1) * I]! - c0;
    numDet[k] = n;
    if (order.length < n) {
      order = new Int32Array(n);
      sTp = new Uint16Array(n * A);
      sIg = new Uint16Array(n * A);
      sRank = new Int32Array(n);
    }
    // Images are concatenated in ascending id, each in score order; a stable sort by score then
    // breaks ties by image id, then by file order (accumulate's argsort(-dtScores, 'mergesort')).
    const ord = order.subarray(0, n);
    for (let j = 0; j < n; j++) ord[j] = c0 + j;
    ord.sort(byScore);
    // Gather each detection's match bits in that order, for sequential sweeps below.
    for (let j = 0; j < n; j++) {
      const p = ord[j]!;
      sRank[j] = dt.rank[p]!;
      for (let a = 0; a < A; a++) {
        sTp[j * A + a] = tp[p * A + a]!;
        sIg[j * A + a] = ig[p * A + a]!;
      }
    }
    for (let a = 0; a < A; a++) {
      const np = npig[k * A + a]!;
      if (np === 0) continue; // no non-ignored gt -> -1
      if (prTp.length < T * np) prTp = new Float64Array(T * np * 2);
      for (let m = 0; m < M; m++) {
        const maxDet = MAX_DETS[m]!;
        // One sweep for all thresholds. Precision only needs computing at true positives: a false
        // positive lowers it, so after interpolation (the running max from the right) the value at
        // any recall threshold is the max over the true positives at or after it; and the first
        // index reaching a recall > 0 is always a true positive. Ignored detections only repeat
        // the previous tp/fp counts, so they are skipped.
        ntp.fill(0);
        extra.fill(0);
        let base = 0; // detections not ignored at any threshold so far
        for (let j = 0; j < n; j++) {
          if (sRank[j]! >= maxDet) continue;
          const igv = sIg[j * A + a]!;
          if (igv === 0) base++;
          else if (igv === ALL_T) continue;
          else for (let t = 0; t < T; t++) if (!(igv & (1 << t))) extra[t]!++;
          const tpv = sTp[j * A + a]!;
          if (tpv === 0) continue;
          for (let t = 0; t < T; t++) {
            if (!(tpv & (1 << t))) continue;
            const c = ++ntp[t]!;
            // tp / (fp + tp + eps), with fp + tp = the non-ignored count (an exact integer)
            prTp[t * np + c - 1] = c / (base + extra[t]! + EPS);
          }
        }
        for (let t = 0; t < T; t++) {
          const nTp = ntp[t]!;
          const off = t * np;
          recall[((t * K + k) * A + a) * M + m] = nTp / np; // rc[-1], or 0 with no detections
          for (let j = nTp - 1; j > 0; j--) {
            if (prTp[off + j]! > prTp[off + j - 1]!) prTp[off + j - 1] = prTp[off + j]!;
          }
          // At each recall threshold: precision at the first index with recall >= r
          // (np.searchsorted side='left'), 0 past the largest recall reached.
          let j = 0;
          for (let r = 0; r < R; r++) {
            const rt = RECALL_THRESHOLDS[r]!;
            while (j < nTp && (j + 1) / np < rt) j++;
            precision[(((t * R + r) * K + k) * A + a) * M + m] = j < nTp ? prTp[off + j]! : 0;
          }
        }
      }
    }
  }
  return summarize(gt, precision, recall, npig, numDet, det.dropped);
}

function summarize(
  gt: CocoGtIndex,
  precision: Float64Array,
  recall: Float64Array,
  npig: Int32Array,
  numDet: Int32Array,
  dropped: number,
): CocoEvalResult {
  const K = gt.categoryIds.length;
  const buf = new Float64Array(Math.max(T * R * K, 1));
  // Mean of the entries > -1 in C order over (t, r, k) for precision or (t, k) for recall, as
  // pycocotools' _summarize does with s[s > -1]; -1 when there are none.
  const meanOf = (n: number): number => (n === 0 ? -1 : numpyMean(buf, n));
  const ap = (tSel: number | null, a: number, m: number, kSel: number | null = null): number => {
    let n = 0;
    for (let t = tSel ?? 0; t < (tSel ?? T - 1) + 1; t++) {
      for (let r = 0; r < R; r++) {
        for (let k = kSel ?? 0; k < (kSel ?? K - 1) + 1; k++) {
          const v = precision[(((t * R + r) * K + k) * A + a) * M + m]!;
          if (v > -1) buf[n++] = v;
        }
      }
    }
    return meanOf(n);
  };
  const ar = (a: number, m: number, kSel: number | null = null): number => {
    let n = 0;
    for (let t = 0; t < T; t++) {
      for (let k = kSel ?? 0; k < (kSel ?? K - 1) + 1; k++) {
        const v = recall[((t * K + k) * A + a) * M + m]!;
        if (v > -1) buf[n++] = v;
      }
    }
    return meanOf(n);
  };
  const t50 = IOU_THRESHOLDS.indexOf(0.5);
  const t75 = IOU_THRESHOLDS.indexOf(0.75); // np.where(.75 == iouThrs): index 5
  const stats: CocoStats = {
    AP: ap(null, 0, 2),
    AP50: ap(t50, 0, 2),
    AP75: ap(t75, 0, 2),
    APs: ap(null, 1, 2),
    APm: ap(null, 2, 2),
    APl: ap(null, 3, 2),
    AR1: ar(0, 0),
    AR10: ar(0, 1),
    AR100: ar(0, 2),
    ARs: ar(1, 2),
    ARm: ar(2, 2),
    ARl: ar(3, 2),
  };
  const perCategory: Record<number, number> = {};
  const categories: CocoCategoryStats[] = [];
  for (let k = 0; k < K; k++) {
    const id = gt.categoryIds[k]!;
    const c: CocoCategoryStats = {
      id,
      name: gt.categoryNames[k]!,
      AP: ap(null, 0, 2, k),
      AP50: ap(t50, 0, 2, k),
      AP75: ap(t75, 0, 2, k),
      APs: ap(null, 1, 2, k),
      APm: ap(null, 2, 2, k),
      APl: ap(null, 3, 2, k),
      AR100: ar(0, 2, k),
      numGt: npig[k * A]!,
      numDet: numDet[k]!,
    };
    perCategory[id] = c.AP;
    categories.push(c);
  }
  return { stats, perCategory, categories, precision, recall, droppedDetections: dropped };
}
