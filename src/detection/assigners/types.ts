// What every assigner takes and shares. Assigners run under noGrad and return an Assignment value
// (docs/architecture.md, assignment is a value); the sentinels come from ../types.ts.
import { boxArea } from '../../core/box-ops.ts';
import { type Tensor, tidy, where, zeros } from '../../core/tensor.ts';
import { type Assignment, BACKGROUND, IGNORE, type Priors } from '../types.ts';

/** The ground truth of one image, as tensors. */
export interface GtTargets {
  /** [G, 4] xyxy float32, input pixels. */
  boxes: Tensor;
  /** [G] int64 contiguous labels 0..C-1. */
  labels: Tensor;
  /** [I, 4] xyxy crowd / ignore regions (optional). */
  ignore?: Tensor | null;
}

/** Predictions some assigners look at (PAA, LAD, DDOD); those here ignore them. */
export interface AssignerPreds {
  /** [A, C] logits. */
  clsScores?: Tensor;
  /** [A, 4] decoded xyxy boxes. */
  bboxes?: Tensor;
}

export interface Assigner {
  /** True when `assign` needs `preds` (PAA): the detector then hands in its detached predictions. */
  readonly usesPredictions?: boolean;
  assign(priors: Priors, gt: GtTargets, numClasses: number, preds?: AssignerPreds): Assignment;
}

/**
 * Intersection over the area of `a` (mmdet bbox_overlaps mode 'iof', eps 1e-6): a [N, 4],
 * b [M, 4] xyxy -> [N, M].
 */
export function boxIof(a: Tensor, b: Tensor, eps = 1e-6): Tensor {
  return tidy(() => {
    const A = a.unsqueeze(1); // [N,1,4]
    const B = b.unsqueeze(0); // [1,M,4]
    const lt = A.slice(-1, 0, 2).maximum(B.slice(-1, 0, 2));
    const rb = A.slice(-1, 2, 4).minimum(B.slice(-1, 2, 4));
    const wh = rb.sub(lt).clampMin(0);
    const overlap = wh.select(-1, 0).mul(wh.select(-1, 1)); // [N,M]
    return overlap.div(boxArea(A).clampMin(eps));
  });
}

/**
 * Builds the Assignment from mmdet's 1-based gt_inds (-1 ignore, 0 background, i+1 positive).
 * overlaps of positives = `iou` [A, G] at the assigned GT, 0 elsewhere.
 */
export function assignmentFromGtInds(
  gtInds: Tensor, // [A] int64, mmdet convention
  gtLabels: Tensor, // [G] int64
  iou: Tensor, // [A, G]
  numClasses: number,
  extra: Partial<Pick<Assignment, 'atssThreshold' | 'iouMatrix'>> = {},
): Assignment {
  return tidy(() => {
    const numGts = gtLabels.size(0);
    const pos = gtInds.gt(0);
    const gtIndex = where(pos, gtInds.sub(1), where(gtInds.eq(0), BACKGROUND, IGNORE)); // [A]
    const safe = where(pos, gtInds.sub(1), 0); // [A] in [0, G) where G > 0
    let labels: Tensor;
    let overlaps: Tensor;
    if (numGts === 0) {
      labels = gtInds.mul(0).add(numClasses);
      overlaps = zeros([gtInds.size(0)], { device: gtInds.device });
    } else {
      labels = where(pos, gtLabels.at(safe), numClasses);
      overlaps = where(pos, iou.gather(1, safe.unsqueeze(1)).squeeze(1), 0);
    }
    return { gtIndex, labels, overlaps, numGts, ...extra };
  });
}

/** Centres of priors: (x1+x2)/2, (y1+y2)/2 for anchors; (x, y) for points. -> [A], [A] */
export function priorCentres(priors: Priors): [Tensor, Tensor] {
  const b = priors.boxes;
  if (priors.kind === 'point') return [b.select(1, 0), b.select(1, 1)];
  return [b.select(1, 0).add(b.select(1, 2)).div(2), b.select(1, 1).add(b.select(1, 3)).div(2)];
}
