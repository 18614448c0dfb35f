// ATSS (Zhang et al., CVPR'20): mmdetection's ATSSAssigner (mmdet/core/bbox/assigners/
// atss_assigner.py, v2.x with ignore_iof_thr; the v3 task_modules version is the same logic).
// Per GT: on each level the `topk` priors whose centres are nearest (L2) to the GT centre are
// candidates; threshold = mean + std of their IoUs (std unbiased, torch's default); positives
// have IoU >= threshold and a centre inside the GT by more than 0.01 px on every side; a prior
// positive for several GTs takes the one with the highest IoU. LD's Valuable Localization Region
// needs the per-GT threshold and the IoU matrix: both are returned.
//
// Crowd regions (ignoreIofThr > 0): priors whose IoF with an ignore box exceeds the threshold are
// marked IGNORE and their distance to every GT set to 1e8, so they are chosen as candidates only
// on a level with fewer than topk other priors; such a candidate can still turn positive, as in
// mmdet (its IoU enters the threshold too).
import { bboxOverlaps } from '../../core/box-ops.ts';
import { arange, cat, full, noGrad, stack, type Tensor, tidy, where, zeros } from '../../core/tensor.ts';
import type { Assignment, Priors } from '../types.ts';
import { type Assigner, assignmentFromGtInds, boxIof, type GtTargets, priorCentres } from './types.ts';

const INF = 100000000;

export interface AtssAssignerConfig {
  /** Candidates per level and GT. Default 9. */
  topk?: number;
  /** IoF threshold for crowd regions; <= 0 disables. Default -1. */
  ignoreIofThr?: number;
}

export class AtssAssigner implements Assigner {
  readonly topk: number;
  readonly ignoreIofThr: number;
  constructor(cfg: AtssAssignerConfig = {}) {
    this.topk = cfg.topk ?? 9;
    this.ignoreIofThr = cfg.ignoreIofThr ?? -1;
  }

  /**
   * priors: anchors [A, 4] xyxy with numPerLevel; gt.boxes [G, 4]. Returns gtIndex/labels/
   * overlaps [A], atssThreshold [G], iouMatrix [A, G].
   */
  assign(priors: Priors, gt: GtTargets, numClasses: number): Assignment {
    if (priors.kind !== 'anchor') throw new TypeError('AtssAssigner: needs anchor priors (xyxy boxes)');
    return noGrad(() =>
      tidy(() => {
        const bboxes = priors.boxes; // [A, 4]
        const gtBoxes = gt.boxes; // [G, 4]
        const numGt = gtBoxes.size(0);
        const numBoxes = bboxes.size(0);
        const device = bboxes.device;
        const overlaps = bboxOverlaps(bboxes, gtBoxes); // [A, G]
        let gtInds = zeros([numBoxes], { dtype: 'int64', device });
        if (numGt === 0 || numBoxes === 0) {
          return assignmentFromGtInds(gtInds, gt.labels, overlaps, numClasses, {
            atssThreshold: zeros([numGt], { device }),
            iouMatrix: overlaps,
          });
        }
        const gx1 = gtBoxes.select(1, 0);
        const gy1 = gtBoxes.select(1, 1);
        const gx2 = gtBoxes.select(1, 2);
        const gy2 = gtBoxes.select(1, 3);
        const gtPoints = stack([gx1.add(gx2).div(2), gy1.add(gy2).div(2)], 1); // [G, 2]
        const [cx, cy] = priorCentres(priors); // [A]
        const boxPoints = stack([cx, cy], 1); // [A, 2]
        let distances = boxPoints.unsqueeze(1).sub(gtPoints.unsqueeze(0)).pow(2).sum(-1).sqrt(); // [A, G]

        const ign = gt.ignore ?? null;
        if (this.ignoreIofThr > 0 && ign !== null && ign.numel > 0) {
          const ignored = boxIof(bboxes, ign).amax(1).gt(this.ignoreIofThr); // [A]
          distances = distances.maskedFill(ignored.unsqueeze(1), INF);
          gtInds = gtInds.maskedFill(ignored, -1);
        }

        // Candidates: per level, the topk nearest centres for each GT.
        const cands: Tensor[] = [];
        let start = 0;
        for (const n of priors.numPerLevel) {
          const k = Math.min(this.topk, n);
          const { indices } = distances.slice(0, start, start + n).topk(k, 0, false);
          cands.push(indices.add(start));
          start += n;
        }
        const candidateIdxs = cat(cands, 0); // [K, G]
        const gtRange = arange(numGt, undefined, 1, { device }); // [G]
        const candidateOverlaps = overlaps.index([candidateIdxs, gtRange]); // [K, G]
        const thr = candidateOverlaps.mean(0).add(candidateOverlaps.std(0)); // [G]
        let isPos = candidateOverlaps.ge(thr.unsqueeze(0)); // [K, G]

        // Centre strictly inside the GT (by 0.01).
        const ccx = cx.at(candidateIdxs); // [K, G]
        const ccy = cy.at(candidateIdxs);
        const l = ccx.sub(gx1);
        const t = ccy.sub(gy1);
        const r = gx2.sub(ccx);
        const b = gy2.sub(ccy);
        const isInGts = stack([l, t, r, b], 1).amin(1).gt(0.01); // [K, G]
        isPos = isPos.logicalAnd(isInGts);

        // A prior positive for several GTs takes the max-IoU one: build the [G, A] matrix as mmdet
        // does (then viewed transposed) so max's tie-breaking sees the same layout.
        const flatIdx = candidateIdxs.add(gtRange.mul(numBoxes)).view(-1).at(isPos.view(-1)); // [P]
        const overlapsT = overlaps.t().contiguous().view(-1); // [G*A]
        const overlapsInf = full([numGt * numBoxes], -INF, { device })
          .indexPut_([flatIdx], overlapsT.at(flatIdx))
          .view(numGt, -1)
          .t(); // [A, G]
        const { values: maxOverlaps, indices: argmaxOverlaps } = overlapsInf.maxDim(1); // [A]
        gtInds = where(maxOverlaps.ne(-INF), argmaxOverlaps.add(1), gtInds);
        return assignmentFromGtInds(gtInds, gt.labels, overlaps, numClasses, {
          atssThreshold: thr,
          iouMatrix: overlaps,
        });
      }),
    );
  }
}
