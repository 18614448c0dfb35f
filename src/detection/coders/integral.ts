// GFL's discrete box distribution to distances (Li et al. 2020, "Generalized Focal Loss",
// section 3.3; mmdet's Integral in mmdet/models/dense_heads/gfl_head.py): per side a softmax over
// reg_max + 1 bins, then the expectation sum_i i * p_i with project = linspace(0, reg_max,
// reg_max + 1). Same ops as mmdet (softmax, then F.linear with the 1-D projection).
import * as F from '../../core/functional.ts';
import { linspace, type Tensor, tidy } from '../../core/tensor.ts';

/**
 * x [..., 4 * (regMax + 1)] bin logits (left, top, right, bottom blocks) -> [M, 4] expected
 * distances in bin units, M = numel / (4 * (regMax + 1)) (mmdet reshapes to (-1, 4) likewise).
 * Differentiable.
 */
export function integral(x: Tensor, regMax = 16): Tensor {
  return tidy(() => {
    const bins = regMax + 1;
    if (x.size(-1) % (4 * bins) !== 0) {
      throw new TypeError(`integral: last dim ${x.size(-1)} is not a multiple of 4 * ${bins}`);
    }
    const p = F.softmax(x.reshape(-1, bins), 1); // [4M, bins]
    const project = linspace(0, regMax, bins, { dtype: x.dtype, device: x.device }); // [bins]
    return F.linear(p, project).reshape(-1, 4);
  });
}
