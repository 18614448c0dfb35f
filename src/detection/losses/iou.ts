// IoU-family box losses as mmdetection's iou_loss / giou_loss (mmdet/models/losses/iou_loss.py)
// together with their IoULoss / GIoULoss wrappers' two rules: a weight of shape [N, 4] is averaged
// to [N], and when no weight is positive the loss is (pred·weight).sum() = 0 (still in the graph),
// whatever the avgFactor; reduction 'none' skips that shortcut, as there.
import { bboxOverlaps } from '../../core/box-ops.ts';
import { type Tensor, tidy } from '../../core/tensor.ts';
import { type LossOptions, weightReduceLoss } from './reduce.ts';

export type IouLossMode = 'linear' | 'square' | 'log';

function prepareWeight(pred: Tensor, o: LossOptions): { zero: Tensor | null; weight: Tensor | null } {
  const w = o.weight ?? null;
  if (w === null) return { zero: null, weight: null };
  if ((o.reduction ?? 'mean') !== 'none' && !w.gt(0).any().item()) {
    const wb = w.ndim === 1 ? w.unsqueeze(1) : w; // [N,1] or [N,4] against pred [N,4]
    return { zero: pred.mul(wb).sum(), weight: null };
  }
  return { zero: null, weight: w.ndim > 1 ? w.mean(-1) : w };
}

/**
 * IoU loss. pred, target [N, 4] xyxy; weight [N] or [N, 4]; elementwise loss [N].
 * mode 'log' (−ln IoU, UnitBox; mmdet's default and FCOS's), 'linear' (1 − IoU), 'square'.
 * IoU is clamped to eps (1e-6) first.
 */
export function iouLoss(
  pred: Tensor,
  target: Tensor,
  o: LossOptions & { mode?: IouLossMode; eps?: number } = {},
): Tensor {
  const eps = o.eps ?? 1e-6;
  const mode = o.mode ?? 'log';
  return tidy(() => {
    const { zero, weight } = prepareWeight(pred, o);
    if (zero) return zero;
    const ious = bboxOverlaps(pred, target, { aligned: true }).clampMin(eps);
    const loss =
      mode === 'linear' ? ious.rsub(1) : mode === 'square' ? ious.pow(2).rsub(1) : ious.log().neg();
    return weightReduceLoss(loss, { ...o, weight });
  });
}

/**
 * GIoU loss (Rezatofighi et al., CVPR'19): 1 − GIoU, with union and enclosing area clamped to
 * eps (1e-6, GIoULoss's default). pred, target [N, 4] xyxy; weight [N] or [N, 4]; loss [N].
 */
export function giouLoss(pred: Tensor, target: Tensor, o: LossOptions & { eps?: number } = {}): Tensor {
  const eps = o.eps ?? 1e-6;
  return tidy(() => {
    const { zero, weight } = prepareWeight(pred, o);
    if (zero) return zero;
    const loss = bboxOverlaps(pred, target, { mode: 'giou', aligned: true, eps }).rsub(1);
    return weightReduceLoss(loss, { ...o, weight });
  });
}
