// Normalisation layers. BatchNorm2d follows torch/nn/modules/batchnorm.py (momentum, affine,
// track_running_stats, num_batches_tracked); FrozenBatchNorm2d follows torchvision.ops.misc.
//
// Freezing (mmdetection's norm_eval + frozen stages): a norm layer with `frozen = true` has its
// affine parameters' requiresGrad off and, for BatchNorm2d, normalises with the running
// statistics and never updates them, whatever train()/eval() says. `freezeNorms(module)` freezes
// every norm layer of a tree.
import * as F from '../core/functional.ts';
import { type Device, noGrad, ones, type Tensor, zeros } from '../core/tensor.ts';
import { Module } from './module.ts';

function dev(device: Device | undefined): { device?: Device } {
  return device === undefined ? {} : { device };
}

/** A norm layer that can be frozen. */
export abstract class NormLayer extends Module {
  private _frozen = false;
  abstract readonly weight: Tensor | null;
  abstract readonly bias: Tensor | null;
  abstract forward(x: Tensor): Tensor;

  get frozen(): boolean {
    return this._frozen;
  }
  set frozen(flag: boolean) {
    this._frozen = flag;
    this.weight?.requiresGrad_(!flag);
    this.bias?.requiresGrad_(!flag);
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** Running-average factor; null gives the cumulative average (1 / num_batches_tracked). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  device?: Device;
}

/**
 * x [N, C, H, W] -> same. Training: normalises with batch statistics and updates running_mean /
 * running_var (unbiased) and num_batches_tracked (int64). Eval or frozen: uses running statistics.
 */
export class BatchNorm2d extends NormLayer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  readonly numBatchesTracked: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;

  constructor(
    readonly numFeatures: number,
    o: BatchNormOptions = {},
  ) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum === undefined ? 0.1 : o.momentum;
    const d = dev(o.device);
    const affine = o.affine ?? true;
    this.weight = affine ? this.param('weight', ones([numFeatures], d)) : null;
    this.bias = affine ? this.param('bias', zeros([numFeatures], d)) : null;
    const track = o.trackRunningStats ?? true;
    this.runningMean = track ? this.buffer('running_mean', zeros([numFeatures], d)) : null;
    this.runningVar = track ? this.buffer('running_var', ones([numFeatures], d)) : null;
    this.numBatchesTracked = track
      ? this.buffer('num_batches_tracked', zeros([], { ...d, dtype: 'int64' }))
      : null;
  }

  forward(x: Tensor): Tensor {
    if (x.ndim !== 4)
      throw new TypeError(`BatchNorm2d: expected 4D input [N, C, H, W], got [${x.shape.join(', ')}]`);
    const training = this.training && !this.frozen;
    let factor = this.momentum ?? 0.0;
    if (training && this.numBatchesTracked !== null) {
      const nbt = this.numBatchesTracked;
      noGrad(() => nbt.add_(1));
      factor = this.momentum === null ? 1.0 / nbt.item() : this.momentum;
    }
    const bnTraining = training || (this.runningMean === null && this.runningVar === null);
    const useRunning = !training || this.numBatchesTracked !== null;
    return F.batchNorm(
      x,
      useRunning ? this.runningMean : null,
      useRunning ? this.runningVar : null,
      this.weight,
      this.bias,
      bnTraining,
      factor,
      this.eps,
    );
  }
}

/**
 * BatchNorm2d with fixed statistics and affine, all four as buffers (torchvision's
 * FrozenBatchNorm2d: y = x * scale + shift, scale = w * rsqrt(rv + eps), shift = b - rm * scale).
 * Loading ignores `num_batches_tracked`, so BatchNorm2d checkpoints load as they are.
 */
export class FrozenBatchNorm2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    o: { device?: Device } = {},
  ) {
    super();
    const d = dev(o.device);
    this.weight = this.buffer('weight', ones([numFeatures], d));
    this.bias = this.buffer('bias', zeros([numFeatures], d));
    this.runningMean = this.buffer('running_mean', zeros([numFeatures], d));
    this.runningVar = this.buffer('running_var', ones([numFeatures], d));
  }

  protected override ignoredStateKeys(): readonly string[] {
    return ['num_batches_tracked'];
  }

  forward(x: Tensor): Tensor {
    const w = this.weight.reshape(1, -1, 1, 1);
    const b = this.bias.reshape(1, -1, 1, 1);
    const rv = this.runningVar.reshape(1, -1, 1, 1);
    const rm = this.runningMean.reshape(1, -1, 1, 1);
    const scale = w.mul(rv.add(this.eps).rsqrt());
    const shift = b.sub(rm.mul(scale));
    return x.mul(scale).add(shift);
  }
}

/** x [N, C, ...] -> same; C split into numGroups groups (Wu & He 2018). */
export class GroupNorm extends NormLayer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly o: { eps?: number; affine?: boolean; device?: Device } = {},
  ) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new TypeError(`GroupNorm: ${numChannels} channels not divisible by ${numGroups} groups`);
    }
    const d = dev(o.device);
    const affine = o.affine ?? true;
    this.weight = affine ? this.param('weight', ones([numChannels], d)) : null;
    this.bias = affine ? this.param('bias', zeros([numChannels], d)) : null;
  }
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, this.o.eps ?? 1e-5);
  }
}

/** x [..., *normalizedShape] -> same, normalised over the trailing dims. */
export class LayerNorm extends NormLayer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly normalizedShape: number[];
  constructor(
    normalizedShape: number | readonly number[],
    readonly o: { eps?: number; elementwiseAffine?: boolean; device?: Device } = {},
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    const d = dev(o.device);
    const affine = o.elementwiseAffine ?? true;
    this.weight = affine ? this.param('weight', ones(this.normalizedShape, d)) : null;
    this.bias = affine ? this.param('bias', zeros(this.normalizedShape, d)) : null;
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.o.eps ?? 1e-5);
  }
}

/** Freezes (or unfreezes) every norm layer in the tree; returns how many it touched. */
export function freezeNorms(m: Module, flag = true): number {
  let n = 0;
  for (const [, c] of m.namedModules()) {
    if (c instanceof NormLayer) {
      c.frozen = flag;
      n++;
    }
  }
  return n;
}

/** True for modules whose parameters are normalisation affines (for weight-decay groups). */
export function isNormModule(m: Module): boolean {
  return m instanceof NormLayer || m instanceof FrozenBatchNorm2d;
}
