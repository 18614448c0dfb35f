// The torchvision and mmdet Faster R-CNN presets: one test per row where the two differ
// (docs/two-stage.md, "Presets"), each on the built detector's behaviour or on the setting at the
// piece that uses it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../core/native.ts';
import { Generator } from '../../core/random.ts';
import { randn, type Tensor, tensor, tidy, zeros } from '../../core/tensor.ts';
import { mapRoiLevels } from '../roi/multi-scale-roi-align.ts';
import { filterProposals } from '../rpn/rpn.ts';
import { randpermSource } from '../samplers/random-sampler.ts';
import type { TwoStageDetector, TwoStageForward } from '../two-stage.ts';
import {
  buildFasterRcnn,
  DEFAULT_FASTER_RCNN_PRESET,
  FASTER_RCNN_PRESETS,
  type FasterRcnnPreset,
  type FasterRcnnPresetName,
} from './faster-rcnn-presets.ts';

native.setNumThreads(1);

function tiny(preset: FasterRcnnPresetName | FasterRcnnPreset, seed = 0): TwoStageDetector {
  return buildFasterRcnn({
    preset,
    numClasses: 3,
    backbone: { depth: 18, widthMultiplier: 0.125, norm: 'frozen-bn' },
    fpnChannels: 16,
    fcOutChannels: 32,
    generator: new Generator(seed),
  });
}

const tv = tiny('torchvision');
const mm = tiny('mmdet');

/** A forward value holding only what assignRpn / sampleRoiTargets read. */
function partial(f: Partial<TwoStageForward>): TwoStageForward {
  return f as TwoStageForward;
}

test('presets: mmdet is the default; buildFasterRcnn without a preset is mmdet', () => {
  assert.equal(DEFAULT_FASTER_RCNN_PRESET, 'mmdet');
  const d = buildFasterRcnn({
    numClasses: 2,
    backbone: { depth: 18, widthMultiplier: 0.125 },
    fpnChannels: 8,
    fcOutChannels: 8,
  });
  assert.equal(d.background, 'last');
  assert.equal(d.roiAlign.options.aligned, true);
});

test('presets anchors: torchvision base anchors rounded, mmdet float', () => {
  tidy(() => {
    for (let l = 0; l < 5; l++) {
      const t = tv.anchors.baseAnchors(l);
      const m = mm.anchors.baseAnchors(l);
      assert.deepEqual(t.toArray(), t.round().toArray());
      assert.notDeepEqual(m.toArray(), m.round().toArray());
    }
  });
});

test('presets RoIAlign: aligned false / sampling 2 vs aligned true / sampling 0, outputs differ', () => {
  assert.equal(tv.roiAlign.options.aligned, false);
  assert.equal(tv.roiAlign.options.samplingRatio, 2);
  assert.equal(mm.roiAlign.options.aligned, true);
  assert.equal(mm.roiAlign.options.samplingRatio, 0);
  tidy(() => {
    const g = new Generator(1);
    const feats = [16, 8, 4, 2].map((s) => randn([1, 4, s, s], { generator: g }));
    const rois = tensor([[0, 3.3, 5.1, 40.7, 50.2]]);
    const a = tv.roiAlign.forward(feats, rois);
    const b = mm.roiAlign.forward(feats, rois);
    assert.deepEqual(a.shape, b.shape);
    assert.ok(a.sub(b).abs().max().item() > 1e-3);
  });
});

test('presets level mapper: torchvision canonical 224 and mmdet finest 56 give the same bins', () => {
  assert.equal(tv.roiAlign.options.mapper ?? 'torchvision', 'torchvision');
  assert.equal(mm.roiAlign.options.mapper, 'mmdet');
  tidy(() => {
    const sides = [8, 40, 111, 113, 200, 250, 500, 900];
    const rois = tensor(sides.map((s) => [0, 0, 0, s, s]));
    assert.deepEqual(
      mapRoiLevels(rois, tv.roiAlign.options).toArray(),
      mapRoiLevels(rois, mm.roiAlign.options).toArray(),
    );
  });
});

test('presets box loss: smooth-L1 beta 1/9 (torchvision) vs L1 (mmdet), RPN and RoI, same weights and draws', () => {
  const p = FASTER_RCNN_PRESETS.torchvision;
  const l1 = tiny({
    ...p,
    rpnLoss: FASTER_RCNN_PRESETS.mmdet.rpnLoss,
    roiLoss: FASTER_RCNN_PRESETS.mmdet.roiLoss,
  });
  l1.loadStateDict(tv.stateDict());
  tidy(() => {
    const img = randn([1, 3, 64, 64], { generator: new Generator(2) }).sigmoid();
    const gts = [{ boxes: tensor([[8, 8, 40, 36]]), labels: tensor([1], { dtype: 'int64' }) }];
    const run = (d: TwoStageDetector) =>
      d.losses(img, gts, {
        rpnSource: randpermSource(new Generator(3)),
        roiSource: randpermSource(new Generator(4)),
      });
    const s = run(tv);
    const a = run(l1);
    assert.equal(s.loss_objectness.item(), a.loss_objectness.item());
    assert.equal(s.loss_classifier.item(), a.loss_classifier.item());
    // L1 >= smooth-L1 elementwise, strictly where any positive has a nonzero residual.
    assert.ok(a.loss_rpn_box_reg.item() > s.loss_rpn_box_reg.item());
    assert.ok(a.loss_box_reg.item() > s.loss_box_reg.item());
  });
});

