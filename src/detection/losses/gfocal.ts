// Generalized Focal Loss (Li et al., NeurIPS'20): Quality Focal Loss and Distribution Focal Loss,
// as mmdetection's quality_focal_loss / distribution_focal_loss (mmdet/models/losses/gfocal_loss.py).
import { binaryCrossEntropyWithLogits, crossEntropy } from '../../core/functional.ts';
import { type Tensor, tidy, zeros } from '../../core/tensor.ts';
import { type LossOptions, weightReduceLoss } from './reduce.ts';

/** QFL target: the class of each prior (C = background) and its quality (IoU) score. */
export interface QualityTarget {
  /** [N] int64 class index, numClasses (= pred.size(1)) for background. */
  labels: Tensor;
  /** [N] float quality in [0, 1] (IoU of the decoded box with its GT; 0 for negatives). */
  scores: Tensor;
}

/**
 * QFL (GFL eq. 6): BCE(σ(x), y)·|y − σ(x)|^β on the target class, and BCE(σ(x), 0)·σ(x)^β on
 * every other class. pred [N, C] logits; weight [N]; elementwise loss [N] (summed over classes).
 */
export function qualityFocalLoss(
  pred: Tensor,
  target: QualityTarget,
  o: LossOptions & { beta?: number } = {},
): Tensor {
  const beta = o.beta ?? 2;
  return tidy(() => {
    const predSigmoid = pred.sigmoid();
    // Negatives are supervised by a zero quality score.
    const zeroLabel = zeros(pred.shape, { dtype: pred.dtype, device: pred.device });
    const loss = binaryCrossEntropyWithLogits(pred, zeroLabel, { reduction: 'none' }).mul(
      predSigmoid.pow(beta),
    ); // [N, C]
    const bg = pred.size(1);
    const { labels, scores } = target;
    const pos = labels.ge(0).logicalAnd(labels.lt(bg)).nonzero().squeeze(1); // [P]
    const posLabel = labels.at(pos).long(); // [P]
    const posScore = scores.at(pos);
    const scale = posScore.sub(predSigmoid.index([pos, posLabel]));
    loss.indexPut_(
      [pos, posLabel],
      binaryCrossEntropyWithLogits(pred.index([pos, posLabel]), posScore, { reduction: 'none' }).mul(
        scale.abs().pow(beta),
      ),
    );
    return weightReduceLoss(loss.sum(1), o);
  });
}

/**
 * DFL (GFL eq. 7): cross-entropy towards the two integers around the continuous target y,
 * weighted by the distance to the other one. pred [N, n+1] logits; target [N] float in [0, n);
 * weight [N]; elementwise loss [N].
 */
export function distributionFocalLoss(pred: Tensor, target: Tensor, o: LossOptions = {}): Tensor {
  return tidy(() => {
    const disLeft = target.long(); // [N] floor (targets are non-negative)
    const disRight = disLeft.add(1);
    const weightLeft = disRight.float().sub(target);
    const weightRight = target.sub(disLeft.float());
    const loss = crossEntropy(pred, disLeft, { reduction: 'none' })
      .mul(weightLeft)
      .add(crossEntropy(pred, disRight, { reduction: 'none' }).mul(weightRight));
    return weightReduceLoss(loss, o);
  });
}
