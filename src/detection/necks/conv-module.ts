// mmcv's ConvModule (mmcv/cnn/bricks/conv_module.py): conv -> optional norm -> optional ReLU, with
// mmcv's child names (`conv`, then `bn` or `gn` after the norm kind) so mmdet checkpoints and
// mmdet-style tap names (`neck.fpn_convs.0.conv`) carry over. As bias='auto' in mmcv, the conv has
// a bias only when there is no norm.
import * as F from '../../core/functional.ts';
import type { Generator } from '../../core/random.ts';
import type { Device, Tensor } from '../../core/tensor.ts';
import { Conv2d } from '../../nn/conv.ts';
import { constant_, xavierUniform_ } from '../../nn/init.ts';
import { Module } from '../../nn/module.ts';
import { buildNorm, type NormKind, type NormLayer2d, normAbbr } from '../backbones/norm.ts';

export interface ConvModuleOptions {
  stride?: number;
  padding?: number;
  /** Norm after the conv (default none). */
  norm?: NormKind | null;
  /** GN group count (default gnGroups(outChannels)). */
  normGroups?: number;
  /** BN statistics held in eval mode. */
  normEval?: boolean;
  /** ReLU after the norm (default false here: FPN convs have none; heads pass true). */
  relu?: boolean;
  device?: Device;
  generator?: Generator | null;
}

/** x [N, Cin, H, W] -> [N, Cout, H', W']. */
export class ConvModule extends Module {
  readonly conv: Conv2d;
  readonly normLayer: NormLayer2d | null;
  readonly relu: boolean;

  constructor(inChannels: number, outChannels: number, kernelSize: number, o: ConvModuleOptions = {}) {
    super();
    const norm = o.norm ?? null;
    const dev = o.device === undefined ? {} : { device: o.device };
    this.conv = this.register(
      'conv',
      new Conv2d(inChannels, outChannels, kernelSize, {
        stride: o.stride ?? 1,
        padding: o.padding ?? 0,
        bias: norm === null,
        generator: o.generator ?? null,
        ...dev,
      }),
    );
    this.normLayer =
      norm === null
        ? null
        : this.register(
            normAbbr(norm),
            buildNorm(norm, outChannels, {
              normEval: o.normEval ?? false,
              ...(o.normGroups === undefined ? {} : { groups: o.normGroups }),
              ...dev,
            }),
          );
    this.relu = o.relu ?? false;
  }

  /** mmcv's xavier_init(distribution='uniform'): weight U(+-sqrt(6/(fan_in+fan_out))), bias 0. */
  xavierInit(generator: Generator | null = null): void {
    xavierUniform_(this.conv.weight, 1.0, generator);
    if (this.conv.bias !== null) constant_(this.conv.bias, 0);
  }

  forward(x: Tensor): Tensor {
    let y = this.conv.forward(x);
    if (this.normLayer !== null) y = this.normLayer.forward(y);
    return this.relu ? F.relu(y) : y;
  }
}
