// KD against scripts/fixtures/distill_logit_oracle.py (mmdet's KnowledgeDistillationKLDivLoss and
// weight_reduce_loss re-stated in PyTorch 1.13, one thread): values and student gradients
// bit-exact in float32 (the same ATen op sequence) and within 1e-12 in float64. Then properties:
// empty rows, teacher == student, the τ → ∞ limit, teacher detachment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { manualSeed } from '../../core/random.ts';
import { type Reduction, randn, scalar, type Tensor, tensor, tidy, zeros } from '../../core/tensor.ts';
import { kdLoss, klDivRows } from './kd.ts';

native.setNumThreads(1);
manualSeed(7);

const oracle = loadOracle('distill-logit');
const { get } = oracle;
const cases = oracle.cases<{ kind: string; tau: number; avg_factor: number | null; reduction: Reduction }>();

/** Bit-exact for float32; |a − e| <= 1e-12·(1 + |e|) for float64. */
function assertMatches(actual: Tensor, expected: Tensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  const a = actual.contiguous().toArray();
  const e = expected.contiguous().toArray();
  for (let i = 0; i < a.length; i++) {
    if (expected.dtype === 'float32') assert.ok(Object.is(a[i], e[i]), `${what}[${i}]: ${a[i]} !== ${e[i]}`);
    else
      assert.ok(
        Math.abs(a[i]! - e[i]!) <= 1e-12 * (1 + Math.abs(e[i]!)),
        `${what}[${i}]: ${a[i]} vs ${e[i]}`,
      );
  }
}

for (const [name, c] of Object.entries(cases)) {
  if (c.kind !== 'kd') continue;
  test(`kdLoss matches mmdet KnowledgeDistillationKLDivLoss (values, grad): ${name}`, () =>
    tidy(() => {
      const pred = get(`${name}/pred`).clone().requiresGrad_(true);
      const soft = get(`${name}/soft`);
      assertMatches(klDivRows(pred, soft, c.tau), get(`${name}/rows`), 'rows');
      const out = kdLoss(pred, soft, {
        tau: c.tau,
        weight: oracle.find(`${name}/weight`) ?? null,
        avgFactor: c.avg_factor,
        reduction: c.reduction,
      });
      assertMatches(out, get(`${name}/out`), 'out');
      out
        .mul(get(`${name}/cotangent`))
        .sum()
        .backward();
      assertMatches(pred.grad!, get(`${name}/grad`), 'grad');
    }));
}

test('no rows (no positives): kdLoss is exactly 0 with a finite zero gradient', () =>
  tidy(() => {
    const pred = zeros([0, 17]).requiresGrad_(true);
    const l = kdLoss(pred, zeros([0, 17]), { tau: 10, weight: zeros([0]), avgFactor: 0 });
    assert.ok(Object.is(l.item(), 0));
    l.backward();
    assert.deepEqual(pred.grad!.shape, [0, 17]);
    const p2 = randn([3, 5]).requiresGrad_(true);
    const l2 = kdLoss(p2, randn([3, 5]), { tau: 2, weight: zeros([3]), avgFactor: 0 });
    assert.equal(l2.item(), 0);
    l2.backward();
    assert.deepEqual(p2.grad!.toArray(), new Array(15).fill(0));
  }));

test('teacher == student gives 0 (up to float rounding), and shifting a row by a constant too', () =>
  tidy(() => {
    const z = randn([6, 17]).mul(4);
    for (const tau of [1, 2, 10]) {
      assert.ok(Math.abs(kdLoss(z, z, { tau }).item()) < 1e-6);
      // softmax is shift-invariant per row: logits + c_i describe the same distribution.
      const shifted = z.add(randn([6, 1]).mul(5));
      assert.ok(Math.abs(kdLoss(shifted, z, { tau }).item()) < 1e-5);
    }
  }));

test('τ → ∞: τ²·KL tends to the mean-centred squared difference (1/2K²)·Σ(d − d̄)², at rate 1/τ', () =>
  tidy(() => {
    // For p = softmax(t/τ), q = softmax(s/τ) and large τ, KL(p‖q) = (1/2τ²)·Var_u(t − s) + O(τ⁻³),
    // with Var_u = (1/K)Σ_k(d_k − d̄)² the variance under the uniform distribution; mmdet's extra
    // mean over k divides by K once more: τ²·mean_k(...) → (1/2K²)·Σ_k(d_k − d̄)².
    const K = 17;
    const s = randn([4, K], { dtype: 'float64' });
    const t = randn([4, K], { dtype: 'float64' });
    const d = t.sub(s);
    const limit = d
      .sub(d.mean(1, true))
      .pow(2)
      .sum(1)
      .div(2 * K * K); // [4]
    const errs = [10, 100, 1000, 10000].map((tau) =>
      klDivRows(s, t, tau).sub(limit).abs().div(limit).max().item(),
    );
    for (let i = 1; i < errs.length; i++) {
      const ratio = errs[i - 1]! / errs[i]!;
      assert.ok(ratio > 8 && ratio < 12.5, `error falls ~10x per 10x τ (${errs.join(', ')})`);
    }
    assert.ok(errs[3]! < 2e-4, `τ = 1e4 within 2e-4 (relative) of the limit (${errs[3]})`);
  }));

test('the teacher is detached and dim 1 is the distribution', () =>
  tidy(() => {
    const s = randn([3, 4]).requiresGrad_(true);
    const t = randn([3, 4]).requiresGrad_(true);
    kdLoss(s, t, { tau: 2 }).backward();
    assert.equal(t.grad, null);
    assert.ok(s.grad!.abs().sum().item() > 0);
    // One hand-checked row: τ = 1, K = 2, t = (0, 0), s = (0, ln 3): p_S = (1/4, 3/4).
    const v = klDivRows(tensor([[0, Math.log(3)]]), tensor([[0, 0]]), 1).item();
    const expected = 0.5 * (0.5 * Math.log(0.5 / 0.25) + 0.5 * Math.log(0.5 / 0.75));
    assert.ok(Math.abs(v - expected) < 1e-7, `${v} vs ${expected}`);
    assert.throws(() => klDivRows(randn([2, 3]), randn([2, 4]), 1), /\[N, K\]/);
    assert.equal(kdLoss(randn([2, 3]), randn([2, 3]), { tau: 1, avgFactor: scalar(2) }).ndim, 0);
  }));
