// torchvision layouts mapped by mapWeights against torchvision 0.14 itself
// (scripts/fixtures/weights_oracle.py): a ResNet classifier into a bare detkd ResNet (features
// C2..C5), RetinaNet and FCOS into DenseDetectors built with the compatibility settings
// torchvision needs (P6 from P5, rounded integer-size anchors, FCOS points at offset 0): head
// outputs within 1e-5 and the same final detections.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, loadOracle } from '../../../test/support/oracle.ts';
import { DetkdError } from '../../core/errors.ts';
import { native } from '../../core/native.ts';
import { cat, type Tensor, tensor, tidy } from '../../core/tensor.ts';
import { MaxIoUAssigner } from '../../detection/assigners/max-iou.ts';
import { ResNet } from '../../detection/backbones/resnet.ts';
import { DenseDetector } from '../../detection/detector.ts';
import { FCOSHead, RetinaHead } from '../../detection/heads/heads.ts';
import { FPN } from '../../detection/necks/fpn.ts';
import { retinaAnchors } from '../../detection/priors/anchors.ts';
import { PointGenerator } from '../../detection/priors/points.ts';
import type { ImageMeta } from '../../structures/instances.ts';
import { mapWeights, torchvisionRetinaAnchors } from './mapping.ts';

native.setNumThreads(1);
const oracle = loadOracle('weights');
const cfg = oracle.json<{
  widths: number[];
  img: number;
  retina: { fpn: number; numClasses: number; scoreThresh: number; nmsThresh: number; detections: number };
  fcos: {
    fpn: number;
    numClasses: number;
    scoreThresh: number;
    nmsThresh: number;
    detections: number;
    towerBiases: number;
  };
}>('config');

const TV_MEAN = [0.485, 0.456, 0.406];
const TV_STD = [0.229, 0.224, 0.225];
const meta: ImageMeta = {
  imageId: 0,
  fileName: 'oracle',
  oriShape: [cfg.img, cfg.img],
  imgShape: [cfg.img, cfg.img],
  padShape: [cfg.img, cfg.img],
  scaleFactor: [1, 1],
  flipped: false,
};

function backbone(outIndices: number[]): ResNet {
  const r = new ResNet({ depth: 18, widthMultiplier: 0.125, norm: 'bn', outIndices });
  assert.deepEqual(r.stageChannels, cfg.widths);
  return r;
}

function dense(kind: 'retina' | 'fcos'): DenseDetector {
  const c = cfg[kind];
  const b = backbone([2, 3, 4]);
  const neck = new FPN({
    inChannels: b.outChannels,
    outChannels: c.fpn,
    numOuts: 5,
    addExtraConvs: 'on_output',
    reluBeforeExtraConvs: true,
  });
  const base = {
    inChannels: c.fpn,
    featChannels: c.fpn,
    stackedConvs: 4,
    numClasses: c.numClasses,
    numLevels: 5,
  };
  const common = {
    backbone: b,
    neck,
    numClasses: c.numClasses,
    // torchvision normalises 0..1 images; detkd takes 0..255 (the same values x 255)
    mean: TV_MEAN.map((m) => m * 255) as [number, number, number],
    std: TV_STD.map((s) => s * 255) as [number, number, number],
  };
  if (kind === 'retina') {
    return new DenseDetector({
      ...common,
      head: {
        kind: 'retina',
        head: new RetinaHead({ ...base, norm: null, priorsPerLocation: 9 }),
        priors: torchvisionRetinaAnchors(),
        assigner: new MaxIoUAssigner(),
      },
      postprocess: { scoreThr: c.scoreThresh, nmsPre: 100000, iouThr: c.nmsThresh, maxPerImg: c.detections },
    });
  }
  return new DenseDetector({
    ...common,
    head: {
      kind: 'fcos',
      head: new FCOSHead({
        ...base,
        norm: 'gn',
        priorsPerLocation: 1,
        normOnBbox: true,
        centernessOnReg: true,
      }),
      priors: new PointGenerator([8, 16, 32, 64, 128], 0),
      targets: { normOnBbox: false, centerSampling: true, centerSampleRadius: 1.5 },
    },
    // every (point, class) pair kept: torchvision's threshold is applied to its sqrt score below
    postprocess: { scoreThr: 0, nmsPre: 100000, iouThr: c.nmsThresh, maxPerImg: 100000 },
  });
}

