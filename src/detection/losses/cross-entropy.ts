// Cross-entropy losses as mmdetection's cross_entropy / binary_cross_entropy
// (mmdet/models/losses/cross_entropy_loss.py, v2.28: ignore_index, avg_non_ignore, one-hot
// expansion of class-index labels for the sigmoid form). FCOS/ATSS centre-ness is
// binaryCrossEntropyLoss on [P] logits with float targets.
import { binaryCrossEntropyWithLogits, crossEntropy, oneHot } from '../../core/functional.ts';
import { type Tensor, tidy, where } from '../../core/tensor.ts';
import { type LossOptions, weightReduceLoss } from './reduce.ts';

export interface CrossEntropyOptions extends LossOptions {
  /** [C] per-class weight (softmax: F.cross_entropy's weight; sigmoid: pos_weight). */
  classWeight?: Tensor | null;
  /** Label value that contributes nothing. Default -100. */
  ignoreIndex?: number;
  /** Without an avgFactor, 'mean' divides by the number of non-ignored labels. Default false. */
  avgNonIgnore?: boolean;
}

/** Softmax CE. pred [N, C] logits; target [N] int64; weight [N]; elementwise loss [N]. */
export function crossEntropyLoss(pred: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = o.ignoreIndex ?? -100;
  return tidy(() => {
    const loss = crossEntropy(pred, target, {
      weight: o.classWeight ?? null,
      reduction: 'none',
      ignoreIndex,
    });
    let avgFactor = o.avgFactor ?? null;
    if (avgFactor === null && o.avgNonIgnore && (o.reduction ?? 'mean') === 'mean') {
      avgFactor = target.numel - target.eq(ignoreIndex).sum().item();
    }
    return weightReduceLoss(loss, { ...o, weight: o.weight ? o.weight.float() : null, avgFactor });
  });
}

/**
 * Sigmoid BCE with logits (multi-label). pred [N, C] logits with target [N] int64 class indices
 * (one-hot expanded; C = background gives all zeros; negative or ignoreIndex labels get weight
 * 0), or target shaped like pred (float, e.g. [P] centre-ness targets). weight [N] for class
 * indices, else like pred. Elementwise loss like pred.
 */
export function binaryCrossEntropyLoss(pred: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = o.ignoreIndex ?? -100;
  return tidy(() => {
    let label: Tensor;
    let weight: Tensor;
    let validMask: Tensor;
    if (pred.ndim !== target.ndim) {
      const c = pred.size(-1);
      const valid = target.ge(0).logicalAnd(target.ne(ignoreIndex)); // [N]
      // Labels outside [0, C) (background, ignored) give an all-zero row.
      const inRange = valid.logicalAnd(target.lt(c));
      label = oneHot(where(inRange, target, 0), c + 1)
        .slice(1, 0, c)
        .mul(inRange.unsqueeze(1)); // [N, C]
      validMask = valid.view(-1, 1).expand(target.size(0), c).float();
      weight = o.weight ? o.weight.view(-1, 1).repeat(1, c).mul(validMask) : validMask;
    } else {
      validMask = target.ge(0).logicalAnd(target.ne(ignoreIndex)).float();
      label = target;
      weight = o.weight ? o.weight.mul(validMask) : validMask;
    }
    let avgFactor = o.avgFactor ?? null;
    if (avgFactor === null && o.avgNonIgnore && (o.reduction ?? 'mean') === 'mean') {
      avgFactor = validMask.sum().item();
    }
    const loss = binaryCrossEntropyWithLogits(pred, label.float(), {
      posWeight: o.classWeight ?? null,
      reduction: 'none',
    });
    return weightReduceLoss(loss, { ...o, weight: weight.float(), avgFactor });
  });
}
