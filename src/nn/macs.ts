// Multiply-accumulate counting by running the model once: every Conv2d and Linear of the given
// module tree is wrapped for the duration of `run`, and each call records the MACs its shapes
// imply. Shared modules (a head applied to every FPN level) are counted once per call, which a
// static walk over the module tree would get wrong.
//
// Convention: one multiply-add = 1 MAC (what mmcv's get_flops and fvcore report as "FLOPs";
// FLOPs proper are about 2x). Only conv2d and linear are counted, without their bias adds
// (fvcore's convention; mmcv adds Cout per output position for the bias and counts norms,
// activations and pooling too, which makes its totals slightly larger). Convs and linears
// called through F.* directly, outside a Conv2d/Linear module, are not seen.
import type { Tensor } from '../core/tensor.ts';
import { Conv2d } from './conv.ts';
import { Linear } from './linear.ts';
import type { Module } from './module.ts';

/** One recorded call. */
export interface MacRecord {
  /** Dotted module path within the counted model ('' for the model itself). */
  path: string;
  kind: 'conv2d' | 'linear';
  input: readonly number[];
  output: readonly number[];
  macs: number;
}

export interface MacCount {
  total: number;
  records: MacRecord[];
}

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * MACs of a conv2d: every output element is a dot product of length Cin/groups * kh * kw.
 * output [N, Cout, Ho, Wo], weight [Cout, Cin/groups, kh, kw].
 */
export function conv2dMacs(output: readonly number[], weight: readonly number[]): number {
  const [, cinPerGroup = 0, kh = 0, kw = 0] = weight;
  return numel(output) * cinPerGroup * kh * kw;
}

/** MACs of a linear layer: output [..., out], weight [out, in] -> numel(output) * in. */
export function linearMacs(output: readonly number[], weight: readonly number[]): number {
  return numel(output) * (weight[1] ?? 0);
}

/**
 * Runs `run` once while counting the MACs of every Conv2d/Linear call inside `model`, and
 * restores the modules afterwards (also when `run` throws).
 *
 * @example
 * const { count } = countMacs(det, () => noGrad(() => tidy(() => { det.forward(x, metas); })));
 * count.total; // 4.1e7
 */
export function countMacs<T>(model: Module, run: () => T): { result: T; count: MacCount } {
  const records: MacRecord[] = [];
  const restore: (() => void)[] = [];
  const wrap = (m: Conv2d | Linear, path: string): void => {
    const hadOwn = Object.hasOwn(m, 'forward');
    const own: unknown = hadOwn ? Reflect.get(m, 'forward') : undefined;
    const orig = m.forward;
    const kind = m instanceof Conv2d ? 'conv2d' : 'linear';
    m.forward = (x: Tensor): Tensor => {
      const y = orig.call(m, x);
      const w = m.weight.shape;
      const macs = kind === 'conv2d' ? conv2dMacs(y.shape, w) : linearMacs(y.shape, w);
      records.push({ path, kind, input: [...x.shape], output: [...y.shape], macs });
      return y;
    };
    restore.push(() => {
      if (hadOwn) Reflect.set(m, 'forward', own);
      else Reflect.deleteProperty(m, 'forward');
    });
  };
  for (const [path, m] of model.namedModules()) {
    if (m instanceof Conv2d || m instanceof Linear) wrap(m, path);
  }
  try {
    const result = run();
    return { result, count: { total: records.reduce((s, r) => s + r.macs, 0), records } };
  } finally {
    for (const r of restore) r();
  }
}

/** Sums records by the first `depth` components of their path ('backbone', 'neck', ...). */
export function macsByPrefix(count: MacCount, depth = 1): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of count.records) {
    const key = r.path.split('.').slice(0, depth).join('.');
    out.set(key, (out.get(key) ?? 0) + r.macs);
  }
  return out;
}