/** Per-level head maps [B, A*K, H, W] -> torchvision's [B, sum H*W*A, K]. */
function flat(levels: readonly Tensor[], k: number): Tensor {
  return cat(
    levels.map((t) => t.permute(0, 2, 3, 1).reshape(t.size(0), -1, k)),
    1,
  );
}

test('torchvision ResNet classifier -> detkd ResNet: fc reported, C2..C5 within 1e-5', () => {
  tidy(() => {
    const net = backbone([1, 2, 3, 4]);
    const { stateDict, report } = mapWeights(net, oracle.prefixed('resnet.w.'), 'torchvision');
    assert.deepEqual(report.unfilledTarget, []);
    assert.deepEqual(report.unusedSource.sort(), ['fc.bias', 'fc.weight']);
    assert.ok(
      report.notes.some((n) => n === 'ignored 2 the classifier head: fc.bias, fc.weight'),
      report.notes.join('\n'),
    );
    net.loadStateDict(stateDict, { strict: true });
    net.eval();
    const mean = tensor(TV_MEAN).view(1, 3, 1, 1);
    const std = tensor(TV_STD).view(1, 3, 1, 1);
    const feats = net.forward(oracle.get('images').sub(mean).div(std));
    feats.forEach((f, i) => {
      assertClose(f, oracle.get(`resnet.c${i + 2}`), `C${i + 2}`, 1e-5, 1e-5);
    });
  });
});

function runDense(kind: 'retina' | 'fcos') {
  const det = dense(kind);
  const { stateDict, report } = mapWeights(det, oracle.prefixed(`${kind}.w.`), 'torchvision');
  det.loadStateDict(stateDict, { strict: true });
  det.eval();
  const images = oracle.get('images').mul(255);
  const f = det.forward(images, [meta, meta]);
  return { det, report, f, images };
}

test('torchvision RetinaNet -> DenseDetector (P6 from P5, rounded anchors): head outputs within 1e-5, the same detections', () => {
  tidy(() => {
    const { det, report, f, images } = runDense('retina');
    assert.deepEqual(report.unfilledTarget, []);
    assertClose(flat(f.head.clsScores, 2), oracle.get('retina.head.cls_logits'), 'cls_logits', 1e-5, 1e-5);
    assertClose(
      flat(f.head.bboxPreds, 4),
      oracle.get('retina.head.bbox_regression'),
      'bbox_regression',
      1e-5,
      1e-5,
    );
    det.predict(images, [meta, meta]).forEach((d, i) => {
      assert.equal(d.scores.size(0), cfg.retina.detections);
      assert.deepEqual(d.labels.toArray(), oracle.get(`retina.det${i}.labels`).toArray(), `labels ${i}`);
      assertClose(d.scores, oracle.get(`retina.det${i}.scores`), `scores ${i}`, 1e-5, 1e-5);
      assertClose(d.boxes, oracle.get(`retina.det${i}.boxes`), `boxes ${i}`, 1e-5, 1e-4);
    });
  });
});

