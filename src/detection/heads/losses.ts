// The training losses of the dense heads, as mmdetection's `loss` / `loss_single` of RetinaHead,
// ATSSHead, GFLHead and FCOSHead (v2.28), over a whole batch. The assignment is an input
// (docs/architecture.md): the detector computes it, or a distiller hands in another (LAD).
// Levels are flattened (level 0 first) and images concatenated, so sums over levels are done in
// one reduction instead of mmdet's per-level list; normalisers are mmdet's exactly.
import { bboxOverlaps } from '../../core/box-ops.ts';
import * as F from '../../core/functional.ts';
import { cat, noGrad, type Tensor, tidy, zeros } from '../../core/tensor.ts';
import type { GtTargets } from '../assigners/types.ts';
import { deltaXYWHDecode, deltaXYWHEncode, type Vec4 } from '../coders/delta-xywh.ts';
import { bbox2distance, distance2bbox } from '../coders/distance.ts';
import { integral } from '../coders/integral.ts';
import { sigmoidFocalLoss } from '../losses/focal.ts';
import { distributionFocalLoss, qualityFocalLoss } from '../losses/gfocal.ts';
import { giouLoss } from '../losses/iou.ts';
import { l1Loss } from '../losses/smooth-l1.ts';
import { type Assignment, type HeadOutputs, IGNORE, type LossDict, type Priors } from '../types.ts';

/** Per-level maps [B, A_l*K, H, W] -> [B, sum_l H_l*W_l*A_l, K] (mmdet's permute + reshape). */
export function flattenLevels(levels: readonly Tensor[], k: number): Tensor {
  return tidy(() =>
    cat(
      levels.map((t) => t.permute(0, 2, 3, 1).reshape(t.size(0), -1, k)),
      1,
    ),
  );
}

/** The stride of every prior [A] (float32). */
export function priorStrides(priors: Priors): Tensor {
  return tidy(() =>
    cat(
      priors.numPerLevel.map((n, l) => zeros([n], { device: priors.boxes.device }).add(priors.strides[l]!)),
    ),
  );
}

/** What every head loss takes. Assignments and ground truth are per image. */
export interface HeadLossInputs {
  outputs: HeadOutputs;
  priors: Priors;
  gts: readonly GtTargets[];
  assignments: readonly Assignment[];
}

/** Concatenated over the batch: labels [B*A], label weights [B*A], matched GT boxes [B*A, 4]. */
export function batchTargets(inp: HeadLossInputs): { labels: Tensor; labelWeights: Tensor; gtBoxes: Tensor } {
  return noGrad(() =>
    tidy(() => {
      const labels = cat(inp.assignments.map((a) => a.labels));
      const labelWeights = cat(inp.assignments.map((a) => a.gtIndex.ne(IGNORE).float()));
      const gtBoxes = cat(
        inp.assignments.map((a, i) => {
          const g = inp.gts[i]!.boxes;
          if (g.size(0) === 0) return zeros([a.gtIndex.size(0), 4], { device: g.device });
          return g.at(a.gtIndex.clampMin(0));
        }),
      );
      return { labels, labelWeights, gtBoxes };
    }),
  );
}

/**
 * mmdet's num_total_pos for RetinaNet/ATSS/GFL: each image counts at least one positive
 * (AnchorHead/ATSSHead/GFLHead get_targets: sum(max(#pos_i, 1))).
 */
export function perImagePositives(assignments: readonly Assignment[], numClasses: number): number {
  return noGrad(() =>
    tidy(() => {
      let total = 0;
      for (const a of assignments) total += Math.max(a.labels.lt(numClasses).sum().item(), 1);
      return total;
    }),
  );
}

function centres(boxes: Tensor): Tensor {
  return tidy(() =>
    boxes
      .slice(1, 0, 2)
      .add(boxes.slice(1, 2, 4))
      .div(2),
  ); // [N, 2]
}

