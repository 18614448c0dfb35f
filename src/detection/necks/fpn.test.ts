// FPN against mmdetection's FPN.forward re-implemented in plain PyTorch 1.13
// (scripts/fixtures/detection_models_oracle.py), one intra-op thread: outputs and gradients
// (inputs and every parameter) bit for bit on the fixtures' BLAS kernels (within a few ULPs on
// others: test/support/oracle.ts gemmTolerance) for five configurations, on C3..C5 sizes of a 100x150
// image (13x19, 7x10, 4x5: the top-down upsampling is to the exact finer size, not x2). Then
// properties: names, init, shapes with a real backbone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertGemmOracle,
  type DetectionOracleJson,
  loadOracle,
  readJsonFixture,
} from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { randn, type Tensor, tidy, zeros } from '../../core/tensor.ts';
import { resnet18 } from '../backbones/resnet.ts';
import { FPN } from './fpn.ts';

const oracle = loadOracle('detection-models');
const oracleJson = readJsonFixture<DetectionOracleJson>('detection-models/oracle.json');

native.setNumThreads(1);

for (const [name, cfg] of Object.entries(oracleJson.fpn.configs)) {
  test(`FPN '${name}' outputs and gradients equal mmdet's FPN (bit for bit on the fixtures' BLAS kernels)`, () => {
    const j = oracleJson.fpn;
    const fpn = new FPN({
      inChannels: j.in_channels,
      outChannels: j.out_channels,
      numOuts: cfg.num_outs,
      startLevel: cfg.start_level,
      addExtraConvs: cfg.add_extra_convs,
      reluBeforeExtraConvs: cfg.relu_before_extra_convs,
      norm: cfg.norm ? 'gn' : null,
    });
    assert.deepEqual(
      fpn.namedParameters().map(([n]) => n),
      cfg.params,
    );
    const params = oracle.prefixed(`fpn.${name}.p.`);
    fpn.loadStateDict(params);
    tidy(() => {
      const xs = [0, 1, 2].map((i) => oracle.get(`fpn.in${i}`).clone().requiresGrad_(true));
      const outs = fpn.forward(xs);
      assert.deepEqual(
        outs.map((o) => o.shape),
        cfg.out_shapes,
      );
      let loss = zeros([]);
      outs.forEach((o, l) => {
        assertGemmOracle(o, oracle.get(`fpn.${name}.out${l}`), `out ${l}`);
        loss = loss.add(o.mul(oracle.get(`fpn.${name}.go${l}`)).sum());
      });
      loss.backward();
      xs.forEach((x, i) => {
        if (oracle.has(`fpn.${name}.gin${i}`))
          assertGemmOracle(x.grad as Tensor, oracle.get(`fpn.${name}.gin${i}`), `grad in${i}`);
        else assert.equal(x.grad, null, `input ${i} is unused`);
      });
      for (const [k, p] of fpn.namedParameters()) {
        assertGemmOracle(p.grad as Tensor, oracle.get(`fpn.${name}.g.${k}`), `grad ${k}`);
      }
    });
    fpn.dispose();
  });
}

test('mmdet names and init: xavier-uniform convs, zero bias; GN convs have no bias', () => {
  const fpn = new FPN({ inChannels: [64, 128, 256], outChannels: 32, numOuts: 5, addExtraConvs: 'on_input' });
  const names = fpn.namedParameters().map(([n]) => n);
  assert.deepEqual(names.slice(0, 2), ['lateral_convs.0.conv.weight', 'lateral_convs.0.conv.bias']);
  assert.equal(names.at(-2), 'fpn_convs.4.conv.weight');
  tidy(() => {
    // P6 conv reads C5 (on_input): [32, 256, 3, 3]
    const w = fpn.fpnConvs.at(3).conv.weight;
    assert.deepEqual(w.shape, [32, 256, 3, 3]);
    const bound = Math.sqrt(6 / (256 * 9 + 32 * 9));
    assert.ok(w.abs().max().item() <= bound);
    assert.ok(w.abs().max().item() > 0.9 * bound);
    for (const m of [...fpn.lateralConvs, ...fpn.fpnConvs]) assert.equal(m.conv.bias?.abs().sum().item(), 0);
  });
  assert.deepEqual(fpn.outStrides(8), [8, 16, 32, 64, 128]);
  fpn.dispose();

  const gn = new FPN({
    inChannels: [16, 32, 64],
    outChannels: 32,
    numOuts: 5,
    addExtraConvs: 'on_output',
    norm: 'gn',
  });
  assert.equal(
    gn.namedParameters().some(([n]) => n.endsWith('conv.bias')),
    false,
  );
  assert.ok(gn.namedParameters().some(([n]) => n === 'fpn_convs.4.gn.weight'));
  gn.dispose();
  const noLat = new FPN({
    inChannels: [16, 32],
    outChannels: 16,
    numOuts: 2,
    norm: 'gn',
    noNormOnLateral: true,
  });
  assert.deepEqual(
    noLat
      .namedParameters()
      .map(([n]) => n)
      .filter((n) => n.startsWith('lateral')),
    [
      'lateral_convs.0.conv.weight',
      'lateral_convs.0.conv.bias',
      'lateral_convs.1.conv.weight',
      'lateral_convs.1.conv.bias',
    ],
  );
  noLat.dispose();
  assert.throws(() => new FPN({ inChannels: [8, 16, 32], outChannels: 8, numOuts: 2 }), RangeError);
});

test('ResNet + FPN on non-divisible inputs: P3..P7 shapes follow the backbone sizes', () => {
  const backbone = resnet18({ widthMultiplier: 0.25, norm: 'gn' });
  const fpn = new FPN({
    inChannels: backbone.outChannels,
    outChannels: 16,
    numOuts: 5,
    addExtraConvs: 'on_output',
    reluBeforeExtraConvs: true,
    norm: 'gn',
  });
  for (const [h, w, want] of [
    [
      100,
      150,
      [
        [13, 19],
        [7, 10],
        [4, 5],
        [2, 3],
        [1, 2],
      ],
    ],
    [
      97,
      131,
      [
        [13, 17],
        [7, 9],
        [4, 5],
        [2, 3],
        [1, 2],
      ],
    ],
    [
      128,
      64,
      [
        [16, 8],
        [8, 4],
        [4, 2],
        [2, 1],
        [1, 1],
      ],
    ],
  ] as const) {
    tidy(() => {
      const outs = fpn.forward(backbone.forward(randn([2, 3, h, w])));
      assert.deepEqual(
        outs.map((o) => o.shape),
        want.map(([a, b]) => [2, 16, a, b]),
        `${h}x${w}`,
      );
    });
  }
  backbone.dispose();
  fpn.dispose();
});
