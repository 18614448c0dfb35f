// Global-norm gradient clipping, torch.nn.utils.clip_grad_norm_ (1.13) op for op:
//   total = norm([norm(g_1), ..., norm(g_n)]);  coef = clamp(max_norm / (total + 1e-6), max=1)
//   g_i *= coef
// `max_norm / t` is Python's Tensor.__rtruediv__, i.e. reciprocal(t) * max_norm; we do the same.
import * as ops from '../../core/ops.generated.ts';
import { noGrad, scalar, stack, type Tensor, tidy } from '../../core/tensor.ts';

function allDims(t: Tensor): number[] {
  return Array.from({ length: t.ndim }, (_, i) => i);
}

/**
 * Scales the gradients of `params` in place so their global norm is at most maxNorm; returns the
 * total norm before clipping (0-dim float tensor, owned by the caller's scope). Parameters
 * without a gradient are skipped. normType may be Infinity (max abs).
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number, normType = 2): Tensor {
  return noGrad(() =>
    tidy(() => {
      const grads: Tensor[] = [];
      for (const p of params) {
        const g = p.grad;
        if (g !== null) grads.push(g);
      }
      if (grads.length === 0) return scalar(0);
      let total: Tensor;
      if (normType === Number.POSITIVE_INFINITY) {
        const norms = grads.map((g) => g.abs().max());
        total = norms.length === 1 ? (norms[0] as Tensor) : stack(norms).max();
      } else {
        const norms = grads.map((g) => ops.norm_ScalarOpt_dim(g, normType, allDims(g), false));
        const s = stack(norms);
        total = ops.norm_ScalarOpt_dim(s, normType, allDims(s), false);
      }
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1.0);
      for (const g of grads) g.mul_(coef);
      return total;
    }),
  );
}
