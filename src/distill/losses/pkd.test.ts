// PKD against scripts/fixtures/distill_logit_oracle.py (mmrazor PKDLoss re-stated in PyTorch 1.13,
// one thread): value and student gradient bit-exact, same size and with a bilinear resize of
// either side. Then properties: teacher == student, invariance to a positive per-channel affine
// map of the teacher, the 1 − r identity, detachment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { manualSeed } from '../../core/random.ts';
import { rand, randn, type Tensor, tidy } from '../../core/tensor.ts';
import { pkdLoss } from './pkd.ts';

native.setNumThreads(1);
manualSeed(3);

const oracle = loadOracle('distill-logit');
const { get } = oracle;
const cases = oracle.cases<{ kind: string; resize_stu?: boolean }>();

for (const [name, c] of Object.entries(cases)) {
  if (c.kind !== 'pkd') continue;
  test(`pkdLoss matches mmrazor PKDLoss (value, grad, 0 ULP): ${name}`, () =>
    tidy(() => {
      const s = get(`${name}/student`).clone().requiresGrad_(true);
      const out = pkdLoss(s, get(`${name}/teacher`), { resizeStudent: c.resize_stu ?? true });
      assertBits(out, get(`${name}/out`), 'value');
      out.backward();
      assertBits(s.grad!, get(`${name}/grad`), 'grad');
    }));
}

test('teacher == student gives 0', () =>
  tidy(() => {
    const f = randn([2, 4, 5, 6]).mul(7).add(3);
    assert.ok(Math.abs(pkdLoss(f, f).item()) < 1e-6);
  }));

test('a positive per-channel affine map of the teacher leaves the loss unchanged', () =>
  tidy(() => {
    const s = randn([2, 4, 5, 6]);
    const t = randn([2, 4, 5, 6]).add(s.mul(0.5)); // correlated, so the loss is well inside (0, 1)
    const base = pkdLoss(s, t).item();
    assert.ok(base > 0.05 && base < 1, `${base}`);
    const scale = rand([1, 4, 1, 1]).mul(20).add(0.05); // > 0, per channel
    const shift = randn([1, 4, 1, 1]).mul(50);
    const v = pkdLoss(s, t.mul(scale).add(shift)).item();
    assert.ok(Math.abs(v - base) < 1e-4 * base, `${v} vs ${base}`);
    // A negative scale flips the correlation of that channel, which PKD must see.
    const flip = pkdLoss(s, t.mul(-1)).item();
    assert.ok(flip > base + 0.5, `${flip} vs ${base}`);
  }));

test('the loss is 1 − r̄ with unbiased std: (n − 1)/n·(1 − r̄) exactly, r̄ the mean Pearson r over channels', () =>
  tidy(() => {
    const s = randn([3, 2, 4, 4], { dtype: 'float64' });
    const t = randn([3, 2, 4, 4], { dtype: 'float64' }).add(s);
    const n = 3 * 4 * 4;
    const flat = (x: Tensor): Tensor => x.permute(1, 0, 2, 3).reshape(2, n);
    const a = flat(s).sub(flat(s).mean(1, true));
    const b = flat(t).sub(flat(t).mean(1, true));
    const r = a
      .mul(b)
      .sum(1)
      .div(a.pow(2).sum(1).sqrt().mul(b.pow(2).sum(1).sqrt())); // [C]
    const expected = ((n - 1) / n) * (1 - r.mean().item());
    // The 1e-6 added to the std is the only difference.
    assert.ok(Math.abs(pkdLoss(s, t).item() - expected) < 1e-5, `${pkdLoss(s, t).item()} vs ${expected}`);
  }));

test('the teacher is detached; sizes: resized either way, N/C mismatch throws', () =>
  tidy(() => {
    const s = randn([1, 2, 6, 8]).requiresGrad_(true);
    const t = randn([1, 2, 3, 4]).requiresGrad_(true);
    pkdLoss(s, t).backward();
    assert.equal(t.grad, null);
    assert.ok(s.grad!.abs().sum().item() > 0);
    // Only the width differs: still resized (mmrazor compares heights only and would assert).
    assert.ok(Number.isFinite(pkdLoss(randn([1, 2, 3, 5]), randn([1, 2, 3, 4])).item()));
    assert.ok(
      Number.isFinite(pkdLoss(randn([1, 2, 3, 5]), randn([1, 2, 3, 4]), { resizeStudent: false }).item()),
    );
    assert.throws(() => pkdLoss(randn([1, 2, 3, 3]), randn([1, 3, 3, 3])), /equal N, C/);
  }));
