// mapWeights on mmdetection layouts and its strict reporting. There is no mmdetection here: the
// expected key lists and shapes are written below from mmdetection's source (2.x/3.x, the same
// names): backbones/resnet.py (conv1, bn1, layer{s}.{b}.conv{1,2}/bn{1,2}/downsample.{0,1}),
// necks/fpn.py (lateral_convs.{i}.conv, fpn_convs.{i}.conv, extra convs continuing fpn_convs),
// dense_heads/{retina,atss,gfl,fcos}_head.py over anchor_head/anchor_free_head (cls_convs/reg_convs
// ConvModules, `gn` when norm_cfg is GN and conv_bias 'auto' then has no bias; retina_cls/reg,
// atss_cls/reg/centerness, gfl_cls/reg with 4 * (reg_max + 1), conv_cls/reg/centerness,
// scales.{l}.scale), rpn_head.py (rpn_conv, rpn_cls with sigmoid: num_anchors outputs, rpn_reg)
// and roi_heads/bbox_heads/convfc_bbox_head.py (shared_fcs.{0,1}, fc_cls num_classes + 1 with the
// background last, fc_reg 4 * num_classes).
//
// What these tests prove: a checkpoint with exactly those keys and shapes maps strictly onto the
// detkd detector of the same configuration, every tensor lands where its name says (values are
// tagged per key), and the background row and class-specific regression rows move as mmdet's
// layout requires. What they cannot prove: that mmdetection computes the same function from those
// weights (no mmdetection forward here; the torchvision oracle covers that for its layouts), nor
// keys of mmdet variants not written here (DCN, caffe-style stems, shared-conv RPNs).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DetkdError } from '../../core/errors.ts';
import { full, type Tensor, tensor, tidy } from '../../core/tensor.ts';
import { ResNet } from '../../detection/backbones/resnet.ts';
import type { DenseDetector } from '../../detection/detector.ts';
import { buildDetector } from '../../detection/models/build.ts';
import type { TwoStageDetector } from '../../detection/two-stage.ts';
import { mapWeights, mmdetConventions } from './mapping.ts';

type Shapes = [string, number[]][];

/** mmdet / torchvision ResNet-18/34 (BasicBlock) keys, stage widths `w` (stem w[0]). */
function resnetKeys(prefix: string, w: number[], layers: number[]): Shapes {
  const bn = (n: string, c: number): Shapes => [
    ...['weight', 'bias', 'running_mean', 'running_var'].map((p): [string, number[]] => [`${n}.${p}`, [c]]),
    [`${n}.num_batches_tracked`, []],
  ];
  const out: Shapes = [[`${prefix}conv1.weight`, [w[0]!, 3, 7, 7]], ...bn(`${prefix}bn1`, w[0]!)];
  let cin = w[0]!;
  layers.forEach((n, s) => {
    const p = w[s]!;
    for (let b = 0; b < n; b++) {
      const k = `${prefix}layer${s + 1}.${b}`;
      out.push([`${k}.conv1.weight`, [p, b === 0 ? cin : p, 3, 3]], ...bn(`${k}.bn1`, p));
      out.push([`${k}.conv2.weight`, [p, p, 3, 3]], ...bn(`${k}.bn2`, p));
      if (b === 0 && (s > 0 || cin !== p))
        out.push([`${k}.downsample.0.weight`, [p, cin, 1, 1]], ...bn(`${k}.downsample.1`, p));
    }
    cin = p;
  });
  return out;
}

/** mmdet FPN (no norm: convs with bias) on C3..C5, 5 outputs, the first extra conv on C5 or P5. */
function fpnKeys(ins: number[], c: number, extra: 'on_input' | 'on_output'): Shapes {
  const out: Shapes = [];
  ins.forEach((cin, i) => {
    out.push(
      [`neck.lateral_convs.${i}.conv.weight`, [c, cin, 1, 1]],
      [`neck.lateral_convs.${i}.conv.bias`, [c]],
    );
  });
  for (let i = 0; i < 5; i++) {
    const cin = i === 3 && extra === 'on_input' ? ins[2]! : c;
    out.push(
      [`neck.fpn_convs.${i}.conv.weight`, [c, i < 3 ? c : cin, 3, 3]],
      [`neck.fpn_convs.${i}.conv.bias`, [c]],
    );
  }
  return out;
}

