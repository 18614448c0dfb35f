// LD's Valuable Localization Region (docs/methods/ld.md) as HikariTJU/LD's
// ATSSAssigner.get_vlr_region (mmdet/core/bbox/assigners/atss_assigner.py), per image:
//   thr_g   = mean + std of the IoUs of the topk centre-nearest priors per level (ATSS's threshold)
//   VLR     = every (prior a, GT g) with lowRatio·thr_g <= DIoU(a, g) < thr_g, over ALL priors of
//             all levels (get_vlr_region's candidate topk is the whole level);
//   weight  = max over the GTs whose band holds a of IoU(a, g), 0 outside the VLR.
// Only the max VALUE leaves the function, so the tie rule between GTs (first max, as ATSS) cannot
// change the result. There is no centre-in-GT test and ignored priors are not excluded: crowd
// regions act only through the threshold (their priors are pushed out of the topk by distance,
// exactly as in ATSSAssigner.assign), so the assigner's atssThreshold is reused as is.
//
// DIoU caveat: the official bbox_overlaps(mode='diou') in that repo
// (mmdet/core/bbox/iou_calculators/iou2d_calculator.py) takes its overlap term from the 'iof'
// branch, intersection / area(prior), not the IoU of the DIoU paper. `overlap: 'iof'` (default)
// reproduces the official code (and so its reported numbers); 'iou' is the paper's DIoU.
import { bboxOverlaps } from '../core/box-ops.ts';
import { noGrad, type Tensor, tidy, where, zeros } from '../core/tensor.ts';
import { AtssAssigner } from '../detection/assigners/atss.ts';
import type { Assignment, Priors } from '../detection/types.ts';

const INF = 100000000;

export type DiouOverlap = 'iof' | 'iou';

/**
 * Pairwise DIoU-style overlap: a [A, 4] priors, b [G, 4] GTs (xyxy) -> [A, G]
 * = overlap − ρ²(centres)/c² (c the diagonal of the enclosing box). overlap is
 * inter/area(a) ('iof', HikariTJU's 'diou') or inter/union ('iou', Zheng et al.); the
 * denominator and c² are clamped to eps as mmdet's bbox_overlaps does.
 */
export function diouMatrix(a: Tensor, b: Tensor, o: { overlap?: DiouOverlap; eps?: number } = {}): Tensor {
  const eps = o.eps ?? 1e-6;
  return tidy(() => {
    const A = a.unsqueeze(1); // [A, 1, 4]
    const B = b.unsqueeze(0); // [1, G, 4]
    const [ax1, ay1, ax2, ay2] = A.unbind(-1) as [Tensor, Tensor, Tensor, Tensor]; // [A, 1]
    const [bx1, by1, bx2, by2] = B.unbind(-1) as [Tensor, Tensor, Tensor, Tensor]; // [1, G]
    const area1 = ax2.sub(ax1).mul(ay2.sub(ay1)); // [A, 1]
    const lt = A.slice(-1, 0, 2).maximum(B.slice(-1, 0, 2)); // [A, G, 2]
    const rb = A.slice(-1, 2, 4).minimum(B.slice(-1, 2, 4));
    const wh = rb.sub(lt).clampMin(0);
    const overlap = wh.select(-1, 0).mul(wh.select(-1, 1)); // [A, G]
    const denom =
      (o.overlap ?? 'iof') === 'iof' ? area1 : area1.add(bx2.sub(bx1).mul(by2.sub(by1))).sub(overlap);
    const ious = overlap.div(denom.clampMin(eps)); // [A, G]
    const elt = A.slice(-1, 0, 2).minimum(B.slice(-1, 0, 2));
    const erb = A.slice(-1, 2, 4).maximum(B.slice(-1, 2, 4));
    // ρ² = squared centre distance, written on doubled centres as the reference does.
    const left = bx1.add(bx2).sub(ax1.add(ax2)).pow(2).div(4);
    const right = by1.add(by2).sub(ay1.add(ay2)).pow(2).div(4);
    const rho2 = left.add(right); // [A, G]
    const ewh = erb.sub(elt).clampMin(0);
    const c2 = ewh.select(-1, 0).pow(2).add(ewh.select(-1, 1).pow(2)).clampMin(eps); // [A, G]
    return ious.sub(rho2.div(c2));
  });
}

export interface VlrOptions {
  /**
   * ATSS candidates per level for the threshold. Used only when the assignment carries no
   * atssThreshold (then the threshold is recomputed without crowd regions). Default 9.
   */
  topk?: number;
  /** Lower edge of the band as a fraction of thr_g. Default 0.25 (LD issue #49). */
  lowRatio?: number;
  /** Overlap term of the DIoU; see the file comment. Default 'iof' (official code). */
  overlap?: DiouOverlap;
}

/**
 * VLR weights of one image: priors.boxes [A, 4] xyxy anchors, gtBoxes [G, 4] xyxy, the ATSS
 * assignment of the same image (its atssThreshold [G] and iouMatrix [A, G] are reused) ->
 * [A] float: IoU with the chosen GT inside the VLR, 0 elsewhere. G = 0 gives all zeros.
 *
 *   const a = new AtssAssigner().assign(priors, gt, C);
 *   const w = vlrRegion(priors, gt.boxes, a); // LdLevelInputs.vlrWeight, once split by level
 */
export function vlrRegion(
  priors: Priors,
  gtBoxes: Tensor,
  assignment: Assignment,
  o: VlrOptions = {},
): Tensor {
  if (priors.kind !== 'anchor')
    throw new TypeError(
      'vlrRegion: needs anchor priors (DIoU between anchors and GTs); for point heads LD uses all negatives (LD issue #44)',
    );
  const low = o.lowRatio ?? 0.25;
  return noGrad(() =>
    tidy(() => {
      const anchors = priors.boxes; // [A, 4]
      const A = anchors.size(0);
      const G = gtBoxes.size(0);
      if (G === 0 || A === 0) return zeros([A], { dtype: anchors.dtype, device: anchors.device });
      let iou = assignment.iouMatrix; // [A, G]
      let thr = assignment.atssThreshold; // [G]
      if (!thr) {
        const labels = zeros([G], { dtype: 'int64', device: anchors.device });
        const redo = new AtssAssigner({ topk: o.topk ?? 9 }).assign(priors, { boxes: gtBoxes, labels }, 1);
        thr = redo.atssThreshold;
        iou ??= redo.iouMatrix;
      }
      iou ??= bboxOverlaps(anchors, gtBoxes);
      if (!thr || iou.size(0) !== A || iou.size(1) !== G || thr.size(0) !== G)
        throw new TypeError('vlrRegion: the assignment does not belong to these priors and GTs');
      const diou = diouMatrix(anchors, gtBoxes, { overlap: o.overlap }); // [A, G]
      const t = thr.unsqueeze(0); // [1, G]
      const band = diou.lt(t).logicalAnd(diou.ge(t.mul(low))); // [A, G]
      const best = where(band, iou, -INF).amax(1); // [A]
      return where(best.ne(-INF), best, 0);
    }),
  );
}
