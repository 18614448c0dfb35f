// RetinaNet's assigner: mmdetection's MaxIoUAssigner (mmdet/core/bbox/assigners/
// max_iou_assigner.py, v2.x; same logic in v3 task_modules), defaults as RetinaNet's config.
// Steps, in mmdet's order (the order matters):
//   1. every prior starts as "ignore"; 2. max IoU over GTs in [0, negIouThr) -> background;
//   3. max IoU >= posIouThr -> its argmax GT; 4. (matchLowQuality) for each GT in index order, every
//   prior whose IoU equals that GT's best IoU (>= minPosIou) goes to it: later GTs win.
// Crowd regions: priors whose IoF with an ignore box exceeds ignoreIofThr get IoU -1 with every
// GT, so they stay "ignore" (mmdet default thr -1 = off).
import { bboxOverlaps } from '../../core/box-ops.ts';
import { arange, full, noGrad, type Tensor, tidy, where, zeros } from '../../core/tensor.ts';
import type { Assignment, Priors } from '../types.ts';
import { type Assigner, assignmentFromGtInds, boxIof, type GtTargets } from './types.ts';

export interface MaxIoUAssignerConfig {
  /** Default 0.5. */
  posIouThr?: number;
  /** A number t: negatives have max IoU in [0, t); a pair [lo, hi]: in [lo, hi). Default 0.4. */
  negIouThr?: number | readonly [number, number];
  /** Default 0. */
  minPosIou?: number;
  /** Give a GT every prior tied at its best IoU (true), or only the argmax one. Default true. */
  gtMaxAssignAll?: boolean;
  /** IoF threshold for crowd regions; <= 0 disables. Default -1. */
  ignoreIofThr?: number;
  /** IoF over the prior's area (true) or over the ignore box's area. Default true. */
  ignoreWrtCandidates?: boolean;
  /** Step 4. Default true. */
  matchLowQuality?: boolean;
}

export class MaxIoUAssigner implements Assigner {
  readonly cfg: Required<MaxIoUAssignerConfig>;
  constructor(cfg: MaxIoUAssignerConfig = {}) {
    this.cfg = {
      posIouThr: cfg.posIouThr ?? 0.5,
      negIouThr: cfg.negIouThr ?? 0.4,
      minPosIou: cfg.minPosIou ?? 0,
      gtMaxAssignAll: cfg.gtMaxAssignAll ?? true,
      ignoreIofThr: cfg.ignoreIofThr ?? -1,
      ignoreWrtCandidates: cfg.ignoreWrtCandidates ?? true,
      matchLowQuality: cfg.matchLowQuality ?? true,
    };
  }

  /** priors.boxes [A, 4] xyxy; gt.boxes [G, 4]; returns gtIndex/labels/overlaps [A], iouMatrix [A, G]. */
  assign(priors: Priors, gt: GtTargets, numClasses: number): Assignment {
    return noGrad(() =>
      tidy(() => {
        const c = this.cfg;
        const bboxes = priors.boxes; // [A, 4]
        const numBoxes = bboxes.size(0);
        const numGts = gt.boxes.size(0);
        const iou = bboxOverlaps(gt.boxes, bboxes); // [G, A], mmdet computes iou_calculator(gt, bboxes)
        let overlaps = iou;
        const ign = gt.ignore ?? null;
        if (c.ignoreIofThr > 0 && ign !== null && ign.numel > 0 && bboxes.numel > 0) {
          const ignoreMax = c.ignoreWrtCandidates
            ? boxIof(bboxes, ign).amax(1) // [A]
            : boxIof(ign, bboxes).amax(0);
          overlaps = overlaps.maskedFill(ignoreMax.gt(c.ignoreIofThr).unsqueeze(0), -1);
        }
        const iouMatrix = iou.t().contiguous(); // [A, G]
        if (numGts === 0 || numBoxes === 0) {
          const gtInds = full([numBoxes], numGts === 0 ? 0 : -1, { dtype: 'int64', device: bboxes.device });
          return assignmentFromGtInds(gtInds, gt.labels, iouMatrix, numClasses, { iouMatrix });
        }
        const { values: maxOverlaps, indices: argmaxOverlaps } = overlaps.maxDim(0); // [A]
        const { values: gtMaxOverlaps, indices: gtArgmaxOverlaps } = overlaps.maxDim(1); // [G]

        let gtInds = full([numBoxes], -1, { dtype: 'int64', device: bboxes.device });
        const [lo, hi] = typeof c.negIouThr === 'number' ? [0, c.negIouThr] : c.negIouThr;
        gtInds = gtInds.maskedFill(maxOverlaps.ge(lo).logicalAnd(maxOverlaps.lt(hi)), 0);
        gtInds = where(maxOverlaps.ge(c.posIouThr), argmaxOverlaps.add(1), gtInds);

        if (c.matchLowQuality) {
          const gtOk = gtMaxOverlaps.ge(c.minPosIou); // [G]
          const ids = arange(1, numGts + 1, 1, { device: bboxes.device }); // [G] int64, 1-based
          let lowQ: Tensor; // [A] int64: the last GT (1-based) that claims each prior, 0 if none
          if (c.gtMaxAssignAll) {
            // The sequential loop's "later GT wins" is the largest claiming index.
            const claims = overlaps.eq(gtMaxOverlaps.unsqueeze(1)).logicalAnd(gtOk.unsqueeze(1)); // [G, A]
            lowQ = where(claims, ids.unsqueeze(1), 0).amax(0);
          } else {
            lowQ = zeros([numBoxes], { dtype: 'int64', device: bboxes.device }).scatterReduce(
              0,
              gtArgmaxOverlaps,
              where(gtOk, ids, 0),
              'amax',
            );
          }
          gtInds = where(lowQ.gt(0), lowQ, gtInds);
        }
        return assignmentFromGtInds(gtInds, gt.labels, iouMatrix, numClasses, { iouMatrix });
      }),
    );
  }
}