/** Head towers: ConvModules with bias (no norm) or `gn` (GN, bias-free conv unless convBias). */
function towerKeys(c: number, n: number, gn: boolean, convBias = false): Shapes {
  const out: Shapes = [];
  for (const t of ['cls_convs', 'reg_convs']) {
    for (let i = 0; i < n; i++) {
      out.push([`bbox_head.${t}.${i}.conv.weight`, [c, c, 3, 3]]);
      if (!gn || convBias) out.push([`bbox_head.${t}.${i}.conv.bias`, [c]]);
      if (gn) out.push([`bbox_head.${t}.${i}.gn.weight`, [c]], [`bbox_head.${t}.${i}.gn.bias`, [c]]);
    }
  }
  return out;
}

const conv3 = (name: string, cout: number, c: number): Shapes => [
  [`bbox_head.${name}.weight`, [cout, c, 3, 3]],
  [`bbox_head.${name}.bias`, [cout]],
];
const scales: Shapes = [0, 1, 2, 3, 4].map((l) => [`bbox_head.scales.${l}.scale`, []]);

const W = [8, 16, 32, 64]; // ResNet-18 at width 0.125
const C = 64; // FPN / head channels: GroupNorm(32) as mmdet's heads
const K = 3; // classes
const backboneKeys = resnetKeys('backbone.', W, [2, 2, 2, 2]);

function mmdetDense(kind: 'retina' | 'atss' | 'gfl' | 'fcos', fcosConvBias = false): Shapes {
  const neck = fpnKeys(W.slice(1), C, kind === 'retina' ? 'on_input' : 'on_output');
  const head: Shapes =
    kind === 'retina'
      ? [...towerKeys(C, 2, false), ...conv3('retina_cls', 9 * K, C), ...conv3('retina_reg', 36, C)]
      : kind === 'atss'
        ? [
            ...towerKeys(C, 2, true),
            ...conv3('atss_cls', K, C),
            ...conv3('atss_reg', 4, C),
            ...conv3('atss_centerness', 1, C),
            ...scales,
          ]
        : kind === 'gfl'
          ? [...towerKeys(C, 2, true), ...conv3('gfl_cls', K, C), ...conv3('gfl_reg', 4 * 17, C), ...scales]
          : [
              ...towerKeys(C, 2, true, fcosConvBias),
              ...conv3('conv_cls', K, C),
              ...conv3('conv_reg', 4, C),
              ...conv3('conv_centerness', 1, C),
              ...scales,
            ];
  return [...backboneKeys, ...neck, ...head];
}

/** A checkpoint whose entry i is filled with the value i + 1 (so where each lands is checked). */
function checkpoint(keys: Shapes): Map<string, Tensor> {
  return new Map(
    keys.map(([k, s], i) => [
      k,
      k.endsWith('num_batches_tracked') ? full(s, i, { dtype: 'int64' }) : full(s, i + 1),
    ]),
  );
}

function denseDet(kind: 'retina' | 'atss' | 'gfl' | 'fcos'): DenseDetector {
  return buildDetector({
    kind,
    numClasses: K,
    backbone: { depth: 18, widthMultiplier: 0.125 },
    channels: C,
    stackedConvs: 2,
    neckNorm: null,
    headNorm: kind === 'retina' ? null : 'gn',
  });
}

for (const kind of ['retina', 'atss', 'gfl', 'fcos'] as const) {
  test(`mmdet ${kind}: the key list from mmdet's source maps strictly, every entry where its name says`, () => {
    tidy(() => {
      const keys = mmdetDense(kind);
      const det = denseDet(kind);
      const src = checkpoint(keys);
      const { stateDict, report } = mapWeights(det, src, 'mmdet');
      assert.equal(report.loaded, keys.length);
      assert.deepEqual(report.unusedSource, []);
      assert.deepEqual(report.unfilledTarget, []);
      det.loadStateDict(stateDict, { strict: true });
      const live = det.stateDict();
      keys.forEach(([k], i) => {
        const t = live.get(k);
        assert.ok(t !== undefined, k);
        if (!k.endsWith('num_batches_tracked')) assert.equal(t.flatten().select(0, 0).item(), i + 1, k);
      });
    });
  });
}

