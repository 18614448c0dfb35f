// MAC counting (src/nn/macs.ts) against hand-computed counts and ResNet-18's known value, and
// `detkd info` against the model's own parameter counts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { modelInfo, recipeInputSize } from '../../src/app/model-info.ts';
import { type DetectionRecipe, loadRecipe } from '../../src/app/recipe.ts';
import { noGrad, tidy, zeros } from '../../src/core/tensor.ts';
import { ResNet } from '../../src/detection/backbones/resnet.ts';
import { buildDetector } from '../../src/detection/models/build.ts';
import { ReLU } from '../../src/nn/activation.ts';
import { Sequential } from '../../src/nn/containers.ts';
import { Conv2d } from '../../src/nn/conv.ts';
import { Linear } from '../../src/nn/linear.ts';
import { countMacs, macsByPrefix } from '../../src/nn/macs.ts';

describe('countMacs', () => {
  test('a small net, by hand: strides, padding, groups, linear on [N, ..., in]', () => {
    const net = new Sequential(
      new Conv2d(3, 8, 3, { padding: 1 }), // 10x12 -> 10x12
      new ReLU(),
      new Conv2d(8, 16, 3, { stride: 2, padding: 1, groups: 2 }), // -> 5x6
      new Conv2d(16, 4, 1, { bias: false }), // -> 5x6
    );
    const head = new Linear(6, 5);
    const { result, count } = countMacs(net, () =>
      noGrad(() => tidy(() => head.forward(net.forward(zeros([2, 3, 10, 12]))).shape)),
    );
    assert.deepEqual(result, [2, 4, 5, 5]);
    const conv1 = 2 * 8 * 10 * 12 * (3 * 3 * 3);
    const conv2 = 2 * 16 * 5 * 6 * ((8 / 2) * 3 * 3);
    const conv3 = 2 * 4 * 5 * 6 * 16;
    // head is outside `net`: not counted.
    assert.deepEqual(
      count.records.map((r) => [r.path, r.kind, r.macs]),
      [
        ['0', 'conv2d', conv1],
        ['2', 'conv2d', conv2],
        ['3', 'conv2d', conv3],
      ],
    );
    assert.equal(count.total, conv1 + conv2 + conv3);
    assert.deepEqual(count.records[1]!.input, [2, 8, 10, 12]);
    assert.deepEqual(count.records[1]!.output, [2, 16, 5, 6]);

    const both = new Sequential(net, head);
    const { count: c2 } = countMacs(both, () =>
      noGrad(() => tidy(() => void both.forward(zeros([1, 3, 10, 12])))),
    );
    assert.equal(c2.total, (conv1 + conv2 + conv3) / 2 + 1 * 4 * 5 * 5 * 6);
    assert.deepEqual(
      [...macsByPrefix(c2)],
      [
        ['0', (conv1 + conv2 + conv3) / 2],
        ['1', 4 * 5 * 5 * 6],
      ],
    );
  });

  test('modules are restored afterwards, also when the run throws; shared modules count per call', () => {
    const conv = new Conv2d(2, 2, 1, { bias: false });
    const proto = Object.getPrototypeOf(conv) as { forward: unknown };
    assert.throws(
      () =>
        countMacs(conv, () => {
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(Object.hasOwn(conv, 'forward'), false);
    assert.equal(conv.forward, proto.forward);
    const twice = new Sequential(conv, conv);
    const { count } = countMacs(twice, () =>
      noGrad(() => tidy(() => void twice.forward(zeros([1, 2, 3, 3])))),
    );
    assert.equal(count.records.length, 2);
    assert.equal(count.total, 2 * (2 * 3 * 3 * 2));
    assert.equal(Object.hasOwn(conv, 'forward'), false);
  });

  test("ResNet-18 at 224x224: 1.814 GMACs minus the fc's 512 000", () => {
    const r = new ResNet({ depth: 18, outIndices: [4], norm: 'bn' });
    r.eval();
    const { count } = countMacs(r, () => noGrad(() => tidy(() => void r.forward(zeros([1, 3, 224, 224])))));
    // conv1 118 013 952 + layer1 4 x 115 605 504 + 3 x (57 802 752 + 3 x 115 605 504 + 6 422 528)
    assert.equal(count.total, 1_813_561_344);
    assert.equal(
      (count.total + 512 * 1000) / 1e9 > 1.8135 && (count.total + 512 * 1000) / 1e9 < 1.8145,
      true,
    );
    r.dispose();
  });
});

describe('detkd info', () => {
  test('per-part params equal numParameters(); MACs per part add up; input from data.resize', async () => {
    const recipe = await loadRecipe('recipes/tiny.ts');
    const info = modelInfo(recipe);
    assert.deepEqual(info.inputShape, [1, 3, 128, 128]);
    const det = buildDetector(recipe.model);
    try {
      assert.equal(info.total.params, det.numParameters());
      assert.equal(info.total.trainable, det.numParameters(true));
      assert.deepEqual(Object.keys(info.parts), ['backbone', 'neck', 'bbox_head']);
      for (const [name, child] of det.namedChildren())
        assert.equal(info.parts[name]!.params, child.numParameters());
    } finally {
      det.dispose();
    }
    const parts = Object.values(info.parts);
    assert.equal(
      parts.reduce((s, p) => s + p.macs, 0),
      info.total.macs,
    );
    assert.ok(parts.every((p) => p.macs > 0));
    // MACs scale with the pixel count (all layers are convolutions; sizes divisible by 32).
    const big = modelInfo(recipe, [256, 256]);
    assert.equal(big.total.macs, 4 * info.total.macs);
    assert.equal(big.total.params, info.total.params);
  });

  test('keepRatio input size is short x max, padded to 32', async () => {
    const tiny = await loadRecipe('recipes/tiny.ts');
    const r: DetectionRecipe = {
      ...tiny,
      data: { ...tiny.data, resize: { kind: 'keepRatio', short: 800, max: 1333 } },
    };
    assert.deepEqual(recipeInputSize(r), [800, 1344]);
  });

  test('the command: text names the convention; --json parses', () => {
    const t = spawnSync(process.execPath, ['bin/detkd.js', 'info', 'recipes/tiny.ts'], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /^backbone +[\d.]+ K +[\d.]+ K +[\d.]+ M/m);
    assert.match(t.stdout, /MACs: one multiply-add = 1/);
    const j = spawnSync(
      process.execPath,
      ['bin/detkd.js', 'info', 'recipes/tiny.ts', '--json', '--input', '64x64'],
      { encoding: 'utf8' },
    );
    assert.equal(j.status, 0, j.stderr);
    const o = JSON.parse(j.stdout) as { inputShape: number[]; total: { macs: number } };
    assert.deepEqual(o.inputShape, [1, 3, 64, 64]);
    assert.ok(o.total.macs > 0);
  });
});
