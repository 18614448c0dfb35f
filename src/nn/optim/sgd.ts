// SGD with momentum, dampening, Nesterov and L2 weight decay: PyTorch 1.13's update
// (torch/optim/sgd.py, _single_tensor_sgd), op for op, so trajectories match it bit for bit:
//   d_p = g + wd * p
//   buf = d_p (first step) | momentum * buf + (1 - dampening) * d_p
//   d_p = nesterov ? d_p + momentum * buf : buf
//   p  -= lr * d_p
// The elementwise updates go through _foreach_* ops: on CPU they run the same per-tensor kernels
// (bit-identical), on CUDA they batch the launches.
import * as ops from '../../core/ops.generated.ts';
import { noGrad, type Tensor, tidy } from '../../core/tensor.ts';
import { type BaseHyper, type GroupSpec, Optimizer, withGrads } from './optimizer.ts';

export interface SgdHyper extends BaseHyper {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

export type SgdOptions = Pick<SgdHyper, 'lr'> & Partial<SgdHyper>;

export class SGD extends Optimizer<SgdHyper> {
  readonly kind = 'sgd';

  constructor(params: readonly Tensor[] | readonly GroupSpec<SgdHyper>[], o: SgdOptions) {
    super(params, { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...o });
    for (const g of this.paramGroups) {
      if (g.lr < 0 || g.momentum < 0 || g.weightDecay < 0) {
        throw new RangeError(
          `SGD: lr, momentum and weightDecay must be >= 0 (got ${g.lr}, ${g.momentum}, ${g.weightDecay})`,
        );
      }
      if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
        throw new RangeError('SGD: Nesterov momentum requires a momentum and zero dampening');
      }
    }
  }

  step(): void {
    noGrad(() =>
      tidy(() => {
        for (const g of this.paramGroups) {
          const { ps, grads } = withGrads(g.params);
          if (ps.length === 0) continue;
          let dps =
            g.weightDecay !== 0 ? grads.map((gr, i) => gr.add(ps[i] as Tensor, g.weightDecay)) : grads;
          if (g.momentum !== 0) {
            const existing = ps.map((p) => this.getState(p, 'momentum_buffer'));
            const bufs: Tensor[] = [];
            if (existing.every((b) => b !== undefined)) {
              bufs.push(...(existing as Tensor[]));
              ops._foreach_mul__Scalar(bufs, g.momentum);
              ops._foreach_add__List(bufs, dps, 1 - g.dampening);
            } else {
              ps.forEach((p, i) => {
                const dp = dps[i] as Tensor;
                const b = existing[i];
                if (b === undefined) {
                  bufs.push(this.setState(p, 'momentum_buffer', dp.clone()));
                } else {
                  b.mul_(g.momentum).add_(dp, 1 - g.dampening);
                  bufs.push(b);
                }
              });
            }
            dps = g.nesterov ? dps.map((dp, i) => dp.add(bufs[i] as Tensor, g.momentum)) : bufs;
          }
          ops._foreach_add__List(ps, dps, -g.lr);
        }
      }),
    );
  }
}
