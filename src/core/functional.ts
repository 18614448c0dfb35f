// Functional neural-network ops over Tensor (torch.nn.functional's names, camelCase).
// Shapes are in the comments: N batch, C channels, H/W spatial.
import * as ops from './ops.generated.ts';
import { type Reduction, type Tensor, tidy } from './tensor.ts';

const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
function red(r: Reduction): number {
  const v = REDUCTION[r];
  if (v === undefined) throw new TypeError(`reduction must be 'none', 'mean' or 'sum', got '${String(r)}'`);
  return v;
}

type Pair = number | readonly [number, number];

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** x [N,Cin,H,W], weight [Cout,Cin/groups,kh,kw], bias [Cout] -> [N,Cout,H',W'] */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  return ops.conv2d(x, weight, bias, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1);
}

/** x [N,Cin,H,W], weight [Cin,Cout/groups,kh,kw] -> [N,Cout,H',W'] */
export function convTranspose2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  o: Conv2dOptions & { outputPadding?: Pair } = {},
): Tensor {
  return ops.conv_transpose2d_input(
    x,
    weight,
    bias,
    o.stride ?? 1,
    o.padding ?? 0,
    o.outputPadding ?? 0,
    o.groups ?? 1,
    o.dilation ?? 1,
  );
}

/** x [N,Cin], weight [Cout,Cin], bias [Cout] -> [N,Cout] */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  return ops.linear(x, weight, bias);
}

export function maxPool2d(
  x: Tensor,
  kernel: Pair,
  o: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {},
): Tensor {
  return ops.max_pool2d(x, kernel, o.stride ?? kernel, o.padding ?? 0, o.dilation ?? 1, o.ceilMode ?? false);
}

export function avgPool2d(
  x: Tensor,
  kernel: Pair,
  o: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {},
): Tensor {
  return ops.avg_pool2d(
    x,
    kernel,
    o.stride ?? kernel,
    o.padding ?? 0,
    o.ceilMode ?? false,
    o.countIncludePad ?? true,
  );
}

export function adaptiveAvgPool2d(x: Tensor, size: Pair): Tensor {
  return ops.adaptive_avg_pool2d(x, size);
}

export function adaptiveMaxPool2d(x: Tensor, size: Pair): Tensor {
  return ops.adaptive_max_pool2d(x, size)[0];
}

/**
 * Resizes x [N,C,H,W] to `size` [h,w] or by `scaleFactor`, nearest or bilinear. With a scale
 * factor the output size is floor(H*scale), and the scale itself is passed on as PyTorch does
 * (recompute_scale_factor unset), so results match F.interpolate.
 */
export function interpolate(
  x: Tensor,
  o: {
    size?: readonly [number, number];
    scaleFactor?: number | readonly [number, number];
    mode?: 'nearest' | 'bilinear';
    alignCorners?: boolean;
  },
): Tensor {
  const mode = o.mode ?? 'nearest';
  const scales =
    o.scaleFactor === undefined
      ? null
      : typeof o.scaleFactor === 'number'
        ? [o.scaleFactor, o.scaleFactor]
        : [...o.scaleFactor];
  const size = o.size ? [...o.size] : null;
  if ((size === null) === (scales === null))
    throw new TypeError('interpolate: give exactly one of size and scaleFactor');
  if (mode === 'nearest') {
    if (o.alignCorners !== undefined)
      throw new TypeError('interpolate: alignCorners only applies to bilinear');
    return ops.upsample_nearest2d_vec(x, size, scales);
  }
  return ops.upsample_bilinear2d_vec(x, size, o.alignCorners ?? false, scales);
}

/** Pads the last dims: [left, right, top, bottom, ...] as torch.nn.functional.pad. */
export function pad(
  x: Tensor,
  amounts: readonly number[],
  mode: 'constant' | 'reflect' | 'replicate' = 'constant',
  value = 0,
): Tensor {
  return mode === 'constant' ? ops.constant_pad_nd(x, amounts, value) : ops.pad(x, amounts, mode, null);
}

