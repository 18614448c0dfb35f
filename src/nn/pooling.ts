import * as F from '../core/functional.ts';
import type { Tensor } from '../core/tensor.ts';
import type { Pair } from './conv.ts';
import { Module } from './module.ts';

/** x [N, C, H, W] -> [N, C, H', W']; stride defaults to the kernel size, as in PyTorch. */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: Pair,
    readonly o: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.o);
  }
}
