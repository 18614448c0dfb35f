// np.mean of a 1-D float64 array, bit for bit, so summary stats match pycocotools exactly rather
// than to ~1e-17. numpy sums float64 pairwise (numpy/_core/src/umath/loops_utils.h.src,
// pairwise_sum): below 8 values a plain loop, up to 128 eight interleaved partial sums, above that
// it splits in halves (rounded down to a multiple of 8). numpy 1.x reductions run over 8192-element
// buffer chunks, summing each pairwise and the chunks in order; the cases in
// test/fixtures/coco-eval/expected.json were made that way (numpy 2.x sums in one pass).

const BUFFER = 8192;

function pairwiseSum(a: Float64Array, start: number, n: number): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i]!;
    return res;
  }
  if (n <= 128) {
    let r0 = a[start]!;
    let r1 = a[start + 1]!;
    let r2 = a[start + 2]!;
    let r3 = a[start + 3]!;
    let r4 = a[start + 4]!;
    let r5 = a[start + 5]!;
    let r6 = a[start + 6]!;
    let r7 = a[start + 7]!;
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      const p = start + i;
      r0 += a[p]!;
      r1 += a[p + 1]!;
      r2 += a[p + 2]!;
      r3 += a[p + 3]!;
      r4 += a[p + 4]!;
      r5 += a[p + 5]!;
      r6 += a[p + 6]!;
      r7 += a[p + 7]!;
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[start + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, start, n2) + pairwiseSum(a, start + n2, n - n2);
}

/** Mean of the first `n` values of `a` as numpy 1.x's `np.mean` computes it. `n` must be > 0. */
export function numpyMean(a: Float64Array, n: number = a.length): number {
  let total = 0;
  for (let s = 0; s < n; s += BUFFER) total += pairwiseSum(a, s, Math.min(BUFFER, n - s));
  return total / n;
}
