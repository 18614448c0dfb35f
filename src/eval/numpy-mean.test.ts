// Oracle: np.mean values (numpy 2.4 for <= 8192 values, where numpy 1.x and 2.x agree; above, numpy
// 1.x's chunked order as emulated in scripts/coco-eval-reference.py, which reproduces pycocotools).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { numpyMean } from './numpy-mean.ts';

function series(n: number, s: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => ((i * 7919 * s) % 1000) / 997 + 1e-3 * i);
}

test('numpyMean reproduces np.mean bit for bit', () => {
  assert.equal(numpyMean(series(5, 2)), 0.479432296890672);
  assert.equal(numpyMean(series(1000, 2)), 1.0000015045135406); // a plain loop gives ...404
  assert.equal(numpyMean(series(1010, 2)), 1.0047234426050429); // a plain loop gives ...426
  assert.equal(numpyMean(series(8192, 1)), 4.596488316512036);
  // 10100 values (AP over 10 IoU x 101 recall x 10 categories): chunked ...969; one pairwise pass
  // (numpy 2.x) gives ...971, a plain loop ...960
  assert.equal(numpyMean(series(10100, 2)), 5.549922058253969);
});

test('numpyMean uses only the first n values', () => {
  const a = new Float64Array([1, 2, 3, 100]);
  assert.equal(numpyMean(a, 3), 2);
});
