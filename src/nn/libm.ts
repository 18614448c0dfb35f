// Host-math helpers that must round exactly like CPython's, which calls the C library.
//
// V8's Math.pow is not glibc's pow: for 0.9 ** 4, 0.9 ** 23, ... they differ in the last bit
// (about 6% of the (base, integer exponent) pairs we tried). Optimizer bias corrections
// (AdamW: 1 - beta ** step) and step schedules (gamma ** k) feed those doubles into the update, so
// we compute the power in libtorch: a one-element float64 pow runs ATen's scalar tail loop, which
// is std::pow, i.e. the same libm call Python's float ** float makes.
import * as ops from '../core/ops.generated.ts';
import { full, noGrad, tidy } from '../core/tensor.ts';

const cache = new Map<string, number>();

/** base ** exponent computed by the C library's pow (bit-identical to Python's `base ** exponent`). */
export function libmPow(base: number, exponent: number): number {
  if (exponent === 0) return 1;
  if (exponent === 1) return base;
  const key = `${base}|${exponent}`;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const v = noGrad(() =>
    tidy(() =>
      ops
        .pow_Tensor_Tensor(full([], base, { dtype: 'float64' }), full([], exponent, { dtype: 'float64' }))
        .item(),
    ),
  );
  if (cache.size > 4096) cache.clear();
  cache.set(key, v);
  return v;
}