test('mmdet FCOS with conv_bias=True: zero tower biases dropped (exact), non-zero ones refused by name', () => {
  tidy(() => {
    const det = denseDet('fcos');
    const src = checkpoint(mmdetDense('fcos', true));
    const biases = [...src.keys()].filter((k) => /^bbox_head\.(cls|reg)_convs\.\d+\.conv\.bias$/.test(k));
    assert.equal(biases.length, 4);
    assert.throws(
      () => mapWeights(det, src, 'mmdet', { what: 'fcos.pth' }),
      (e: Error) =>
        e instanceof DetkdError &&
        e.message.includes(
          'fcos.pth: bbox_head.cls_convs.0.conv.bias is a non-zero conv bias before GroupNorm',
        ),
    );
    for (const k of biases) src.set(k, full([C], 0));
    const { report } = mapWeights(det, src, 'mmdet');
    assert.deepEqual(report.unusedSource.sort(), biases.sort());
    assert.ok(report.notes.some((n) => n.startsWith('ignored 4 zero conv biases before GroupNorm')));
  });
});

test('mmdet Faster R-CNN: RPN and Shared2FC names, background row moved first, foreground-only regression padded', () => {
  tidy(() => {
    const fc = 32;
    const ch = 16;
    const keys: Shapes = [
      ...resnetKeys('backbone.', W, [2, 2, 2, 2]),
      ...W.flatMap(
        (cin, i): Shapes => [
          [`neck.lateral_convs.${i}.conv.weight`, [ch, cin, 1, 1]],
          [`neck.lateral_convs.${i}.conv.bias`, [ch]],
          [`neck.fpn_convs.${i}.conv.weight`, [ch, ch, 3, 3]],
          [`neck.fpn_convs.${i}.conv.bias`, [ch]],
        ],
      ),
      ['rpn_head.rpn_conv.weight', [ch, ch, 3, 3]],
      ['rpn_head.rpn_conv.bias', [ch]],
      ['rpn_head.rpn_cls.weight', [3, ch, 1, 1]],
      ['rpn_head.rpn_cls.bias', [3]],
      ['rpn_head.rpn_reg.weight', [12, ch, 1, 1]],
      ['rpn_head.rpn_reg.bias', [12]],
      ['roi_head.bbox_head.shared_fcs.0.weight', [fc, ch * 49]],
      ['roi_head.bbox_head.shared_fcs.0.bias', [fc]],
      ['roi_head.bbox_head.shared_fcs.1.weight', [fc, fc]],
      ['roi_head.bbox_head.shared_fcs.1.bias', [fc]],
      ['roi_head.bbox_head.fc_cls.weight', [K + 1, fc]],
      ['roi_head.bbox_head.fc_cls.bias', [K + 1]],
      ['roi_head.bbox_head.fc_reg.weight', [4 * K, fc]],
      ['roi_head.bbox_head.fc_reg.bias', [4 * K]],
    ];
    const src = checkpoint(keys);
    // rows tagged by class: fc_cls row r = r (background = K, last), fc_reg row r = 100 + r
    src.set('roi_head.bbox_head.fc_cls.bias', tensor([0, 1, 2, 3]));
    src.set('roi_head.bbox_head.fc_reg.bias', tensor(Array.from({ length: 4 * K }, (_, r) => 100 + r)));
    const build = (preset: 'mmdet' | 'torchvision'): TwoStageDetector =>
      buildDetector({
        kind: 'faster-rcnn',
        preset,
        numClasses: K,
        backbone: { depth: 18, widthMultiplier: 0.125 },
        channels: ch,
        neckNorm: null,
        fcChannels: fc,
      });
    const det = build('mmdet');
    const { stateDict, report } = mapWeights(det, src, 'mmdet');
    assert.deepEqual(report.unusedSource, []);
    assert.deepEqual(report.unfilledTarget, []);
    det.loadStateDict(stateDict, { strict: true });
    assert.deepEqual(det.bboxHead.clsScore.bias?.toArray(), [3, 0, 1, 2]);
    const reg = det.bboxHead.bboxPred.bias?.toArray() as number[];
    // the mmdet preset regresses foreground classes only (mmdet's layout, copied as is), or detkd's
    // C + 1 rows with the background's four zero rows first
    assert.deepEqual(
      reg,
      reg.length === 4 * K
        ? Array.from({ length: 4 * K }, (_, r) => 100 + r)
        : [0, 0, 0, 0, ...Array.from({ length: 4 * K }, (_, r) => 100 + r)],
    );
    assert.equal(
      det.rpnHead.clsLogits.bias?.toArray()[0],
      keys.findIndex(([k]) => k === 'rpn_head.rpn_cls.bias') + 1,
    );
    // torchvision's preset rounds its anchors: refused for an mmdet checkpoint
    assert.throws(
      () => mapWeights(build('torchvision'), src, 'mmdet'),
      (e: Error) => e instanceof DetkdError && /mmdetection's RPN anchors are not rounded/.test(e.message),
    );
  });
});

