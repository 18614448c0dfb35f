// ResNet against torchvision 0.14 / PyTorch 1.13 (scripts/fixtures/detection_models_oracle.py) at
// one intra-op thread: state-dict keys and shapes (ResNet-18 and -50), and ResNet-18's C3..C5 in
// eval and train mode plus gradients, bit for bit. Then properties: width multiplier, frozen
// stages, norm_eval, GroupNorm, zero-init-residual, out indices, torchvision-file loading.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  assertBits,
  assertClose,
  type DetectionOracleJson,
  loadOracle,
  readJsonFixture,
} from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { Generator } from '../../core/random.ts';
import { saveStateDict } from '../../core/serialize.ts';
import { dispose, noGrad, rand, randn, type Tensor, tidy, zeros } from '../../core/tensor.ts';
import { BatchNorm2d, GroupNorm } from '../../nn/norm.ts';
import { gnGroups } from './norm.ts';
import { BasicBlock, Bottleneck, type ResNet, resnet18, resnet50, scaleChannels } from './resnet.ts';

const oracle = loadOracle('detection-models');
const oracleJson = readJsonFixture<DetectionOracleJson>('detection-models/oracle.json');

native.setNumThreads(1);

/** The oracle's draw_weights, draw for draw (same libtorch generator, same order). */
function drawWeights(keys: [string, number[]][], seed: number): Map<string, Tensor> {
  const g = new Generator(seed);
  const out = new Map<string, Tensor>();
  for (const [name, shape] of keys) {
    let v: Tensor;
    if (name.endsWith('num_batches_tracked')) v = zeros([], { dtype: 'int64' });
    else if (name.endsWith('running_var')) v = tidy(() => rand(shape, { generator: g }).add(0.5));
    else if (name.endsWith('running_mean')) v = tidy(() => randn(shape, { generator: g }).mul(0.1));
    else if (shape.length === 4) {
      const fanOut = (shape[0] ?? 0) * (shape[2] ?? 0) * (shape[3] ?? 0);
      v = tidy(() => randn(shape, { generator: g }).mul(Math.sqrt(2.0 / fanOut)));
    } else if (name.endsWith('weight')) v = tidy(() => rand(shape, { generator: g }).add(0.5));
    else v = tidy(() => randn(shape, { generator: g }).mul(0.1));
    out.set(name, v);
  }
  return out;
}

function stateKeysShapes(m: ResNet): [string, number[]][] {
  return tidy(() => {
    const sd = m.stateDict();
    const out: [string, number[]][] = [...sd.entries()].map(([k, t]) => [k, t.shape]);
    dispose([...sd.values()]);
    return out;
  });
}

test('state-dict keys and shapes equal torchvision resnet18 / resnet50 (fc excluded)', () => {
  const j = oracleJson;
  const r18 = resnet18();
  assert.deepEqual(stateKeysShapes(r18), j.resnet18_keys);
  r18.dispose();
  const r50 = resnet50();
  assert.deepEqual(stateKeysShapes(r50), j.resnet50_keys);
  r50.dispose();
});

test('ResNet-18 C3..C5 (eval and train), running stats and gradients equal torchvision bit for bit', () => {
  const j = oracleJson;
  const m = resnet18();
  const w = drawWeights(j.resnet18_keys, j.resnet18_seed);
  for (const [k, t] of w) {
    const sum = tidy(() => t.to('float64').sum().item());
    assert.equal(sum, j.resnet18_checksums[k], `drawn weight ${k} differs from the oracle's draw`);
  }
  m.loadStateDict(w);
  dispose([...w.values()]);
  m.eval();
  noGrad(() =>
    tidy(() => {
      const outs = m.forward(oracle.get('resnet18.x'));
      ['c3', 'c4', 'c5'].forEach((n, i) => {
        assertBits(outs[i] as Tensor, oracle.get(`resnet18.eval.${n}`), `eval ${n}`);
      });
    }),
  );
  m.train();
  tidy(() => {
    const x = oracle.get('resnet18.x').clone().requiresGrad_(true);
    const [c3, c4, c5] = m.forward(x) as [Tensor, Tensor, Tensor];
    assertBits(c3, oracle.get('resnet18.train.c3'), 'train c3');
    assertBits(c4, oracle.get('resnet18.train.c4'), 'train c4');
    assertBits(c5, oracle.get('resnet18.train.c5'), 'train c5');
    c3.mean().add(c4.square().mean()).add(c5.abs().mean()).backward();
    assertBits(x.grad as Tensor, oracle.get('resnet18.train.gx'), 'grad x');
    const params = new Map(m.namedParameters());
    for (const k of ['conv1.weight', 'bn1.weight', 'layer3.0.downsample.1.weight', 'layer4.1.bn2.bias']) {
      assertBits(params.get(k)?.grad as Tensor, oracle.get(`resnet18.train.g.${k}`), `grad ${k}`);
    }
    const sd = m.stateDict();
    for (const k of [
      'bn1.running_mean',
      'layer2.0.bn1.running_var',
      'layer4.1.bn2.running_mean',
      'layer4.1.bn2.num_batches_tracked',
    ]) {
      assertBits(sd.get(k) as Tensor, oracle.get(`resnet18.train.sd.${k}`), `state ${k}`);
    }
  });
  m.dispose();
});