export function relu(x: Tensor): Tensor {
  return ops.relu(x);
}
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return ops.gelu(x, approximate);
}
export function silu(x: Tensor): Tensor {
  return ops.silu(x);
}
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return ops.leaky_relu(x, negativeSlope);
}
export function sigmoid(x: Tensor): Tensor {
  return ops.sigmoid(x);
}
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  return ops.softplus(x, beta, threshold);
}
export function logSigmoid(x: Tensor): Tensor {
  return ops.log_sigmoid(x);
}
export function hardswish(x: Tensor): Tensor {
  return ops.hardswish(x);
}
export function softmax(x: Tensor, dim: number): Tensor {
  return ops.softmax_int(x, dim);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return ops.log_softmax_int(x, dim);
}

/**
 * Batch norm over x [N,C,...]. In training mode the running statistics are updated in place
 * (momentum as PyTorch's: new = (1-m)*old + m*batch, unbiased batch variance).
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  return ops.batch_norm(x, weight, bias, runningMean, runningVar, training, momentum, eps, true);
}

export function groupNorm(
  x: Tensor,
  groups: number,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  return ops.group_norm(x, groups, weight, bias, eps, true);
}

export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  return ops.layer_norm(x, normalizedShape, weight, bias, eps, true);
}

export function instanceNorm(
  x: Tensor,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  return ops.instance_norm(x, weight, bias, null, null, true, 0.1, eps, true);
}

/** Dropout with the global generator (seed it with manualSeed for reproducible runs). */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return ops.dropout(x, p, training);
}

/** logits [N,C] or [N,C,...], target int64 class indices [N,...] or probabilities like logits. */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  return ops.cross_entropy_loss(
    logits,
    target,
    o.weight ?? null,
    red(o.reduction ?? 'mean'),
    o.ignoreIndex ?? -100,
    o.labelSmoothing ?? 0,
  );
}

export function nllLoss(
  logProbs: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; reduction?: Reduction; ignoreIndex?: number } = {},
): Tensor {
  return ops.nll_loss_nd(
    logProbs,
    target,
    o.weight ?? null,
    red(o.reduction ?? 'mean'),
    o.ignoreIndex ?? -100,
  );
}

export function binaryCrossEntropyWithLogits(
  logits: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction } = {},
): Tensor {
  return ops.binary_cross_entropy_with_logits(
    logits,
    target,
    o.weight ?? null,
    o.posWeight ?? null,
    red(o.reduction ?? 'mean'),
  );
}

export function binaryCrossEntropy(
  probs: Tensor,
  target: Tensor,
  o: { weight?: Tensor | null; reduction?: Reduction } = {},
): Tensor {
  return ops.binary_cross_entropy(probs, target, o.weight ?? null, red(o.reduction ?? 'mean'));
}

/**
 * KL(target || input) with input as log-probabilities (PyTorch's F.kl_div). reduction
 * 'batchmean' divides the sum by the batch size, as the KL definition needs.
 */
export function klDiv(
  input: Tensor,
  target: Tensor,
  o: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {},
): Tensor {
  const r = o.reduction ?? 'mean';
  if (r === 'batchmean') {
    return tidy(() => ops.kl_div(input, target, red('sum'), o.logTarget ?? false).div(input.size(0)));
  }
  return ops.kl_div(input, target, red(r), o.logTarget ?? false);
}

export function smoothL1Loss(
  input: Tensor,
  target: Tensor,
  o: { reduction?: Reduction; beta?: number } = {},
): Tensor {
  return ops.smooth_l1_loss(input, target, red(o.reduction ?? 'mean'), o.beta ?? 1.0);
}

export function huberLoss(
  input: Tensor,
  target: Tensor,
  o: { reduction?: Reduction; delta?: number } = {},
): Tensor {
  return ops.huber_loss(input, target, red(o.reduction ?? 'mean'), o.delta ?? 1.0);
}

export function l1Loss(input: Tensor, target: Tensor, o: { reduction?: Reduction } = {}): Tensor {
  return ops.l1_loss(input, target, red(o.reduction ?? 'mean'));
}

export function mseLoss(input: Tensor, target: Tensor, o: { reduction?: Reduction } = {}): Tensor {
  return ops.mse_loss(input, target, red(o.reduction ?? 'mean'));
}

/** int64 labels [...] -> int64 one-hot [..., numClasses] */
export function oneHot(labels: Tensor, numClasses = -1): Tensor {
  return ops.one_hot(labels, numClasses);
}

export function pixelShuffle(x: Tensor, upscale: number): Tensor {
  return ops.pixel_shuffle(x, upscale);
}
