// Layers against PyTorch 1.13 (scripts/fixtures/nn_oracle.py) at one intra-op thread: forward
// and backward with given weights, BatchNorm running statistics, seeded default inits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, loadOracle, type NnOracleJson, readJsonFixture } from '../../test/support/oracle.ts';
import { native } from '../core/native.ts';
import { Generator, manualSeed } from '../core/random.ts';
import { empty, noGrad, type Tensor, tidy } from '../core/tensor.ts';
import { Conv2d } from './conv.ts';
import {
  biasInitWithProb,
  calculateGain,
  kaimingNormal_,
  kaimingUniform_,
  xavierNormal_,
  xavierUniform_,
} from './init.ts';
import { Linear } from './linear.ts';
import type { Layer } from './module.ts';
import { BatchNorm2d, FrozenBatchNorm2d, freezeNorms, GroupNorm, LayerNorm } from './norm.ts';
import { Scale } from './scale.ts';

const oracle = loadOracle('nn');
const oracleJson = readJsonFixture<NnOracleJson>('nn/oracle.json');

native.setNumThreads(1);

function setWeights(m: Layer, prefix: string): void {
  noGrad(() => {
    for (const [n, p] of m.namedParameters()) p.copy_(oracle.get(`${prefix}.${n}`));
  });
}

function checkFwdBwd(prefix: string, m: Layer): void {
  setWeights(m, prefix);
  tidy(() => {
    const x = oracle.get(`${prefix}.x`).clone().requiresGrad_(true);
    const y = m.forward(x);
    assertBits(y, oracle.get(`${prefix}.y`), `${prefix} forward`);
    y.backward(oracle.get(`${prefix}.go`));
    assertBits(x.grad as Tensor, oracle.get(`${prefix}.gx`), `${prefix} grad input`);
    for (const [n, p] of m.namedParameters()) {
      assertBits(p.grad as Tensor, oracle.get(`${prefix}.g_${n}`), `${prefix} grad ${n}`);
    }
  });
  m.dispose();
}

test('Conv2d forward/backward equals torch.nn.Conv2d bit for bit', () => {
  checkFwdBwd('conv', new Conv2d(3, 4, 3, { stride: 2, padding: 1 }));
});

test('Linear forward/backward equals torch.nn.Linear bit for bit', () => {
  checkFwdBwd('linear', new Linear(6, 4));
});

test('GroupNorm forward/backward equals torch.nn.GroupNorm bit for bit', () => {
  checkFwdBwd('groupnorm', new GroupNorm(2, 4));
});

test('LayerNorm forward/backward equals torch.nn.LayerNorm bit for bit', () => {
  checkFwdBwd('layernorm', new LayerNorm(5));
});

