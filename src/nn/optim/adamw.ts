// AdamW (Loshchilov & Hutter 2019), PyTorch 1.13's update (torch/optim/adamw.py,
// _single_tensor_adamw), op for op:
//   step += 1;  p *= 1 - lr * wd
//   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
//   (amsgrad: vmax = max(vmax, v), used instead of v below)
//   denom = sqrt(v) / sqrt(1 - beta2^step) + eps
//   p += -(lr / (1 - beta1^step)) * m / denom
// beta^step is computed with the C library's pow like Python's `beta ** step` (see libm.ts).
import * as ops from '../../core/ops.generated.ts';
import { maximum, noGrad, type Tensor, tidy, zerosLike } from '../../core/tensor.ts';
import { libmPow } from '../libm.ts';
import { type BaseHyper, type GroupSpec, Optimizer, withGrads } from './optimizer.ts';

export interface AdamWHyper extends BaseHyper {
  betas: readonly [number, number];
  eps: number;
  amsgrad: boolean;
}

export type AdamWOptions = Pick<AdamWHyper, 'lr'> & Partial<AdamWHyper>;

export class AdamW extends Optimizer<AdamWHyper> {
  readonly kind = 'adamw';

  /** Defaults as torch.optim.AdamW: betas (0.9, 0.999), eps 1e-8, weightDecay 1e-2. */
  constructor(params: readonly Tensor[] | readonly GroupSpec<AdamWHyper>[], o: AdamWOptions) {
    super(params, { betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, ...o });
  }

  step(): void {
    noGrad(() =>
      tidy(() => {
        for (const g of this.paramGroups) {
          const { ps, grads } = withGrads(g.params);
          if (ps.length === 0) continue;
          const [beta1, beta2] = g.betas;
          const { lr, weightDecay, eps, amsgrad } = g;
          const expAvgs: Tensor[] = [];
          const expAvgSqs: Tensor[] = [];
          for (const p of ps) {
            expAvgs.push(this.getState(p, 'exp_avg') ?? this.setState(p, 'exp_avg', zerosLike(p)));
            expAvgSqs.push(this.getState(p, 'exp_avg_sq') ?? this.setState(p, 'exp_avg_sq', zerosLike(p)));
            if (amsgrad && this.getState(p, 'max_exp_avg_sq') === undefined) {
              this.setState(p, 'max_exp_avg_sq', zerosLike(p));
            }
            this.steps.set(p, (this.steps.get(p) ?? 0) + 1);
          }
          // p * 1 is p exactly, so skipping the multiply when weightDecay is 0 changes nothing.
          const decay = 1 - lr * weightDecay;
          if (decay !== 1) ops._foreach_mul__Scalar(ps, decay);
          ops._foreach_mul__Scalar(expAvgs, beta1);
          ops._foreach_add__List(expAvgs, grads, 1 - beta1);
          ops._foreach_mul__Scalar(expAvgSqs, beta2);
          ops._foreach_addcmul__Scalar(expAvgSqs, grads, grads, 1 - beta2);
          ps.forEach((p, i) => {
            const step = this.steps.get(p) ?? 1;
            const biasCorrection1 = 1 - libmPow(beta1, step);
            const biasCorrection2 = 1 - libmPow(beta2, step);
            const stepSize = lr / biasCorrection1;
            const bc2Sqrt = Math.sqrt(biasCorrection2);
            let v = expAvgSqs[i] as Tensor;
            if (amsgrad) {
              const vmax = this.getState(p, 'max_exp_avg_sq') as Tensor;
              vmax.copy_(maximum(vmax, v));
              v = vmax;
            }
            const denom = v.sqrt().div(bc2Sqrt).add_(eps);
            p.addcdiv_(expAvgs[i] as Tensor, denom, -stepSize);
          });
        }
      }),
    );
  }
}
