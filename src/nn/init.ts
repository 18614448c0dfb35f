// Weight initialisers, torch.nn.init's formulas (same RNG draws: one uniform_/normal_ per tensor,
// so with the same seed and the same call order the values equal PyTorch's), plus mmdetection's
// bias_init_with_prob. All run under no-grad and fill the tensor in place.
import type { Generator } from '../core/random.ts';
import { noGrad, type Tensor } from '../core/tensor.ts';
import { libmPow } from './libm.ts';

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

export type FanMode = 'fan_in' | 'fan_out';

/** torch.nn.init._calculate_fan_in_and_fan_out: weight [out, in, *kernel]. */
export function fanInAndOut(t: Tensor): { fanIn: number; fanOut: number } {
  const s = t.shape;
  if (s.length < 2) {
    throw new TypeError(`fan in and fan out need a tensor with at least 2 dims, got [${s.join(', ')}]`);
  }
  let receptive = 1;
  for (const v of s.slice(2)) receptive *= v;
  return { fanIn: (s[1] ?? 0) * receptive, fanOut: (s[0] ?? 0) * receptive };
}

/** torch.nn.init.calculate_gain. `param` is leaky_relu's negative slope (default 0.01). */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv2d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5.0 / 3;
    case 'relu':
      return Math.sqrt(2.0);
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      // Python's slope ** 2 is libm pow; V8's ** can differ in the last bit.
      return Math.sqrt(2.0 / (1 + libmPow(slope, 2)));
    }
    case 'selu':
      return 3.0 / 4;
  }
}

function fan(t: Tensor, mode: FanMode): number {
  const f = fanInAndOut(t);
  return mode === 'fan_in' ? f.fanIn : f.fanOut;
}

export interface KaimingOptions {
  /** Negative slope for leaky_relu (PyTorch's `a`, default 0). */
  a?: number;
  mode?: FanMode;
  nonlinearity?: Nonlinearity;
  generator?: Generator | null;
}

/** U(-b, b) with b = gain * sqrt(3 / fan) (He et al. 2015). Defaults: a 0, fan_in, leaky_relu. */
export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  const std = gain / Math.sqrt(fan(t, o.mode ?? 'fan_in'));
  const bound = Math.sqrt(3.0) * std;
  return uniform_(t, -bound, bound, o.generator);
}

/** N(0, std^2) with std = gain / sqrt(fan). */
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  const std = gain / Math.sqrt(fan(t, o.mode ?? 'fan_in'));
  return normal_(t, 0, std, o.generator);
}

/** U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010). */
export function xavierUniform_(t: Tensor, gain = 1.0, generator: Generator | null = null): Tensor {
  const { fanIn, fanOut } = fanInAndOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  const a = Math.sqrt(3.0) * std;
  return uniform_(t, -a, a, generator);
}

/** N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)). */
export function xavierNormal_(t: Tensor, gain = 1.0, generator: Generator | null = null): Tensor {
  const { fanIn, fanOut } = fanInAndOut(t);
  const std = gain * Math.sqrt(2.0 / (fanIn + fanOut));
  return normal_(t, 0, std, generator);
}

export function uniform_(t: Tensor, from = 0, to = 1, generator: Generator | null = null): Tensor {
  noGrad(() => t.uniform_(from, to, generator));
  return t;
}

export function normal_(t: Tensor, mean = 0, std = 1, generator: Generator | null = null): Tensor {
  noGrad(() => t.normal_(mean, std, generator));
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  noGrad(() => t.fill_(value));
  return t;
}

export function zeros_(t: Tensor): Tensor {
  return constant_(t, 0);
}

export function ones_(t: Tensor): Tensor {
  return constant_(t, 1);
}

/**
 * The bias that makes sigmoid(bias) = prior: -log((1 - p) / p) (mmdet's bias_init_with_prob;
 * RetinaNet, Lin et al. 2017 section 4.1, uses p = 0.01).
 */
export function biasInitWithProb(prior: number): number {
  if (!(prior > 0 && prior < 1))
    throw new RangeError(`biasInitWithProb: prior must be in (0, 1), got ${prior}`);
  // mmdet uses np.log, whose own float64 log differs from libm's (and V8's) in the last bit for
  // some inputs (p = 0.001): this value is within 1 ulp of mmdet's, not always identical.
  return -Math.log((1 - prior) / prior);
}

/** mmcv's normal_init: weight ~ N(mean, std^2), bias = constant (either may be absent). */
export function normalInit(
  m: { weight?: Tensor | null; bias?: Tensor | null },
  o: { mean?: number; std?: number; bias?: number; generator?: Generator | null } = {},
): void {
  if (m.weight) normal_(m.weight, o.mean ?? 0, o.std ?? 1, o.generator ?? null);
  if (m.bias) constant_(m.bias, o.bias ?? 0);
}

/** mmcv's constant_init: weight = val, bias = constant. */
export function constantInit(
  m: { weight?: Tensor | null; bias?: Tensor | null },
  val: number,
  bias = 0,
): void {
  if (m.weight) constant_(m.weight, val);
  if (m.bias) constant_(m.bias, bias);
}