test('loadTorchvisionWeights: a file with torchvision keys (fc.* included) loads into bn, frozen-bn and gn', () => {
  const j = oracleJson;
  const dir = mkdtempSync(join(tmpdir(), 'detkd-resnet-'));
  try {
    const path = join(dir, 'resnet18.safetensors');
    const w = drawWeights(j.resnet18_keys, j.resnet18_seed);
    w.set('fc.weight', zeros([1000, 512]));
    w.set('fc.bias', zeros([1000]));
    saveStateDict(path, w);
    dispose([...w.values()]);

    const bn = resnet18();
    const r = bn.loadTorchvisionWeights(path);
    assert.deepEqual(r, { missing: [], unexpected: [] });
    bn.eval();
    noGrad(() =>
      tidy(() =>
        assertBits(
          bn.forward(oracle.get('resnet18.x'))[2] as Tensor,
          oracle.get('resnet18.eval.c5'),
          'bn eval c5',
        ),
      ),
    );
    bn.dispose();

    // FrozenBatchNorm2d folds the statistics into scale/shift (torchvision's formula), so it
    // rounds differently from batch_norm in eval: close, not bit-identical.
    const frozen = resnet18({ norm: 'frozen-bn' });
    frozen.loadTorchvisionWeights(path);
    assert.equal(
      frozen.numParameters(true),
      frozen.numParameters(),
      'frozen-bn: every parameter is a conv weight',
    );
    tidy(() => {
      const outs = frozen.forward(oracle.get('resnet18.x'));
      ['c3', 'c4', 'c5'].forEach((n, i) => {
        assertClose(outs[i] as Tensor, oracle.get(`resnet18.eval.${n}`), `frozen-bn ${n}`, 1e-4, 1e-4);
      });
    });
    frozen.dispose();

    const gn = resnet18({ norm: 'gn' });
    assert.deepEqual(gn.loadTorchvisionWeights(path), { missing: [], unexpected: [] });
    gn.dispose();

    const narrow = resnet18({ widthMultiplier: 0.5 });
    assert.throws(() => narrow.loadTorchvisionWeights(path), /size mismatch for 'conv1.weight'/);
    narrow.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('width multiplier: channel counts, rounding to multiples of 8, output shapes for 100x150', () => {
  assert.equal(scaleChannels(64, 1), 64);
  assert.equal(scaleChannels(64, 0.5), 32);
  assert.equal(scaleChannels(64, 0.25), 16);
  assert.equal(scaleChannels(64, 0.1), 8);
  assert.equal(scaleChannels(512, 0.3), 152);
  assert.throws(() => scaleChannels(64, 0), RangeError);

  const cases: [ResNet, number[], number][] = [
    [resnet18({ widthMultiplier: 0.5 }), [64, 128, 256], 32],
    [resnet18({ widthMultiplier: 0.25 }), [32, 64, 128], 16],
    [resnet50({ widthMultiplier: 0.25 }), [128, 256, 512], 16],
    [resnet50({ widthMultiplier: 0.5, norm: 'gn' }), [256, 512, 1024], 32],
  ];
  for (const [m, outCh, stem] of cases) {
    assert.deepEqual(m.outChannels, outCh);
    assert.deepEqual(m.outStrides, [8, 16, 32]);
    assert.equal(m.conv1.weight.size(0), stem);
    tidy(() => {
      const outs = m.forward(randn([1, 3, 100, 150]));
      assert.deepEqual(
        outs.map((o) => o.shape),
        [
          [1, outCh[0], 13, 19],
          [1, outCh[1], 7, 10],
          [1, outCh[2], 4, 5],
        ],
      );
    });
    m.dispose();
  }
});

function bnStats(m: ResNet, prefix: string): Tensor {
  const b = new Map(m.namedBuffers()).get(`${prefix}.running_mean`);
  if (b === undefined) throw new Error(`no buffer ${prefix}.running_mean`);
  return b.clone();
}

test('frozenStages: stem + stages up to k lose their gradients and keep their norm statistics', () => {
  for (const k of [-1, 0, 1, 2, 4]) {
    const m = resnet18({ widthMultiplier: 0.25, frozenStages: k });
    const frozenPrefixes = ['conv1.', 'bn1.', ...[1, 2, 3, 4].filter((s) => s <= k).map((s) => `layer${s}.`)];
    for (const [name, p] of m.namedParameters()) {
      const frozen = k >= 0 && frozenPrefixes.some((f) => name.startsWith(f));
      assert.equal(p.requiresGrad, !frozen, `frozenStages ${k}: ${name}`);
    }
    m.train();
    tidy(() => {
      const before = ['bn1', 'layer1.0.bn1', 'layer2.0.bn1', 'layer4.1.bn2'].map((p) => bnStats(m, p));
      const outs = m.forward(randn([2, 3, 64, 64]));
      const loss = outs.reduce((s, o) => s.add(o.mean()), zeros([]));
      if (k < 4) loss.backward();
      else assert.equal(loss.requiresGrad, false, 'everything frozen: no graph');
      ['bn1', 'layer1.0.bn1', 'layer2.0.bn1', 'layer4.1.bn2'].forEach((p, i) => {
        const stage = p === 'bn1' ? 0 : Number(p[5]);
        const unchanged = bnStats(m, p).equal(before[i] as Tensor);
        assert.equal(
          unchanged,
          stage <= k,
          `frozenStages ${k}: ${p} statistics ${unchanged ? 'kept' : 'updated'}`,
        );
      });
      for (const [name, p] of m.namedParameters()) {
        if (!p.requiresGrad) assert.equal(p.grad, null, `frozen ${name} got a gradient`);
      }
    });
    m.dispose();
  }
  assert.throws(() => resnet18({ frozenStages: 5 }), RangeError);
});

test('normEval: BN statistics never update in train mode, the affine still trains', () => {
  const m = resnet18({ widthMultiplier: 0.25, normEval: true });
  m.train();
  tidy(() => {
    const before = bnStats(m, 'layer2.0.bn1');
    m.forward(randn([2, 3, 32, 32]))[2]
      ?.sum()
      .backward();
    assert.ok(bnStats(m, 'layer2.0.bn1').equal(before));
    const w = new Map(m.namedParameters()).get('layer2.0.bn1.weight');
    assert.ok(w?.requiresGrad && w.grad !== null);
  });
  m.dispose();
});

test('GroupNorm variant: no BN buffers, torchvision names, groups from gnGroups', () => {
  const m = resnet50({ widthMultiplier: 0.25, norm: 'gn' });
  assert.deepEqual(m.namedBuffers(), []);
  const names = m.namedParameters().map(([n]) => n);
  assert.ok(names.includes('layer1.0.downsample.1.weight'));
  assert.ok(names.includes('bn1.bias'));
  for (const [, mod] of m.namedModules()) {
    assert.ok(!(mod instanceof BatchNorm2d));
    if (mod instanceof GroupNorm) assert.equal(mod.numGroups, gnGroups(mod.numChannels));
  }
  assert.equal(gnGroups(256), 32);
  assert.equal(gnGroups(64), 32);
  assert.equal(gnGroups(16), 8);
  assert.equal(gnGroups(8), 4);
  assert.equal(gnGroups(24), 12);
  assert.equal(gnGroups(7), 1);
  tidy(() => assert.deepEqual(m.forward(randn([1, 3, 64, 64]))[0]?.shape, [1, 128, 8, 8]));
  m.dispose();
});

test('init: kaiming normal fan_out for convs, norms 1/0, zero-init-residual zeroes the last norm of each block', () => {
  const m = resnet50({ widthMultiplier: 0.5, zeroInitResidual: true, generator: new Generator(3) });
  const w = m.layer3.at(0);
  assert.ok(w instanceof Bottleneck);
  tidy(() => {
    const cw = w.conv2.weight; // [128, 128, 3, 3], fan_out 128 * 9
    const std = cw.std().item();
    const want = Math.sqrt(2 / (128 * 9));
    assert.ok(Math.abs(std - want) / want < 0.05, `conv std ${std} vs ${want}`);
    assert.equal(w.bn3.weight?.abs().sum().item(), 0);
    assert.equal(w.bn2.weight?.sum().item(), 128);
    assert.equal(w.bn2.bias?.abs().sum().item(), 0);
  });
  m.dispose();
  const r = resnet18({ widthMultiplier: 0.25, zeroInitResidual: true });
  const b = r.layer1.at(1);
  assert.ok(b instanceof BasicBlock);
  tidy(() => assert.equal(b.bn2.weight?.abs().sum().item(), 0));
  r.dispose();
});

test('outIndices: 1-based stages, strides 4..32; invalid lists throw', () => {
  const m = resnet18({ widthMultiplier: 0.25, outIndices: [1, 2, 3, 4] });
  assert.deepEqual(m.outChannels, [16, 32, 64, 128]);
  assert.deepEqual(m.outStrides, [4, 8, 16, 32]);
  tidy(() =>
    assert.deepEqual(
      m.forward(randn([1, 3, 64, 96])).map((o) => o.shape.slice(2)),
      [
        [16, 24],
        [8, 12],
        [4, 6],
        [2, 3],
      ],
    ),
  );
  m.dispose();
  const c5 = resnet18({ widthMultiplier: 0.25, outIndices: [4] });
  assert.deepEqual(c5.outChannels, [128]);
  c5.dispose();
  assert.throws(() => resnet18({ outIndices: [0, 1] }), RangeError);
  assert.throws(() => resnet18({ outIndices: [3, 2] }), RangeError);
  assert.throws(() => resnet18({ outIndices: [] }), RangeError);
});
