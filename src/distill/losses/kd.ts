// Classic logit KD as mmdetection's KnowledgeDistillationKLDivLoss (mmdet/models/losses/kd_loss.py;
// docs/methods/kd.md): per row, τ²·mean_k p_T,k (log p_T,k − log p_S,k) with p = softmax(z/τ) over
// dim 1 and the teacher detached. Dim 1 is whatever the caller puts there: the 17 bins of one box
// edge in LD, the class logits in LD's "Main KD". Note the MEAN over k (not the sum, not
// 'batchmean'): weights written for this loss assume it.
import { klDiv, logSoftmax, softmax } from '../../core/functional.ts';
import { type Reduction, type Tensor, tidy } from '../../core/tensor.ts';
import { divByNumber, weightReduceLoss } from '../../detection/losses/reduce.ts';

/**
 * Row-wise softened KL: pred [N, K] student logits, soft [N, K] teacher logits -> [N].
 * `soft` is detached here, so a teacher that still records gradients gets none.
 */
export function klDivRows(pred: Tensor, soft: Tensor, tau: number): Tensor {
  if (pred.ndim !== 2 || soft.ndim !== 2 || pred.size(0) !== soft.size(0) || pred.size(1) !== soft.size(1))
    throw new TypeError(`klDivRows: pred ${fmt(pred)} and soft ${fmt(soft)} must both be [N, K]`);
  return tidy(() => {
    // Python's `x / T` divides by a wrapped number (divByNumber keeps the backward identical).
    const target = softmax(divByNumber(soft.detach(), tau), 1); // [N, K]
    const logP = logSoftmax(divByNumber(pred, tau), 1); // [N, K]
    // F.kl_div(reduction 'none') = target·(log target − input), 0 where target is 0.
    return klDiv(logP, target, { reduction: 'none' })
      .mean(1)
      .mul(tau * tau); // [N]
  });
}

export interface KdOptions {
  /** Temperature τ (mmdet's T; 10 for box bins in LD, 2 for LD's class KD). */
  tau: number;
  /** Per-row weight [N]. */
  weight?: Tensor | null;
  /** Divisor for reduction 'mean' (mmdet adds float32 eps). */
  avgFactor?: number | Tensor | null;
  reduction?: Reduction;
}

/**
 * KnowledgeDistillationKLDivLoss without its loss_weight (the term carries the weight):
 * pred/soft [N, K] -> [] (or [N] for reduction 'none'), weightReduceLoss semantics.
 *
 *   kdLoss(studentBins, teacherBins, { tau: 10, weight: w, avgFactor: 4 })
 */
export function kdLoss(pred: Tensor, soft: Tensor, o: KdOptions): Tensor {
  return tidy(() =>
    weightReduceLoss(klDivRows(pred, soft, o.tau), {
      weight: o.weight ?? null,
      avgFactor: o.avgFactor ?? null,
      reduction: o.reduction ?? 'mean',
    }),
  );
}

function fmt(t: Tensor): string {
  return `[${t.shape.join(', ')}]`;
}
