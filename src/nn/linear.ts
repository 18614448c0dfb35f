// Linear with PyTorch's default initialisation (torch/nn/modules/linear.py): weight
// kaiming_uniform_(a=sqrt(5)), bias U(-1/sqrt(in), 1/sqrt(in)); same draws and order as PyTorch.
import * as F from '../core/functional.ts';
import type { Generator } from '../core/random.ts';
import { type Device, empty, type Tensor } from '../core/tensor.ts';
import { fanInAndOut, kaimingUniform_, uniform_ } from './init.ts';
import { Module } from './module.ts';

/** x [..., in] -> [..., out]; weight [out, in], bias [out]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    o: { bias?: boolean; device?: Device; generator?: Generator | null } = {},
  ) {
    super();
    const dev = o.device === undefined ? {} : { device: o.device };
    this.weight = this.param('weight', empty([outFeatures, inFeatures], dev));
    this.bias = o.bias === false ? null : this.param('bias', empty([outFeatures], dev));
    this.resetParameters(o.generator ?? null);
  }

  resetParameters(generator: Generator | null = null): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias !== null) {
      const { fanIn } = fanInAndOut(this.weight);
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      uniform_(this.bias, -bound, bound, generator);
    }
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}
