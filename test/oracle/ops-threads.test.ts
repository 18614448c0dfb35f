// Oracle at two intra-op threads: a representative subset (cases marked `mt` by
// scripts/fixtures/ops_oracle.py: reductions, matmul, conv, pools, resampling, norms, softmax,
// losses) against the single-thread PyTorch fixtures. Parallel reductions split the work
// differently (conv2d weight/bias gradients and layer_norm affine gradients do differ), so the
// comparison is rtol 1e-5, plus an absolute 1e-6 * max|expected| for elements of a sum that cancel
// to near zero (conv2d_big's weight gradient has such an element, 3.5e-6 off on 0.169).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../src/core/native.ts';
import { tidy } from '../../src/core/tensor.ts';
import { checkCase, loadFixtures, runCase } from './harness.ts';

native.setNumThreads(2);
const fx = loadFixtures();
const subset = fx.cases.filter((c) => c.mt);

test('the threaded subset is representative', () => {
  assert.ok(subset.length >= 30, `${subset.length} cases`);
  assert.equal(native.getNumThreads().intraOp, 2);
});

for (const c of subset) {
  test(`2 threads, ${c.op}: ${c.id}`, () => {
    tidy(() => {
      const errs = checkCase(fx, c, runCase(fx, c), { rtol: 1e-5, atolOfMax: 1e-6 });
      assert.deepEqual(errs, [], `${c.id}:\n  ${errs.join('\n  ')}`);
    });
  });
}
