// FCOS targets (Tian et al., ICCV'19): mmdetection's FCOSHead._get_target_single and
// centerness_target (mmdet/models/dense_heads/fcos_head.py, v2.x). A point is positive for a GT
// when it lies inside the GT (or, with centre sampling, inside the GT's centre box of radius
// `centerSampleRadius`·stride, clipped to the GT) and max(l, t, r, b) lies in its level's
// regress range (inclusive); a point inside several GTs takes the one with the smallest area
// (first index on ties). FCOS has no crowd handling: gt.ignore is not used.
import { arange, full, noGrad, stack, type Tensor, tensor, tidy, where, zeros } from '../../core/tensor.ts';
import { type Assignment, BACKGROUND, type Priors } from '../types.ts';
import type { Assigner, GtTargets } from './types.ts';

const INF = 100000000;

export interface FcosTargetConfig {
  /** [lo, hi] per level on max(l, t, r, b). Default FCOS's for P3–P7 (the first L used). */
  regressRanges?: readonly (readonly [number, number])[];
  /** Default false. */
  centerSampling?: boolean;
  /** Default 1.5. */
  centerSampleRadius?: number;
  /** Divide the ltrb targets by the level's stride (FCOS `norm_on_bbox`). Default false. */
  normOnBbox?: boolean;
}

export const FCOS_REGRESS_RANGES: readonly (readonly [number, number])[] = [
  [-1, 64],
  [64, 128],
  [128, 256],
  [256, 512],
  [512, INF],
];

export interface FcosTargets {
  /** gtIndex/labels [A]; overlaps are 0 (points have no box); numGts. */
  assignment: Assignment;
  /** [A, 4] (l, t, r, b) distances from each point to its GT's sides (to GT 0 for negatives). */
  bboxTargets: Tensor;
  /** [A] sqrt(min(l,r)/max(l,r) · min(t,b)/max(t,b)) for positives, 0 elsewhere. */
  centerness: Tensor;
}

/**
 * points: Priors of kind 'point' (boxes [A, 4] = (x, y, stride, stride)), gt.boxes [G, 4] xyxy.
 */
