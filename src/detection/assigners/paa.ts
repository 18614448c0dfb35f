// PAA's probabilistic anchor assignment (Kim & Lee, ECCV'20; docs/methods/paa.md) from a detector's
// predictions. Two users: a detector assigning from its own detached predictions (`PaaAssigner`,
// PAA as published) and LAD (docs/methods/lad.md; src/distill/lad.ts), where a frozen teacher's
// predictions make the student's assignment. Reference: mmdet/models/dense_heads/paa_head.py
// (get_targets, get_pos_loss, paa_reassign, gmm_separation_scheme) and lad_head.py (get_la),
// mmdetection v2.28 / v3.
//
// Per image:
//   1. candidates: MaxIoUAssigner(pos 0.1, neg 0.1, min_pos_iou 0) positives (PAA's train_cfg);
//   2. score of a candidate = the predictor's sigmoid focal loss summed over classes against the
//      GT's one-hot label + 1.3 * GIoU loss between its decoded box and the GT (get_pos_loss:
//      loss_cls and loss_bbox with reduction 'none');
//   3. per GT and level, the topk lowest-score candidates; a 2-component 1-D GMM on their scores;
//      positives = the samples of component 0, in ascending score order, up to the one with the
//      highest mixture log-density (gmm_separation_scheme, Fig. 3(c) of the paper);
//   4. every other candidate becomes background (PAA's ignore set is empty in that scheme).
//
// Where this differs from mmdetection, on purpose:
//   - Degenerate GMM inputs do not throw (mmdet #9390) and do not silently drop the GT; see
//     `paaSplit`: fewer than 2 samples, zero spread, a failed or non-finite fit -> the candidates
//     whose score is <= min + tol are positives (a single candidate is kept). mmdet skips GTs with
//     fewer than 2 samples (their candidates become negatives): `singleCandidate: 'drop'` does that.
//   - Ties: torch.topk/sort give no order for equal scores. Here the per-level top-k and the sort
//     are stable (equal scores: lower prior index first, lower level first), and the mixture
//     density's maximum is its first occurrence.
//   - The GMM runs in float64 on the scores read back as JS numbers; mmdet hands sklearn float32.

import { DetkdError } from '../../core/errors.ts';
import { noGrad, type Tensor, tensor, tidy, where, zeros } from '../../core/tensor.ts';
import { sigmoidFocalLoss } from '../losses/focal.ts';
import { giouLoss } from '../losses/iou.ts';
import { type Assignment, IGNORE, type Priors } from '../types.ts';
import { fitGmm1d, type GaussianMixture1d, type Gmm1dInit } from './gmm.ts';
import { MaxIoUAssigner } from './max-iou.ts';
import { type Assigner, type AssignerPreds, assignmentFromGtInds, type GtTargets } from './types.ts';

export interface PaaConfig {
  /** Candidates kept per GT and level before the GMM. Default 9. */
  topk?: number;
  /** MaxIoUAssigner pos/neg IoU threshold for candidates. Default 0.1. */
  candidateIou?: number;
  /** Focal loss alpha. Default 0.25. */
  alpha?: number;
  /** Focal loss gamma. Default 2. */
  gamma?: number;
  /** GIoU loss weight in the score. Default 1.3 (PAA's loss_bbox). */
  giouWeight?: number;
  /** MaxIoUAssigner ignore_iof_thr for crowd regions (gt.ignore); <= 0 disables. Default -1 (PAA). */
  ignoreIofThr?: number;
  /**
   * A GT with a single candidate: 'keep' it as a positive (default), or 'drop' the GT as
   * mmdet's paa_reassign does (`if len(pos_inds_gmm) < 2: continue`).
   */
  singleCandidate?: 'keep' | 'drop';
  /** Relative tolerance of the fallback rule (see paaSplit). Default 1e-6. */
  degenerateTol?: number;
  /** EM options (defaults as PAA: weights 0.5, means [min, max], precisions 1, tol 1e-3). */
  gmm?: Gmm1dInit;
}

/** How paaSplit chose the positives of one GT. */
export type PaaSplitRule = 'gmm' | 'fallback' | 'dropped' | 'empty';

/**
 * PAA's split of one GT's candidate scores (sorted ascending; NaN last) into positives.
 * Returns the positions (into `sorted`) of the positives and the rule used.
 *
 * GMM (paa_reassign + gmm_separation_scheme): fit the mixture, predict; the samples of component 0
 * in order, up to and including the one with the largest score_samples, are positive.
 *
 * Fallback, instead of sklearn's errors or a meaningless fit: with t = tol * max(1, |min|) and min
 * the smallest finite score, the candidates whose score is <= min + t are positive. It applies when
 *   - there is one sample (unless singleCandidate is 'drop': then none, as mmdet),
 *   - max - min <= t (all scores equal: sklearn would keep just the first),
 *   - a score is not finite, the fit throws (GmmFitError: collapsed variance), or its parameters or
 *     densities are not finite.
 *
 *   paaSplit([0.1, 0.12, 0.15, 0.9, 1.3, 1.4]).positives // [0, 1, 2]
 */
