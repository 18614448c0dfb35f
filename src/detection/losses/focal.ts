// Sigmoid focal loss (Lin et al., RetinaNet, ICCV'17 eq. 5), as mmdetection's
// py_sigmoid_focal_loss (mmdet/models/losses/focal_loss.py): class-index targets are one-hot
// encoded with `numClasses = pred.size(1)` meaning background (the CPU path of FocalLoss.forward).
// torchvision.ops.sigmoid_focal_loss computes the same elementwise term.
import { binaryCrossEntropyWithLogits } from '../../core/functional.ts';
import { type Tensor, tidy, zeros } from '../../core/tensor.ts';
import { type LossOptions, weightReduceLoss } from './reduce.ts';

export interface FocalLossOptions extends LossOptions {
  /** Default 0.25. */
  alpha?: number;
  /** Default 2. */
  gamma?: number;
}

/**
 * pred [N, C] logits; target [N] int64 class indices (C = background) or [N, C] float in [0, 1];
 * weight [N] (per prior) or [N, C]. Elementwise loss [N, C].
 *
 *   sigmoidFocalLoss(cls, labels, { weight: labelWeights, avgFactor: numPos })
 */
export function sigmoidFocalLoss(pred: Tensor, target: Tensor, o: FocalLossOptions = {}): Tensor {
  const alpha = o.alpha ?? 0.25;
  const gamma = o.gamma ?? 2;
  return tidy(() => {
    const numClasses = pred.size(1);
    // Class-index targets: a float one-hot built directly (scatter of 1s into zeros; labels equal
    // to numClasses, i.e. background, land in a scratch column that is dropped), instead of an
    // int64 one-hot over C+1 classes then a slice and a cast. Same 0/1 values.
    const t =
      target.ndim === 1
        ? zeros([pred.size(0), numClasses + 1], { dtype: pred.dtype, device: pred.device })
            .scatter(1, target.unsqueeze(1), 1)
            .slice(1, 0, numClasses)
        : target.to(pred.dtype); // [N, C]
    // The focal weight in its own scope: its temporaries (p, 1-t, p_t) are freed as soon as it is
    // made (autograd keeps what backward needs), as PyTorch frees them when they go out of scope.
    // Operation order as mmdet's py_sigmoid_focal_loss, so results stay bit-identical.
    const focalWeight = tidy(() => {
      const p = pred.sigmoid();
      const nt = t.rsub(1); // 1 - t, used twice
      const pt = p.rsub(1).mul(t).add(p.mul(nt));
      return t
        .mul(alpha)
        .add(nt.mul(1 - alpha))
        .mul(pt.pow(gamma));
    });
    const loss = binaryCrossEntropyWithLogits(pred, t, { reduction: 'none' }).mul(focalWeight);
    let weight = o.weight ?? null;
    if (weight !== null && !sameShape(weight.shape, loss.shape)) {
      // mmdet: a weight of shape (N,) is per prior; otherwise it is (N*C,) flattened.
      weight = weight.size(0) === loss.size(0) ? weight.view(-1, 1) : weight.view(loss.size(0), -1);
    }
    return weightReduceLoss(loss, { ...o, weight });
  });
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