for (const [name, momentum] of [
  ['bn', 0.1],
  ['bn_cma', null],
] as const) {
  test(`BatchNorm2d (momentum ${momentum}): 3 training steps, running stats, eval; bit-exact`, () => {
    const bn = new BatchNorm2d(3, { momentum });
    noGrad(() => {
      bn.weight?.copy_(oracle.get(`${name}.weight`));
      bn.bias?.copy_(oracle.get(`${name}.bias`));
    });
    bn.train();
    for (let s = 0; s < 3; s++) {
      tidy(() => {
        const x = oracle.get(`${name}.train${s}.x`).clone().requiresGrad_(true);
        const y = bn.forward(x);
        assertBits(y, oracle.get(`${name}.train${s}.y`), `step ${s} y`);
        y.backward(oracle.get(`${name}.train${s}.go`));
        assertBits(x.grad as Tensor, oracle.get(`${name}.train${s}.gx`), `step ${s} grad x`);
        const sd = bn.stateDict();
        for (const k of ['running_mean', 'running_var', 'num_batches_tracked']) {
          assertBits(sd.get(k) as Tensor, oracle.get(`${name}.train${s}.${k}`), `step ${s} ${k}`);
        }
      });
    }
    assertBits(
      bn.weight?.grad as Tensor,
      oracle.get(`${name}.g_weight`),
      'grad weight (3 steps accumulated)',
    );
    assertBits(bn.bias?.grad as Tensor, oracle.get(`${name}.g_bias`), 'grad bias');
    bn.eval();
    tidy(() => assertBits(bn.forward(oracle.get(`${name}.eval.x`)), oracle.get(`${name}.eval.y`), 'eval y'));
    tidy(() => {
      const keys = [...bn.stateDict().keys()];
      assert.deepEqual(keys, ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    });
    bn.dispose();
  });
}

test('BatchNorm2d frozen: eval statistics in train mode, no updates, no grads', () => {
  const bn = new BatchNorm2d(3);
  noGrad(() => {
    bn.weight?.copy_(oracle.get('bn.weight'));
    bn.bias?.copy_(oracle.get('bn.bias'));
    bn.runningMean?.copy_(oracle.get('bn.train2.running_mean'));
    bn.runningVar?.copy_(oracle.get('bn.train2.running_var'));
  });
  assert.equal(freezeNorms(bn), 1);
  bn.train();
  assert.equal(bn.weight?.requiresGrad, false);
  tidy(() =>
    assertBits(bn.forward(oracle.get('bn.eval.x')), oracle.get('bn.eval.y'), 'frozen forward = eval'),
  );
  assert.equal(bn.numBatchesTracked?.item(), 0);
  assertBits(bn.runningMean as Tensor, oracle.get('bn.train2.running_mean'), 'running mean untouched');
  bn.frozen = false;
  assert.equal(bn.weight?.requiresGrad, true);
  bn.dispose();
});

test('FrozenBatchNorm2d equals torchvision formula bit for bit; ignores num_batches_tracked', () => {
  const f = new FrozenBatchNorm2d(3);
  const sd = new Map<string, Tensor>();
  for (const k of ['weight', 'bias', 'running_mean', 'running_var']) sd.set(k, oracle.get(`frozenbn.${k}`));
  tidy(() => {
    sd.set('num_batches_tracked', empty([], { dtype: 'int64' }).fill_(7));
    const r = f.loadStateDict(sd);
    assert.deepEqual(r, { missing: [], unexpected: [] });
    assertBits(f.forward(oracle.get('frozenbn.x')), oracle.get('frozenbn.y'), 'frozen bn');
  });
  assert.equal(f.parameters().length, 0);
  assert.equal(f.buffers().length, 4);
  f.dispose();
});

test('default inits: after manualSeed, Conv2d/Linear weights equal PyTorch under the same seed', () => {
  manualSeed(123);
  const conv = new Conv2d(3, 8, 3);
  const lin = new Linear(10, 5);
  const convG = new Conv2d(4, 6, [1, 3], { groups: 2, bias: false });
  assertBits(conv.weight, oracle.get('init.default.conv.weight'), 'conv weight');
  assertBits(conv.bias as Tensor, oracle.get('init.default.conv.bias'), 'conv bias');
  assertBits(lin.weight, oracle.get('init.default.linear.weight'), 'linear weight');
  assertBits(lin.bias as Tensor, oracle.get('init.default.linear.bias'), 'linear bias');
  assertBits(convG.weight, oracle.get('init.default.conv_g.weight'), 'grouped conv weight');
  for (const m of [conv, lin, convG]) m.dispose();
});

test('init functions: kaiming/xavier with a generator or the global seed equal PyTorch', () => {
  tidy(() => {
    const gen = new Generator(7);
    const a = kaimingNormal_(empty([16, 8, 3, 3]), { mode: 'fan_out', nonlinearity: 'relu', generator: gen });
    assertBits(a, oracle.get('init.kaiming_normal'), 'kaiming normal');
    assertBits(xavierUniform_(empty([6, 4]), 1.0, gen), oracle.get('init.xavier_uniform'), 'xavier uniform');
    manualSeed(5);
    const b = kaimingUniform_(empty([8, 4, 3, 3]), { a: 0.1 });
    assertBits(b, oracle.get('init.kaiming_uniform_leaky'), 'kaiming uniform leaky');
    const c = xavierNormal_(empty([5, 7]), calculateGain('tanh'));
    assertBits(c, oracle.get('init.xavier_normal'), 'xavier normal');
  });
  const j = oracleJson.init;
  assert.equal(calculateGain('leaky_relu', Math.sqrt(5)), j.gain_leaky_sqrt5);
  assert.equal(calculateGain('tanh'), j.gain_tanh);
  // mmdet's value comes from np.log, which differs from libm/V8 log by 1 ulp for p = 0.001.
  for (const [p, v] of Object.entries(j.bias_prob)) {
    const got = biasInitWithProb(Number(p));
    assert.ok(Math.abs(got - v) <= Number.EPSILON * Math.abs(v), `prior ${p}: ${got} vs ${v}`);
  }
});

test('Scale multiplies by a learnable 0-dim parameter named scale', () => {
  const s = new Scale(2.5);
  assert.deepEqual(
    s.namedParameters().map(([n, t]) => [n, t.shape]),
    [['scale', []]],
  );
  tidy(() => {
    const y = s.forward(oracle.get('linear.x'));
    assertBits(y, oracle.get('linear.x').mul(2.5), 'scaled');
    y.sum().backward();
    assert.equal(s.scale.grad?.item(), oracle.get('linear.x').sum().item());
  });
  s.dispose();
});