test('torchvision FCOS -> DenseDetector (no Scale, points at offset 0): head outputs within 1e-5; sqrt(cls x ctr) of its detections are torchvisions', () => {
  tidy(() => {
    const { det, report, f, images } = runDense('fcos');
    assert.deepEqual(report.unfilledTarget, []);
    assert.ok(
      report.notes.some((n) => n.startsWith('5 per-level scales set to 1')),
      report.notes.join('\n'),
    );
    assert.ok(
      report.notes.some((n) =>
        n.startsWith(`ignored ${cfg.fcos.towerBiases} zero conv biases before GroupNorm`),
      ),
      report.notes.join('\n'),
    );
    // P3..P5 (the first 64 + 16 + 4 locations) within 1e-5; P6/P7 are 1x1 maps where GroupNorm(32)
    // normalises 2 values per group, so a near-zero variance amplifies float error (measured worst
    // 1.2e-4 absolute on a P7 logit of 0.42): those within 5e-4.
    const heads: [Tensor[], string, number][] = [
      [f.head.clsScores, 'cls_logits', 2],
      [f.head.bboxPreds, 'bbox_regression', 4],
      [f.head.centerness ?? [], 'bbox_ctrness', 1],
    ];
    for (const [levels, name, k] of heads) {
      const got = flat(levels, k);
      const want = oracle.get(`fcos.head.${name}`);
      assert.equal(got.size(1), 86);
      assertClose(got.narrow(1, 0, 84), want.narrow(1, 0, 84), `${name} P3..P5`, 1e-5, 1e-5);
      assertClose(got, want, `${name} P3..P7`, 1e-5, 5e-4);
    }
    det.predict(images, [meta, meta]).forEach((d, i) => {
      // detkd scores cls x ctr after NMS over every pair; torchvision thresholds sqrt(cls x ctr) at
      // 0.2 before NMS. NMS only suppresses lower scores, so the same detections are those above it.
      const s = d.scores.sqrt();
      const keep = s.gt(cfg.fcos.scoreThresh).nonzero().flatten().slice(0, 0, cfg.fcos.detections);
      assert.equal(keep.size(0), cfg.fcos.detections);
      assert.deepEqual(
        d.labels.at(keep).toArray(),
        oracle.get(`fcos.det${i}.labels`).toArray(),
        `labels ${i}`,
      );
      assertClose(s.at(keep), oracle.get(`fcos.det${i}.scores`), `scores ${i}`, 1e-5, 1e-5);
      assertClose(d.boxes.at(keep), oracle.get(`fcos.det${i}.boxes`), `boxes ${i}`, 1e-5, 1e-4);
    });
  });
});

test('torchvision RetinaNet into a detector built the detkd way (P6 from C5, mmdet anchors): refused, naming both and the shapes', () => {
  tidy(() => {
    const b = backbone([2, 3, 4]);
    const det = new DenseDetector({
      backbone: b,
      neck: new FPN({
        inChannels: b.outChannels,
        outChannels: 32,
        numOuts: 5,
        addExtraConvs: 'on_input',
        reluBeforeExtraConvs: true,
      }),
      numClasses: 2,
      head: {
        kind: 'retina',
        head: new RetinaHead({
          inChannels: 32,
          featChannels: 32,
          stackedConvs: 4,
          numClasses: 2,
          numLevels: 5,
          norm: null,
          priorsPerLocation: 9,
        }),
        priors: retinaAnchors(),
        assigner: new MaxIoUAssigner(),
      },
    });
    const src = oracle.prefixed('retina.w.');
    assert.throws(
      () => mapWeights(det, src, 'torchvision', { what: 'retina.pth' }),
      (e: Error) =>
        e instanceof DetkdError &&
        e.message.startsWith('retina.pth (torchvision layout): ') &&
        e.message.includes(
          "builds P6 from P5 and P7 from relu(P6), but this detector's FPN takes extra levels 'on_input'",
        ) &&
        e.message.includes('anchors at strides [8,16,32,64,128] are not torchvision RetinaNet') &&
        // C5 has 64 channels here, P5 32: the P6 conv's shapes differ, both named
        e.message.includes(
          'backbone.fpn.extra_blocks.p6.weight [32, 32, 3, 3] -> neck.fpn_convs.3.conv.weight [32, 64, 3, 3]',
        ),
    );
    const { report } = mapWeights(det, src, 'torchvision', { strict: false });
    assert.ok(report.unusedSource.includes('backbone.fpn.extra_blocks.p6.weight'));
    assert.deepEqual(report.unfilledTarget, ['neck.fpn_convs.3.conv.weight [32, 64, 3, 3]']);
  });
});
