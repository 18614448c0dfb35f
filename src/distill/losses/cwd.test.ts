// CWD against scripts/fixtures/distill_logit_oracle.py (mmrazor ChannelWiseDivergence re-stated in
// PyTorch 1.13, one thread): value and student gradient bit-exact. Then properties: teacher ==
// student, per-channel constants on either map, a hand-checked 2-position case, detachment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { manualSeed } from '../../core/random.ts';
import { randn, tensor, tidy } from '../../core/tensor.ts';
import { cwdLoss } from './cwd.ts';

native.setNumThreads(1);
manualSeed(5);

const oracle = loadOracle('distill-logit');
const { get } = oracle;
const cases = oracle.cases<{ kind: string; tau: number }>();

for (const [name, c] of Object.entries(cases)) {
  if (c.kind !== 'cwd') continue;
  test(`cwdLoss matches mmrazor ChannelWiseDivergence (value, grad, 0 ULP): ${name}`, () =>
    tidy(() => {
      const s = get(`${name}/student`).clone().requiresGrad_(true);
      const out = cwdLoss(s, get(`${name}/teacher`), { tau: c.tau });
      assertBits(out, get(`${name}/out`), 'value');
      out.backward();
      assertBits(s.grad!, get(`${name}/grad`), 'grad');
    }));
}

test('teacher == student gives 0', () =>
  tidy(() => {
    const f = randn([2, 3, 4, 5]).mul(3);
    for (const tau of [1, 4]) assert.ok(Math.abs(cwdLoss(f, f, { tau }).item()) < 1e-6);
  }));

test('a per-channel constant added to either map leaves the loss unchanged', () =>
  tidy(() => {
    const s = randn([2, 3, 4, 5]);
    const t = randn([2, 3, 4, 5]).mul(2);
    const base = cwdLoss(s, t, { tau: 2 }).item();
    assert.ok(base > 0);
    const shift = randn([2, 3, 1, 1]).mul(10); // one constant per (n, c)
    for (const v of [
      cwdLoss(s.add(shift), t, { tau: 2 }).item(),
      cwdLoss(s, t.sub(shift), { tau: 2 }).item(),
    ])
      assert.ok(Math.abs(v - base) < 1e-5 * base, `${v} vs ${base}`);
  }));

test('hand-checked: one channel, two positions, τ = 2', () =>
  tidy(() => {
    // t = (0, 2ln3)/2 -> p_T = (1/4, 3/4); s = (0, 0) -> p_S = (1/2, 1/2). N·C = 1.
    const t = tensor([0, 2 * Math.log(3)]).reshape(1, 1, 1, 2);
    const s = tensor([0, 0]).reshape(1, 1, 1, 2);
    const kl = 0.25 * Math.log(0.25 / 0.5) + 0.75 * Math.log(0.75 / 0.5);
    assert.ok(Math.abs(cwdLoss(s, t, { tau: 2 }).item() - 4 * kl) < 1e-6);
    // N·C divides: two identical images give the same value.
    assert.ok(
      Math.abs(cwdLoss(s.repeat(2, 1, 1, 1), t.repeat(2, 1, 1, 1), { tau: 2 }).item() - 4 * kl) < 1e-6,
    );
  }));

test('the teacher is detached; mismatched shapes throw', () =>
  tidy(() => {
    const s = randn([1, 2, 3, 3]).requiresGrad_(true);
    const t = randn([1, 2, 3, 3]).requiresGrad_(true);
    cwdLoss(s, t).backward();
    assert.equal(t.grad, null);
    assert.ok(s.grad!.abs().sum().item() > 0);
    assert.throws(() => cwdLoss(randn([1, 2, 3, 3]), randn([1, 3, 3, 3])), /same \[N, C, H, W\]/);
  }));
