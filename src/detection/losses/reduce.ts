// mmdetection's weight_reduce_loss (mmdet/models/losses/utils.py, v2.28 / v3.x): the elementwise
// loss is multiplied by `weight`, then reduced. With an `avgFactor` and reduction 'mean' the sum is
// divided by (avgFactor + float32 eps), the ZeroDivisionError guard mmdet added in v2.19; 'sum'
// with an avgFactor is an error, as there. As docs/architecture.md has it, the weight of a term lives in
// the term (its `loss_weight` multiplier is not here).
import { type Reduction, scalar, type Tensor, tidy } from '../../core/tensor.ts';

/** torch.finfo(torch.float32).eps */
export const FLOAT32_EPS = 2 ** -23;

/** The options every detection loss takes. */
export interface LossOptions {
  /** Elementwise weight, broadcastable to the elementwise loss (each loss says its shape). */
  weight?: Tensor | null;
  /** Divisor for reduction 'mean' (a number, or a 0-d tensor as mmdet's reduce_mean gives). */
  avgFactor?: number | Tensor | null;
  /** 'mean' (default), 'sum' or 'none' (the weighted elementwise loss). */
  reduction?: Reduction;
}

/** loss [...] (elementwise), weight broadcastable -> [] or, for 'none', the weighted loss. */
export function weightReduceLoss(loss: Tensor, o: LossOptions = {}): Tensor {
  return tidy(() => reduceWeighted(loss, o));
}

function reduceWeighted(loss: Tensor, o: LossOptions): Tensor {
  const reduction = o.reduction ?? 'mean';
  const weighted = o.weight ? loss.mul(o.weight) : loss;
  const avg = o.avgFactor ?? null;
  if (avg === null) {
    if (reduction === 'none') return weighted;
    if (reduction === 'mean') return weighted.mean();
    if (reduction === 'sum') return weighted.sum();
    throw new TypeError(`reduction must be 'none', 'mean' or 'sum', got '${String(reduction)}'`);
  }
  if (reduction === 'mean') {
    // Python: loss.sum() / (avg_factor + eps); a float avg_factor adds in double first.
    const s = weighted.sum();
    return typeof avg === 'number' ? divByNumber(s, avg + FLOAT32_EPS) : s.div(avg.add(FLOAT32_EPS));
  }
  if (reduction === 'none') return weighted;
  throw new TypeError('avgFactor can not be used with reduction "sum"');
}

/**
 * t / v as Python's `tensor / float` computes it, gradient included. Python passes the float as a
 * wrapped number: forward and backward both divide in t's dtype. aten::div.Scalar's backward
 * instead lifts v to a float64 tensor, so 1/v is rounded from double (1 ULP off for v = 7 + eps).
 * A 0-d CPU tensor of t's dtype reproduces Python exactly (and, like a wrapped number, counts as a
 * CPU scalar for CUDA kernels).
 */
export function divByNumber(t: Tensor, v: number): Tensor {
  return t.div(scalar(v, { dtype: t.dtype }));
}