export function paaSplit(
  sorted: readonly number[],
  cfg: Pick<PaaConfig, 'singleCandidate' | 'degenerateTol' | 'gmm'> = {},
  fit: (x: readonly number[], init: Gmm1dInit) => GaussianMixture1d = fitGmm1d,
): { positives: number[]; rule: PaaSplitRule } {
  const n = sorted.length;
  if (n === 0) return { positives: [], rule: 'empty' };
  if (n === 1 && (cfg.singleCandidate ?? 'keep') === 'drop') return { positives: [], rule: 'dropped' };
  const fallback = (): { positives: number[]; rule: PaaSplitRule } => {
    const finite = sorted.filter((v) => Number.isFinite(v));
    if (finite.length === 0) return { positives: [], rule: 'fallback' };
    const lo = Math.min(...finite);
    const thr = lo + (cfg.degenerateTol ?? 1e-6) * Math.max(1, Math.abs(lo));
    const positives: number[] = [];
    sorted.forEach((v, i) => {
      if (Number.isFinite(v) && v <= thr) positives.push(i);
    });
    return { positives, rule: 'fallback' };
  };
  if (n < 2 || !sorted.every((v) => Number.isFinite(v))) return fallback();
  const lo = sorted[0]!;
  const hi = sorted[n - 1]!;
  if (hi - lo <= (cfg.degenerateTol ?? 1e-6) * Math.max(1, Math.abs(lo))) return fallback();
  let gmm: GaussianMixture1d;
  try {
    gmm = fit(sorted, { means: [lo, hi], ...cfg.gmm });
  } catch {
    return fallback();
  }
  const params = [...gmm.weights, ...gmm.means, ...gmm.variances];
  const assign = gmm.predict(sorted);
  const dens = gmm.scoreSamples(sorted);
  if (!params.every((v) => Number.isFinite(v)) || !dens.every((v) => Number.isFinite(v))) return fallback();
  // gmm_separation_scheme: fgs = assignment == 0; pos = pos_inds_gmm[fgs][: argmax(scores[fgs]) + 1].
  const fg = assign.flatMap((a, i) => (a === 0 ? [i] : []));
  if (fg.length === 0) return { positives: [], rule: 'gmm' };
  let best = 0;
  for (let j = 1; j < fg.length; j++) if (dens[fg[j]!]! > dens[fg[best]!]!) best = j;
  return { positives: fg.slice(0, best + 1), rule: 'gmm' };
}

/**
 * PAA's per-candidate score (get_pos_loss): focal loss summed over classes + giouWeight * GIoU loss.
 * cls [P, C] logits, boxes [P, 4] decoded xyxy, gtBoxes [P, 4] the assigned GT
 * boxes, labels [P] int64 their classes -> [P].
 */
export function paaCandidateScores(
  cls: Tensor,
  boxes: Tensor,
  gtBoxes: Tensor,
  labels: Tensor,
  cfg: Pick<PaaConfig, 'alpha' | 'gamma' | 'giouWeight'> = {},
): Tensor {
  return tidy(() => {
    const focal = sigmoidFocalLoss(cls, labels, {
      alpha: cfg.alpha ?? 0.25,
      gamma: cfg.gamma ?? 2,
      reduction: 'none',
    }).sum(-1); // [P]
    const giou = giouLoss(boxes, gtBoxes, { reduction: 'none' }).mul(cfg.giouWeight ?? 1.3); // [P]
    return giou.add(focal); // PAA: pos_loss = loss_bbox + loss_cls
  });
}

/** Per-GT detail of the last split, for diagnostics and tests. */
export interface PaaGtInfo {
  /** Candidates that entered the GMM (after the per-level top-k), as prior indices, sorted by score. */
  candidates: number[];
  /** Their scores, ascending. */
  scores: number[];
  /** Prior indices that became positives. */
  positives: number[];
  rule: PaaSplitRule;
}

/**
 * The PAA assignment of one image computed from a detector's predictions (its own, or for LAD a
 * teacher's). The detector trains on it as on any Assignment. Runs under noGrad.
 *
 *   const a = paaAssign(priors, cls, boxes, gt, numClasses); // a.gtIndex [A]
 *
 * Returns gtIndex/labels/overlaps [A] as the other assigners do: positives after the PAA reassign
 * (overlaps = IoU(prior, assigned GT)), every other prior BACKGROUND, except priors that the
 * MaxIoU step ignores (IoF with gt.ignore above ignoreIofThr), which stay IGNORE. iouMatrix [A, G].
 * With `info`, per-GT details are pushed into it (index = GT).
 */