test('strict: unknown source keys, unfilled targets and shape mismatches listed with names and shapes; non-strict returns them', () => {
  tidy(() => {
    const det = denseDet('atss');
    const src = checkpoint(mmdetDense('atss'));
    src.delete('bbox_head.atss_centerness.bias');
    src.set('bbox_head.atss_cls.weight', full([K + 1, C, 3, 3], 0));
    src.set('bbox_head.dcn_offset.weight', full([18, C, 3, 3], 0));
    const re = (s: string) => new RegExp(s.replace(/[[\]().]/g, '\\$&'));
    assert.throws(
      () => mapWeights(det, src, 'mmdet', { what: 'atss.pth' }),
      (e: Error) =>
        e instanceof DetkdError &&
        e.message.startsWith('atss.pth (mmdet layout): ') &&
        re('bbox_head.atss_cls.weight [4, 64, 3, 3] -> bbox_head.atss_cls.weight [3, 64, 3, 3]').test(
          e.message,
        ) &&
        re(
          'bbox_head.dcn_offset.weight [18, 64, 3, 3] (as bbox_head.dcn_offset.weight: no such detkd parameter)',
        ).test(e.message) &&
        re(
          'detkd parameters not filled:\n  bbox_head.atss_cls.weight [3, 64, 3, 3]\n  bbox_head.atss_centerness.bias [1]',
        ).test(e.message),
    );
    const { stateDict, report } = mapWeights(det, src, 'mmdet', { strict: false });
    assert.deepEqual(report.unusedSource.sort(), [
      'bbox_head.atss_cls.weight',
      'bbox_head.dcn_offset.weight',
    ]);
    assert.deepEqual(report.unfilledTarget, [
      'bbox_head.atss_cls.weight [3, 64, 3, 3]',
      'bbox_head.atss_centerness.bias [1]',
    ]);
    assert.equal(stateDict.size, src.size - 2);
    assert.ok(
      report.notes.some((n) =>
        n.startsWith('shape mismatch, not loaded: bbox_head.atss_cls.weight [4, 64, 3, 3]'),
      ),
    );
  });
});