export function fcosTargets(
  priors: Priors,
  gt: GtTargets,
  numClasses: number,
  cfg: FcosTargetConfig = {},
): FcosTargets {
  if (priors.kind !== 'point') throw new TypeError('fcosTargets: needs point priors');
  const ranges = cfg.regressRanges ?? FCOS_REGRESS_RANGES;
  const numLevels = priors.numPerLevel.length;
  if (ranges.length < numLevels)
    throw new RangeError(`fcosTargets: ${numLevels} levels, ${ranges.length} ranges`);
  return noGrad(() =>
    tidy(() => {
      const points = priors.boxes; // [A, 4]
      const device = points.device;
      const numPoints = points.size(0);
      const numGts = gt.boxes.size(0);
      // [A, k] float32 rows, one per point, from per-level values (Python numbers -> float32).
      const perLevel = (value: (l: number) => readonly number[]): Tensor => {
        const k = value(0).length;
        const data = new Float32Array(numPoints * k);
        let row = 0;
        priors.numPerLevel.forEach((n, l) => {
          const v = value(l);
          for (let i = 0; i < n; i++, row++) for (let j = 0; j < k; j++) data[row * k + j] = v[j]!;
        });
        return tensor(data, { shape: [numPoints, k], device });
      };
      if (numGts === 0) {
        return {
          assignment: {
            gtIndex: full([numPoints], BACKGROUND, { dtype: 'int64', device }),
            labels: full([numPoints], numClasses, { dtype: 'int64', device }),
            overlaps: zeros([numPoints], { device }),
            numGts,
          },
          bboxTargets: zeros([numPoints, 4], { device }),
          centerness: zeros([numPoints], { device }),
        };
      }
      const gtBoxes = gt.boxes;
      const areas = gtBoxes
        .select(1, 2)
        .sub(gtBoxes.select(1, 0))
        .mul(gtBoxes.select(1, 3).sub(gtBoxes.select(1, 1)))
        .unsqueeze(0)
        .repeat(numPoints, 1); // [A, G]
      const regressRanges = perLevel((l) => ranges[l]!)
        .unsqueeze(1)
        .expand(numPoints, numGts, 2);
      const gb = gtBoxes.unsqueeze(0).expand(numPoints, numGts, 4); // [A, G, 4]
      const xs = points.select(1, 0).unsqueeze(1).expand(numPoints, numGts);
      const ys = points.select(1, 1).unsqueeze(1).expand(numPoints, numGts);
      const g0 = gb.select(2, 0);
      const g1 = gb.select(2, 1);
      const g2 = gb.select(2, 2);
      const g3 = gb.select(2, 3);
      const left = xs.sub(g0);
      const right = g2.sub(xs);
      const top = ys.sub(g1);
      const bottom = g3.sub(ys);
      const bboxTargetsAll = stack([left, top, right, bottom], -1); // [A, G, 4]

      let insideGt: Tensor; // [A, G]
      if (cfg.centerSampling) {
        const radius = cfg.centerSampleRadius ?? 1.5;
        const centerXs = g0.add(g2).div(2);
        const centerYs = g1.add(g3).div(2);
        // Per point, its level's stride · radius (computed in double, stored as float32).
        const stride = perLevel((l) => [(priors.strides[l] ?? 0) * radius]).expand(numPoints, numGts);
        const xMins = centerXs.sub(stride);
        const yMins = centerYs.sub(stride);
        const xMaxs = centerXs.add(stride);
        const yMaxs = centerYs.add(stride);
        const c0 = where(xMins.gt(g0), xMins, g0);
        const c1 = where(yMins.gt(g1), yMins, g1);
        const c2 = where(xMaxs.gt(g2), g2, xMaxs);
        const c3 = where(yMaxs.gt(g3), g3, yMaxs);
        const centerBox = stack([xs.sub(c0), ys.sub(c1), c2.sub(xs), c3.sub(ys)], -1);
        insideGt = centerBox.amin(-1).gt(0);
      } else {
        insideGt = bboxTargetsAll.amin(-1).gt(0);
      }
      const maxRegressDistance = bboxTargetsAll.amax(-1); // [A, G]
      const insideRange = maxRegressDistance
        .ge(regressRanges.select(2, 0))
        .logicalAnd(maxRegressDistance.le(regressRanges.select(2, 1)));
      const masked = areas.maskedFill(insideGt.logicalNot(), INF).maskedFill(insideRange.logicalNot(), INF);
      const { values: minArea, indices: minAreaInds } = masked.minDim(1); // [A]
      const pos = minArea.ne(INF);
      const labels = where(pos, gt.labels.at(minAreaInds), numClasses);
      let bboxTargets = bboxTargetsAll.index([arange(numPoints, undefined, 1, { device }), minAreaInds]); // [A, 4]
      if (cfg.normOnBbox) bboxTargets = bboxTargets.div(perLevel((l) => [priors.strides[l] ?? 1]));
      return {
        assignment: {
          gtIndex: where(pos, minAreaInds, BACKGROUND),
          labels,
          overlaps: zeros([numPoints], { device }),
          numGts,
        },
        bboxTargets,
        centerness: where(pos, centernessTarget(bboxTargets), 0),
      };
    }),
  );
}

/** pos ltrb targets [P, 4] -> [P] sqrt(min(l,r)/max(l,r) · min(t,b)/max(t,b)) (NaN-prone for negatives). */
export function centernessTarget(bboxTargets: Tensor): Tensor {
  return tidy(() => {
    const lr = stack([bboxTargets.select(1, 0), bboxTargets.select(1, 2)], 1); // [P, 2]
    const tb = stack([bboxTargets.select(1, 1), bboxTargets.select(1, 3)], 1);
    return lr
      .amin(-1)
      .div(lr.amax(-1))
      .mul(tb.amin(-1).div(tb.amax(-1)))
      .sqrt();
  });
}

/** The FCOS target rule as an Assigner (the ltrb and centre-ness targets come from fcosTargets). */
export class FcosAssigner implements Assigner {
  constructor(readonly cfg: FcosTargetConfig = {}) {}
  assign(priors: Priors, gt: GtTargets, numClasses: number): Assignment {
    return tidy(() => {
      const r = fcosTargets(priors, gt, numClasses, this.cfg);
      return r.assignment;
    });
  }
}