/** What every head loss starts from: outputs and targets flattened over levels and images. */
interface FlatHead {
  cls: Tensor; // [N, C] logits, N = B * A
  reg: Tensor; // [N, R] raw box outputs
  ctr: Tensor | null; // [N] centre-ness logits (ATSS, FCOS)
  priors: Tensor; // [N, 4] the priors, repeated per image
  labels: Tensor; // [N] int64, C for background and ignored
  labelWeights: Tensor; // [N] 0 for ignored priors
  gtBoxes: Tensor; // [N, 4] the assigned GT box (GT 0 / zeros where not positive)
  pos: Tensor; // [P] indices of positives
}

function flatHead(inp: HeadLossInputs, C: number, regChannels: number): FlatHead {
  const B = inp.gts.length;
  const c = inp.outputs.centerness;
  return {
    cls: flattenLevels(inp.outputs.clsScores, C).reshape(-1, C),
    reg: flattenLevels(inp.outputs.bboxPreds, regChannels).reshape(-1, regChannels),
    ctr: c ? flattenLevels(c, 1).reshape(-1) : null,
    priors: repeatPriors(inp.priors, B),
    ...batchTargets(inp),
    pos: cat(inp.assignments.map((a) => a.labels))
      .lt(C)
      .nonzero()
      .flatten(),
  };
}

/** A zero that keeps the graph connected (mmdet's `bbox_pred.sum() * 0`). */
function zeroLoss(t: Tensor): Tensor {
  return t.sum().mul(0);
}

function repeatPriors(priors: Priors, b: number): Tensor {
  return cat(Array.from({ length: b }, () => priors.boxes));
}

// --- GFL ---------------------------------------------------------------------------------------

export interface GflLossConfig {
  numClasses: number;
  regMax?: number; // 16
  /** loss_weight of QFL, DFL, GIoU (mmdet: 1.0, 0.25, 2.0). */
  clsWeight?: number;
  dflWeight?: number;
  bboxWeight?: number;
}

/**
 * GFL (GFLHead.loss_single): QFL on all priors with the IoU of the decoded box as the quality
 * target (avg_factor = #positives); GIoU on decoded boxes in stride units and DFL on the edge
 * distributions, both weighted by max_c σ(sg(cls)) and normalised by the sum of those weights
 * (DFL also by its avg_factor 4).
 */
export function gflLoss(inp: HeadLossInputs, cfg: GflLossConfig): LossDict {
  const n = cfg.regMax ?? 16;
  const C = cfg.numClasses;
  return tidy(() => {
    const B = inp.gts.length;
    const { cls, reg, priors: anchors, labels, labelWeights, gtBoxes, pos } = flatHead(inp, C, 4 * (n + 1));
    const strides = cat(Array.from({ length: B }, () => priorStrides(inp.priors))); // [N]
    const numPos = pos.size(0);
    let score = zeros([labels.size(0)], { device: labels.device });
    let lossBbox: Tensor;
    let lossDfl: Tensor;
    let weightSum = 1;
    if (numPos > 0) {
      const s = strides.at(pos).unsqueeze(1); // [P, 1]
      const posCentres = centres(anchors.at(pos)).div(s); // [P, 2] in stride units
      const weightTargets = noGrad(() => cls.detach().sigmoid().amax(1).at(pos)); // [P]
      const posReg = reg.at(pos); // [P, 4(n+1)]
      const posDecoded = distance2bbox(posCentres, integral(posReg, n)); // [P, 4]
      const posTargets = gtBoxes.at(pos).div(s); // [P, 4]
      const iou = noGrad(() => bboxOverlaps(posDecoded.detach(), posTargets, { aligned: true }));
      score = score.indexPut([pos], iou);
      const targetCorners = bbox2distance(posCentres, posTargets, { maxDis: n }).reshape(-1); // [4P]
      weightSum = Math.max(weightTargets.sum().item(), 1);
      lossBbox = giouLoss(posDecoded, posTargets, { weight: weightTargets, avgFactor: 1.0 }).div(weightSum);
      lossDfl = distributionFocalLoss(posReg.reshape(-1, n + 1), targetCorners, {
        weight: weightTargets.unsqueeze(1).expand(-1, 4).reshape(-1),
        avgFactor: 4.0,
      }).div(weightSum);
    } else {
      lossBbox = zeroLoss(reg);
      lossDfl = zeroLoss(reg);
    }
    const lossCls = qualityFocalLoss(
      cls,
      { labels, scores: score },
      { weight: labelWeights, avgFactor: perImagePositives(inp.assignments, C) },
    );
    return {
      loss_cls: lossCls.mul(cfg.clsWeight ?? 1.0),
      loss_bbox: lossBbox.mul(cfg.bboxWeight ?? 2.0),
      loss_dfl: lossDfl.mul(cfg.dflWeight ?? 0.25),
    };
  });
}