export function paaAssign(
  priors: Priors,
  clsLogits: Tensor, // [A, C] one image, flattened over levels in mmdet order
  predBoxes: Tensor, // [A, 4] decoded boxes, xyxy input px
  gt: GtTargets,
  numClasses: number,
  cfg: PaaConfig = {},
  info?: PaaGtInfo[],
): Assignment {
  return noGrad(() =>
    tidy(() => {
      const thr = cfg.candidateIou ?? 0.1;
      const topk = cfg.topk ?? 9;
      const base = new MaxIoUAssigner({
        posIouThr: thr,
        negIouThr: thr,
        minPosIou: 0,
        ignoreIofThr: cfg.ignoreIofThr ?? -1,
      }).assign(priors, gt, numClasses);
      const iouMatrix = base.iouMatrix!; // [A, G]
      const numGts = gt.boxes.size(0);
      const posInds = base.gtIndex.ge(0).nonzero().squeeze(1); // [P]
      const numCand = posInds.size(0);
      if (numGts === 0 || numCand === 0) {
        for (let g = 0; g < numGts; g++)
          info?.push({ candidates: [], scores: [], positives: [], rule: 'empty' });
        return base;
      }
      const posGt = base.gtIndex.at(posInds); // [P]
      const scores = paaCandidateScores(
        clsLogits.at(posInds),
        predBoxes.at(posInds),
        gt.boxes.at(posGt),
        gt.labels.at(posGt),
        cfg,
      ).toArray(); // [P]
      const pi = posInds.toArray();
      const pg = posGt.toArray();
      const levelOf = (a: number): number => {
        let l = 0;
        while (l + 1 < priors.levelOffsets.length && a >= priors.levelOffsets[l + 1]!) l++;
        return l;
      };
      // NaN scores sort last; equal scores keep prior-index order (see the header).
      const key = (v: number): number => (Number.isNaN(v) ? Number.POSITIVE_INFINITY : v);
      const byScore = (a: number, b: number): number => key(scores[a]!) - key(scores[b]!) || a - b;
      const perGt: number[][][] = Array.from({ length: numGts }, () =>
        Array.from({ length: priors.numPerLevel.length }, () => []),
      );
      for (let j = 0; j < numCand; j++) perGt[pg[j]!]![levelOf(pi[j]!)]!.push(j);
      const keep = new Uint8Array(numCand);
      for (let g = 0; g < numGts; g++) {
        const picked = perGt[g]!.flatMap((lv) => [...lv].sort(byScore).slice(0, topk));
        // A stable sort by score alone: ties stay in level order, as after torch.cat of the levels.
        picked.sort((a, b) => key(scores[a]!) - key(scores[b]!));
        const sorted = picked.map((j) => scores[j]!);
        const split = paaSplit(sorted, cfg);
        for (const p of split.positives) keep[picked[p]!] = 1;
        info?.push({
          candidates: picked.map((j) => pi[j]!),
          scores: sorted,
          positives: split.positives.map((p) => pi[picked[p]!]!),
          rule: split.rule,
        });
      }
      const dropped = pi.filter((_, j) => keep[j] === 0);
      // mmdet's 1-based gt_inds (i+1 positive, 0 background, -1 ignored); dropped candidates -> 0,
      // which assignmentFromGtInds turns into BACKGROUND.
      let gtInds = where(base.gtIndex.ge(0), base.gtIndex.add(1), where(base.gtIndex.eq(IGNORE), -1, 0));
      if (dropped.length > 0) {
        const dev = gtInds.device;
        const idx = tensor(dropped, { dtype: 'int64', device: dev });
        const mask = zeros([gtInds.size(0)], { dtype: 'bool', device: dev }).indexPut(
          [idx],
          tensor([true], { device: dev }),
        );
        gtInds = gtInds.maskedFill(mask, 0);
      }
      return assignmentFromGtInds(gtInds, gt.labels, iouMatrix, numClasses, { iouMatrix });
    }),
  );
}

/**
 * PAA as a detector's own assigner: the assignment comes from the detector's current predictions,
 * detached (paa_head.py loss: get_pos_loss then paa_reassign under no_grad). The detector hands
 * them in as `preds` (it sets `usesPredictions`); at initialisation they are near-uniform, so the
 * early assignment is mostly decided by the boxes' IoU, as in PAA.
 *
 *   buildDetector({ kind: 'gfl', assigner: 'paa', ... })
 */
export class PaaAssigner implements Assigner {
  readonly usesPredictions = true;
  constructor(readonly config: PaaConfig = {}) {}

  assign(priors: Priors, gt: GtTargets, numClasses: number, preds?: AssignerPreds): Assignment {
    if (preds?.clsScores === undefined || preds.bboxes === undefined) {
      throw new DetkdError(
        "PaaAssigner needs the detector's class logits and decoded boxes (preds.clsScores, preds.bboxes)",
      );
    }
    return paaAssign(priors, preds.clsScores, preds.bboxes, gt, numClasses, this.config);
  }
}
