// Conv2d with PyTorch's default initialisation (torch/nn/modules/conv.py, reset_parameters):
// weight kaiming_uniform_(a=sqrt(5)), then bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Same draws in
// the same order, so after manualSeed(s) the weights equal torch.nn.Conv2d's under seed s.
import * as F from '../core/functional.ts';
import type { Generator } from '../core/random.ts';
import { type Device, empty, type Tensor } from '../core/tensor.ts';
import { fanInAndOut, kaimingUniform_, uniform_ } from './init.ts';
import { Module } from './module.ts';

export type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  /** Learnable bias (default true). */
  bias?: boolean;
  device?: Device;
  /** Generator for the default initialisation (global generator when absent). */
  generator?: Generator | null;
}

function pair(p: Pair): [number, number] {
  return typeof p === 'number' ? [p, p] : [p[0], p[1]];
}

/** x [N, Cin, H, W] -> [N, Cout, H', W']; weight [Cout, Cin/groups, kh, kw], bias [Cout]. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    o: Conv2dOptions = {},
  ) {
    super();
    const [kh, kw] = pair(kernelSize);
    this.stride = pair(o.stride ?? 1);
    this.padding = pair(o.padding ?? 0);
    this.dilation = pair(o.dilation ?? 1);
    this.groups = o.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new TypeError(
        `Conv2d: channels ${inChannels}->${outChannels} not divisible by groups ${this.groups}`,
      );
    }
    const dev = o.device === undefined ? {} : { device: o.device };
    this.weight = this.param('weight', empty([outChannels, inChannels / this.groups, kh, kw], dev));
    this.bias = o.bias === false ? null : this.param('bias', empty([outChannels], dev));
    this.resetParameters(o.generator ?? null);
  }

  /** PyTorch's default initialisation (see the file comment). */
  resetParameters(generator: Generator | null = null): void {
    kaimingUniform_(this.weight, { a: Math.sqrt(5), generator });
    if (this.bias !== null) {
      const { fanIn } = fanInAndOut(this.weight);
      if (fanIn !== 0) {
        const bound = 1 / Math.sqrt(fanIn);
        uniform_(this.bias, -bound, bound, generator);
      }
    }
  }

  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}
