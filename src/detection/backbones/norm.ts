// Normalisation factory shared by the backbones and necks (mmcv's build_norm_layer, typed).
//
// Three kinds:
//   'bn'        BatchNorm2d: batch statistics in train mode (the from-scratch default: no
//               pretrained statistics to keep), optionally held in eval mode for good (`normEval`, mmdet's
//               norm_eval: statistics never update, the affine still trains).
//   'gn'        GroupNorm with gnGroups(channels) groups (see below).
//   'frozen-bn' torchvision's FrozenBatchNorm2d: statistics and affine are buffers.
import type { Device, Tensor } from '../../core/tensor.ts';
import { BatchNorm2d, FrozenBatchNorm2d, GroupNorm } from '../../nn/norm.ts';

export type NormKind = 'bn' | 'gn' | 'frozen-bn';

/** Every norm layer the factory builds. */
export type NormLayer2d = BatchNorm2d | GroupNorm | FrozenBatchNorm2d;

/**
 * GroupNorm group count for `channels`: the largest divisor of `channels` that is at most
 * `maxGroups` (32, as Wu & He 2018 and mmdet's GN configs) and leaves at least 2 channels per
 * group. So 256 -> 32, 64 -> 32 (the ResNet stem, as detectron2's GN ResNets), 32 -> 16,
 * 16 -> 8, 8 -> 4: narrow students (width 0.25) keep 2+ channels per group instead of
 * degenerating to instance norm. Odd widths (a prime channel count) fall back to 1 group.
 */
export function gnGroups(channels: number, maxGroups = 32): number {
  if (!Number.isInteger(channels) || channels < 1) {
    throw new RangeError(`gnGroups: channels must be a positive integer, got ${channels}`);
  }
  for (let g = Math.min(maxGroups, Math.floor(channels / 2)); g > 1; g--) {
    if (channels % g === 0) return g;
  }
  return 1;
}

/**
 * BatchNorm2d that always normalises with its running statistics and never updates them,
 * whatever train()/eval() says; unlike a frozen norm its affine keeps training (mmdet's
 * norm_eval=True: ResNet.train() puts every _BatchNorm back into eval).
 */
export class EvalModeBatchNorm2d extends BatchNorm2d {
  override forward(x: Tensor): Tensor {
    const t = this.training;
    this.training = false;
    try {
      return super.forward(x);
    } finally {
      this.training = t;
    }
  }
}

export interface NormOptions {
  /** BN only: statistics stay in eval mode (see EvalModeBatchNorm2d). */
  normEval?: boolean;
  /** GN only: group count (default gnGroups(channels)). */
  groups?: number;
  device?: Device;
}

/** A norm layer over `channels` channels: x [N, C, H, W] -> same. */
export function buildNorm(kind: NormKind, channels: number, o: NormOptions = {}): NormLayer2d {
  const dev = o.device === undefined ? {} : { device: o.device };
  switch (kind) {
    case 'bn':
      return o.normEval ? new EvalModeBatchNorm2d(channels, dev) : new BatchNorm2d(channels, dev);
    case 'gn':
      return new GroupNorm(o.groups ?? gnGroups(channels), channels, dev);
    case 'frozen-bn':
      return new FrozenBatchNorm2d(channels, 1e-5, dev);
  }
}

/** mmcv's build_norm_layer abbreviation, used as the norm's module name in ConvModule. */
export function normAbbr(kind: NormKind): 'bn' | 'gn' {
  return kind === 'gn' ? 'gn' : 'bn';
}