test('presets proposals: training 2000/2000 (torchvision) vs 2000/1000 (mmdet) reach forward', () => {
  for (const [d, post] of [
    [tv, 2000],
    [mm, 1000],
  ] as const) {
    assert.equal(d.rpnTrain.preNmsTopN, 2000);
    assert.equal(d.rpnTrain.postNmsTopN, post);
    assert.equal(d.rpnTest.postNmsTopN, 1000);
  }
  assert.equal(tv.rpnCoder, 'torchvision');
  assert.equal(mm.rpnCoder, 'mmdet');
});

test('presets minimum size: torchvision drops a 5e-4 wide proposal (side >= 1e-3), mmdet keeps it (side > 0)', () => {
  tidy(() => {
    const anchors = tensor([
      [10, 10, 10.0005, 30],
      [40, 40, 60, 60],
    ]);
    const keep = (d: TwoStageDetector) =>
      filterProposals(anchors, zeros([1, 2]), zeros([1, 2, 4]), [2], [[64, 64]], {
        coder: d.rpnCoder,
        ...d.rpnTrain,
      })[0]?.boxes.size(0);
    assert.equal(keep(tv), 1);
    assert.equal(keep(mm), 2);
  });
});

test('presets RPN low-quality matching: torchvision claims at any IoU, mmdet only at IoU >= 0.3', () => {
  tidy(() => {
    const anchors = tensor([
      [0, 0, 32, 32],
      [32, 32, 64, 64],
    ]);
    const gts = [{ boxes: tensor([[0, 0, 4, 4]]), labels: tensor([0], { dtype: 'int64' }) }];
    const f = partial({ anchors });
    const labels = (d: TwoStageDetector) =>
      d.assignRpn(f, gts, randpermSource(new Generator(0))).assignments[0]?.labels.toArray();
    assert.deepEqual(labels(tv), [1, 0]);
    assert.deepEqual(labels(mm), [0, 0]);
  });
});

test('presets background index: sampled labels use 0 (torchvision) vs N (mmdet) for background', () => {
  tidy(() => {
    const gts = [{ boxes: tensor([[0, 0, 20, 20]]), labels: tensor([0], { dtype: 'int64' }) }];
    const f = partial({ proposals: [{ boxes: tensor([[40, 40, 60, 60]]), scores: tensor([0.9]) }] });
    const labels = (d: TwoStageDetector) =>
      d
        .sampleRoiTargets(f, gts, randpermSource(new Generator(0)))
        .labels.toArray()
        .sort((x, y) => x - y);
    assert.deepEqual(labels(tv), [0, 1]); // GT class 0 -> 1, background 0
    assert.deepEqual(labels(mm), [0, 3]); // GT class 0 -> 0, background 3
    assert.equal(tv.roiTest.backgroundLabel, 0);
    assert.equal(mm.roiTest.backgroundLabel, 3);
  });
});

test('presets box regression outputs: 4 (N + 1) (torchvision) vs 4 N (mmdet)', () => {
  tidy(() => {
    const x = zeros([2, 16, 7, 7]);
    assert.equal(tv.bboxHead.forward(x).bboxPred.size(1), 16);
    assert.equal(mm.bboxHead.forward(x).bboxPred.size(1), 12);
  });
});

test('presets initialisation: box head Linear defaults (torchvision) vs Xavier / N(0, 0.01) (mmdet); RPN N(0, 0.01) in both', () => {
  tidy(() => {
    const bias = (t: Tensor) => t.abs().max().item();
    assert.ok(bias(tv.bboxHead.clsScore.bias as Tensor) > 0);
    assert.equal(bias(mm.bboxHead.clsScore.bias as Tensor), 0);
    assert.equal(bias(mm.bboxHead.fc6.bias as Tensor), 0);
    const std = mm.bboxHead.clsScore.weight.std().item();
    assert.ok(std > 0.005 && std < 0.02, `mmdet fc_cls std ${std}`);
    for (const d of [tv, mm]) {
      const s = d.rpnHead.conv.weight.std().item();
      assert.ok(s > 0.008 && s < 0.012, `rpn std ${s}`);
    }
  });
});

test('presets test post-processing: torchvision drops boxes below 1e-2, mmdet none', () => {
  assert.equal(tv.roiTest.minSize, 1e-2);
  assert.equal(mm.roiTest.minSize, 0);
});
