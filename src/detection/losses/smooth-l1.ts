// Smooth-L1 and L1 on box deltas, as mmdetection's smooth_l1_loss / l1_loss
// (mmdet/models/losses/smooth_l1_loss.py). An empty target gives pred.sum()·0 (in the graph).
import { type Tensor, tidy, where } from '../../core/tensor.ts';
import { divByNumber, type LossOptions, weightReduceLoss } from './reduce.ts';

/**
 * pred, target [N, 4] (any equal shapes); weight like pred; elementwise loss like pred.
 * 0.5·d²/β where d = |pred − target| < β, else d − 0.5·β.
 */
export function smoothL1Loss(pred: Tensor, target: Tensor, o: LossOptions & { beta?: number } = {}): Tensor {
  const beta = o.beta ?? 1;
  if (!(beta > 0)) throw new RangeError(`smoothL1Loss: beta must be > 0, got ${beta}`);
  return tidy(() => {
    if (target.numel === 0) return pred.sum().mul(0);
    const diff = pred.sub(target).abs();
    const loss = where(diff.lt(beta), divByNumber(diff.mul(0.5).mul(diff), beta), diff.sub(0.5 * beta));
    return weightReduceLoss(loss, o);
  });
}

/** pred, target [N, 4]; weight like pred; elementwise |pred − target|. */
export function l1Loss(pred: Tensor, target: Tensor, o: LossOptions = {}): Tensor {
  return tidy(() => {
    if (target.numel === 0) return pred.sum().mul(0);
    return weightReduceLoss(pred.sub(target).abs(), o);
  });
}