// --- ATSS --------------------------------------------------------------------------------------

export const ATSS_STDS: Vec4 = [0.1, 0.1, 0.2, 0.2];

/** Centre-ness of anchors' centres inside their GT boxes [P] (ATSSHead.centerness_target). */
function anchorCenterness(anchors: Tensor, gt: Tensor): Tensor {
  return tidy(() => {
    const c = centres(anchors);
    const l = c.select(1, 0).sub(gt.select(1, 0));
    const t = c.select(1, 1).sub(gt.select(1, 1));
    const r = gt.select(1, 2).sub(c.select(1, 0));
    const b = gt.select(1, 3).sub(c.select(1, 1));
    const lr = l.minimum(r).div(l.maximum(r));
    const tb = t.minimum(b).div(t.maximum(b));
    return lr.mul(tb).sqrt();
  });
}

export interface AtssLossConfig {
  numClasses: number;
  stds?: Vec4;
  clsWeight?: number; // focal 1.0
  bboxWeight?: number; // GIoU 2.0
  centernessWeight?: number; // BCE 1.0
}

/**
 * ATSS (ATSSHead.loss_single): focal on all priors (avg_factor #pos); GIoU on decoded boxes
 * weighted by the centre-ness targets and normalised by their sum; centre-ness BCE over
 * positives (avg_factor #pos).
 */
export function atssLoss(inp: HeadLossInputs, cfg: AtssLossConfig): LossDict {
  const C = cfg.numClasses;
  return tidy(() => {
    const f = flatHead(inp, C, 4);
    const { cls, reg, priors: anchors, labels, labelWeights, gtBoxes, pos } = f;
    const ctr = f.ctr!;
    const numPos = pos.size(0);
    const avg = perImagePositives(inp.assignments, C);
    let lossBbox: Tensor;
    let lossCtr: Tensor;
    if (numPos > 0) {
      const posAnchors = anchors.at(pos);
      const posTargets = gtBoxes.at(pos);
      const ctrTargets = noGrad(() => anchorCenterness(posAnchors, posTargets));
      const decoded = deltaXYWHDecode(posAnchors, reg.at(pos), { stds: cfg.stds ?? ATSS_STDS });
      const ctrSum = Math.max(ctrTargets.sum().item(), 1);
      lossBbox = giouLoss(decoded, posTargets, { weight: ctrTargets, avgFactor: 1.0 }).div(ctrSum);
      lossCtr = F.binaryCrossEntropyWithLogits(ctr.at(pos), ctrTargets, { reduction: 'sum' }).div(avg);
    } else {
      lossBbox = zeroLoss(reg);
      lossCtr = zeroLoss(ctr);
    }
    const lossCls = sigmoidFocalLoss(cls, labels, { weight: labelWeights, avgFactor: avg });
    return {
      loss_cls: lossCls.mul(cfg.clsWeight ?? 1.0),
      loss_bbox: lossBbox.mul(cfg.bboxWeight ?? 2.0),
      loss_centerness: lossCtr.mul(cfg.centernessWeight ?? 1.0),
    };
  });
}

// --- RetinaNet ---------------------------------------------------------------------------------

export interface RetinaLossConfig {
  numClasses: number;
  /** 'l1' on deltas (mmdet default) or 'giou' on decoded boxes. */
  bboxLoss?: 'l1' | 'giou';
  clsWeight?: number;
  bboxWeight?: number;
}

/**
 * RetinaNet (AnchorHead.loss_single): focal on all non-ignored anchors and L1 on the deltas of
 * positives (stds 1), both normalised by #positives.
 */
