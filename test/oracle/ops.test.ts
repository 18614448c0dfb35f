// Oracle: every op family of the engine against PyTorch 1.13 (fixtures from
// scripts/fixtures/ops_oracle.py), values and gradients, at one intra-op thread. The same
// libtorch_cpu.so computes both sides, so every case must match bit for bit (NaN equals NaN);
// no case needs a tolerance.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../src/core/native.ts';
import { Generator, getRngState, manualSeed, setRngState } from '../../src/core/random.ts';
import type { RawTensor } from '../../src/core/safetensors.ts';
import { rand, randn, tensor, tidy } from '../../src/core/tensor.ts';
import { compareBits, gemmTolerance } from '../support/oracle.ts';
import { checkCase, loadFixtures, runCase } from './harness.ts';

native.setNumThreads(1);
const fx = loadFixtures();

test('fixtures: every case has its tensors, and gradients are checked', () => {
  assert.ok(fx.cases.length >= 400, `${fx.cases.length} cases`);
  const withGrad = fx.cases.filter((c) => c.grad.length > 0).length;
  assert.ok(withGrad >= 200, `${withGrad} cases with gradients`);
});

// Ops whose CPU kernels are OpenBLAS GEMMs (directly or through im2col): bitwise only on the
// fixtures' BLAS kernel set (test/support/oracle.ts). Every other op is compared bitwise always.
const GEMM_OPS = new Set([
  'addmm',
  'bmm',
  'conv2d',
  'conv_transpose2d',
  'dot',
  'einsum1',
  'einsum2',
  'linear',
  'matmul',
  'mm',
  'outer',
]);
const gemmTol = gemmTolerance();

for (const c of fx.cases) {
  test(`${c.op}: ${c.id}`, () => {
    tidy(() => {
      const errs = checkCase(fx, c, runCase(fx, c), GEMM_OPS.has(c.op) ? gemmTol : null);
      assert.deepEqual(errs, [], `${c.id}:\n  ${errs.join('\n  ')}`);
    });
  });
}

test('compareBits: one ULP is a mismatch, -0 is not 0, NaN payloads are equal', () => {
  tidy(() => {
    const bits = new Uint32Array([0x3f800000, 0x7fc00000]);
    const want: RawTensor = { dtype: 'F32', shape: [2], data: new Uint8Array(bits.buffer.slice(0)) };
    const same = tensor(new Float32Array(bits.buffer.slice(0)));
    assert.equal(compareBits(same, want), null);
    const payload = tensor(new Float32Array(new Uint32Array([0x3f800000, 0xffc00123]).buffer));
    assert.equal(compareBits(payload, want), null);
    const ulp = tensor(new Float32Array(new Uint32Array([0x3f800001, 0x7fc00000]).buffer));
    assert.match(compareBits(ulp, want) ?? '', /1\/2 elements differ/);
    assert.equal(compareBits(ulp, want, { rtol: 1e-6, atolOfMax: 0 }), null);
    assert.match(compareBits(ulp.to('float64'), want) ?? '', /dtype float64/);
    // a Tensor as the expected side; -0 vs 0 differs bitwise and passes under a tolerance
    const zero = tensor([0, 1]);
    const negZero = tensor([-0, 1]);
    assert.match(compareBits(negZero, zero) ?? '', /element 0: got 0, expected 0/);
    assert.equal(compareBits(negZero, zero, { rtol: 0 }), null);
    assert.match(compareBits(tensor([1, 2.5]), tensor([1, 2]), { rtol: 0.1 }) ?? '', /1\/2 elements differ/);
    assert.equal(compareBits(tensor([1, 2.5]), tensor([1, 2]), { rtol: 0, atol: 0.5 }), null);
  });
});

test('generator state: get/set round trip replays the same numbers', () => {
  tidy(() => {
    const g = new Generator(2024);
    randn([3], { generator: g });
    const state = g.getState();
    const a = randn([40], { generator: g }).toArray();
    const b = rand([5], { generator: g }).toArray();
    g.setState(state);
    assert.deepEqual(randn([40], { generator: g }).toArray(), a);
    assert.deepEqual(rand([5], { generator: g }).toArray(), b);
    // a fresh generator with another seed takes the state over completely
    const h = new Generator(1);
    h.setState(state);
    assert.deepEqual(randn([40], { generator: h }).toArray(), a);
  });
});

test('global RNG state: get/set round trip', () => {
  tidy(() => {
    manualSeed(99);
    const state = getRngState();
    const a = randn([20]).toArray();
    randn([7]);
    setRngState(state);
    assert.deepEqual(randn([20]).toArray(), a);
  });
});