test('conventions: BGR first conv flipped to RGB, a mismatching normalisation and caffe-style bottlenecks refused', () => {
  tidy(() => {
    const net = new ResNet({ depth: 18, widthMultiplier: 0.125, outIndices: [1, 2, 3, 4] });
    const keys = resnetKeys('', W, [2, 2, 2, 2]);
    const src = checkpoint(keys);
    const w = full([8, 3, 7, 7], 0);
    for (let c = 0; c < 3; c++) w.select(1, c).fill_(c + 1); // channel c holds c + 1 (B=1, G=2, R=3)
    src.set('conv1.weight', w);
    const { stateDict, report } = mapWeights(net, src, 'mmdet', { channelOrder: 'bgr' });
    assert.deepEqual(
      [0, 1, 2].map((c) =>
        stateDict.get('conv1.weight')?.select(1, c).select(0, 0).select(0, 0).select(0, 0).item(),
      ),
      [3, 2, 1],
    );
    assert.ok(
      report.notes.includes('conv1.weight: input channels flipped BGR -> RGB (the detector takes RGB)'),
    );

    // mmdet's caffe-style FCOS config: BGR, mean [102.98, 115.95, 122.77], std 1
    const det = denseDet('fcos');
    const fcos = checkpoint(mmdetDense('fcos'));
    assert.throws(
      () =>
        mapWeights(det, fcos, 'mmdet', {
          what: 'fcos.pth',
          channelOrder: 'bgr',
          normalize: { mean: [102.98, 115.95, 122.77], std: [1, 1, 1] },
        }),
      (e: Error) =>
        e instanceof DetkdError &&
        e.message.includes(
          'fcos.pth: the checkpoint normalises its input with mean [122.77,115.95,102.98] std [1,1,1] (RGB, 0..255) but the detector uses mean [123.675,116.28,103.53] std [58.395,57.12,57.375]',
        ),
    );
    // the detector's own ImageNet values given in BGR order are accepted
    mapWeights(det, fcos, 'mmdet', {
      channelOrder: 'bgr',
      normalize: { mean: [103.53, 116.28, 123.675], std: [57.375, 57.12, 58.395] },
    });

    const r50 = new ResNet({ depth: 50, widthMultiplier: 0.125 });
    assert.throws(
      () => mapWeights(r50, r50.stateDict(), 'mmdet', { style: 'caffe' }),
      (e: Error) =>
        e instanceof DetkdError &&
        /caffe-style ResNet-50 \(stride on each bottleneck's 1x1 conv1\)/.test(e.message),
    );
    // BasicBlock depths: caffe and pytorch style are the same network
    mapWeights(net, checkpoint(keys), 'mmdet', { style: 'caffe' });
  });
});

test('torchvision ResNet-50 classifier into a ResNet-18 backbone: refused, listing both sides', () => {
  tidy(() => {
    const net = new ResNet({ depth: 18, widthMultiplier: 0.125 });
    const r50 = new ResNet({ depth: 50, widthMultiplier: 0.125 });
    const src = r50.stateDict();
    src.set('fc.weight', full([10, 256], 0));
    assert.throws(
      () => mapWeights(net, src, 'torchvision', { what: 'resnet50.pth' }),
      (e: Error) =>
        e instanceof DetkdError &&
        e.message.includes('layer1.0.conv1.weight [8, 8, 1, 1] -> layer1.0.conv1.weight [8, 8, 3, 3]') &&
        e.message.includes(
          'layer1.0.conv3.weight [32, 8, 1, 1] (as layer1.0.conv3.weight: no such detkd parameter)',
        ),
    );
  });
});

test("mmdetConventions reads caffe style and BGR input from a checkpoint's embedded config", () => {
  const v2 = `model = dict(backbone=dict(type='ResNet', depth=50, style='caffe'))\nimg_norm_cfg = dict(mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], to_rgb=False)`;
  assert.deepEqual(mmdetConventions({ config: v2 }), { style: 'caffe', channelOrder: 'bgr' });
  const v3 = `data_preprocessor=dict(type='DetDataPreprocessor', bgr_to_rgb=True)\nbackbone=dict(style='pytorch')`;
  assert.deepEqual(mmdetConventions({ cfg: v3 }), {});
  assert.deepEqual(mmdetConventions({ cfg: 'dict(bgr_to_rgb=False)' }), { channelOrder: 'bgr' });
  assert.deepEqual(mmdetConventions({ CLASSES: ['a'] }), {}, 'no config: nothing stated');
  assert.deepEqual(mmdetConventions(null), {});
});