export function retinaLoss(inp: HeadLossInputs, cfg: RetinaLossConfig): LossDict {
  const C = cfg.numClasses;
  return tidy(() => {
    const { cls, reg, priors: anchors, labels, labelWeights, gtBoxes, pos } = flatHead(inp, C, 4);
    const numPos = pos.size(0);
    const avg = perImagePositives(inp.assignments, C);
    let lossBbox: Tensor;
    if (numPos > 0) {
      const posAnchors = anchors.at(pos);
      const posTargets = gtBoxes.at(pos);
      if ((cfg.bboxLoss ?? 'l1') === 'l1') {
        const targets = noGrad(() => deltaXYWHEncode(posAnchors, posTargets));
        lossBbox = l1Loss(reg.at(pos), targets, { reduction: 'sum' }).div(avg);
      } else {
        lossBbox = giouLoss(deltaXYWHDecode(posAnchors, reg.at(pos)), posTargets, { reduction: 'sum' }).div(
          avg,
        );
      }
    } else {
      lossBbox = zeroLoss(reg);
    }
    const lossCls = sigmoidFocalLoss(cls, labels, { weight: labelWeights, avgFactor: avg });
    return { loss_cls: lossCls.mul(cfg.clsWeight ?? 1.0), loss_bbox: lossBbox.mul(cfg.bboxWeight ?? 1.0) };
  });
}

// --- FCOS --------------------------------------------------------------------------------------

export interface FcosLossConfig {
  numClasses: number;
  /** Distances were divided by the stride (norm_on_bbox): targets too. */
  normOnBbox?: boolean;
  clsWeight?: number;
  bboxWeight?: number;
  centernessWeight?: number;
}

/** Per image FCOS targets: ltrb [A, 4] and centre-ness [A] (from fcosTargets). */
export interface FcosExtraTargets {
  bboxTargets: readonly Tensor[];
  centerness: readonly Tensor[];
}

/**
 * FCOS (FCOSHead.loss): focal over all points (avg_factor #pos); GIoU between decoded predicted
 * and target boxes of positives, weighted by the centre-ness targets and normalised by their sum;
 * centre-ness BCE over positives (avg_factor #pos).
 */
export function fcosLoss(inp: HeadLossInputs, extra: FcosExtraTargets, cfg: FcosLossConfig): LossDict {
  const C = cfg.numClasses;
  return tidy(() => {
    const B = inp.gts.length;
    const f = flatHead(inp, C, 4);
    const { cls, reg, priors: points, labels, labelWeights } = f;
    const ctr = f.ctr!;
    let bboxTargets = cat(extra.bboxTargets);
    if (cfg.normOnBbox) {
      const s = cat(Array.from({ length: B }, () => priorStrides(inp.priors))).unsqueeze(1);
      bboxTargets = bboxTargets.div(s);
    }
    const ctrTargetsAll = cat(extra.centerness);
    const pos = f.pos;
    const numPos = pos.size(0);
    const avg = Math.max(numPos, 1);
    let lossBbox: Tensor;
    let lossCtr: Tensor;
    if (numPos > 0) {
      const p = points.at(pos);
      const ctrTargets = ctrTargetsAll.at(pos);
      const denorm = Math.max(ctrTargets.sum().item(), 1e-6);
      const predBoxes = distance2bbox(p, reg.at(pos));
      const targetBoxes = distance2bbox(p, bboxTargets.at(pos));
      lossBbox = giouLoss(predBoxes, targetBoxes, { weight: ctrTargets, avgFactor: denorm });
      lossCtr = F.binaryCrossEntropyWithLogits(ctr.at(pos), ctrTargets, { reduction: 'sum' }).div(avg);
    } else {
      lossBbox = zeroLoss(reg);
      lossCtr = zeroLoss(ctr);
    }
    const lossCls = sigmoidFocalLoss(cls, labels, { weight: labelWeights, avgFactor: avg });
    return {
      loss_cls: lossCls.mul(cfg.clsWeight ?? 1.0),
      loss_bbox: lossBbox.mul(cfg.bboxWeight ?? 1.0),
      loss_centerness: lossCtr.mul(cfg.centernessWeight ?? 1.0),
    };
  });
}
