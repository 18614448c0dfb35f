// The torchvision Faster R-CNN name mapping, and TwoStageDetector against a reduced torchvision
// 0.14 FasterRCNN (scripts/fixtures/faster_rcnn_oracle.py): its weights mapped here, the same two
// 64x64 images, eval mode; the normalised input, the RPN proposals and the detections compared.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { tidy } from '../../core/tensor.ts';
import { ResNet } from '../../detection/backbones/resnet.ts';
import { FPN } from '../../detection/necks/fpn.ts';
import { rpnAnchors } from '../../detection/priors/anchors.ts';
import { MultiScaleRoIAlign } from '../../detection/roi/multi-scale-roi-align.ts';
import { Shared2FCBoxHead } from '../../detection/roi-heads/bbox-head.ts';
import { RpnHead } from '../../detection/rpn/rpn.ts';
import { TwoStageDetector } from '../../detection/two-stage.ts';
import { fromTorchvisionFasterRcnn, torchvisionFasterRcnnKey } from './torchvision.ts';

native.setNumThreads(1);
const oracle = loadOracle('faster-rcnn');
const cfg = oracle.json<{
  widths: number[];
  fpn: number;
  sizes: number[];
  numClasses: number;
  preNmsTopN: number;
  postNmsTopN: number;
  representation: number;
  scoreThresh: number;
  nmsThresh: number;
  detections: number;
}>('config');

function build(): TwoStageDetector {
  const backbone = new ResNet({
    depth: 18,
    widthMultiplier: 0.125,
    norm: 'frozen-bn',
    outIndices: [1, 2, 3, 4],
  });
  assert.deepEqual(backbone.outChannels, cfg.widths);
  return new TwoStageDetector({
    backbone,
    neck: new FPN({
      inChannels: backbone.outChannels,
      outChannels: cfg.fpn,
      numOuts: 5,
      addExtraConvs: false,
    }),
    rpnHead: new RpnHead(cfg.fpn, 3),
    anchors: rpnAnchors({ strides: [4, 8, 16, 32, 64], sizes: cfg.sizes }),
    roiAlign: new MultiScaleRoIAlign({
      featmapStrides: [4, 8, 16, 32],
      outputSize: 7,
      samplingRatio: 2,
      aligned: false,
    }),
    bboxHead: new Shared2FCBoxHead({
      inChannels: cfg.fpn,
      fcOutChannels: cfg.representation,
      numClasses: cfg.numClasses,
    }),
    numClasses: cfg.numClasses,
    rpnTest: { preNmsTopN: cfg.preNmsTopN, postNmsTopN: cfg.postNmsTopN },
    roiTest: { scoreThr: cfg.scoreThresh, nmsThr: cfg.nmsThresh, maxDetections: cfg.detections },
  });
}

test('torchvisionFasterRcnnKey: the FPN, RPN and box predictor names; fc and BN counters dropped', () => {
  assert.equal(
    torchvisionFasterRcnnKey('backbone.body.layer2.0.downsample.1.running_var'),
    'backbone.layer2.0.downsample.1.running_var',
  );
  assert.equal(
    torchvisionFasterRcnnKey('backbone.fpn.inner_blocks.3.0.bias'),
    'neck.lateral_convs.3.conv.bias',
  );
  assert.equal(
    torchvisionFasterRcnnKey('backbone.fpn.layer_blocks.0.0.weight'),
    'neck.fpn_convs.0.conv.weight',
  );
  assert.equal(torchvisionFasterRcnnKey('rpn.head.conv.0.0.weight'), 'rpn_head.conv.weight');
  assert.equal(torchvisionFasterRcnnKey('roi_heads.box_predictor.bbox_pred.bias'), 'bbox_head.bboxPred.bias');
  assert.equal(torchvisionFasterRcnnKey('backbone.body.fc.weight'), null);
  assert.equal(torchvisionFasterRcnnKey('backbone.body.bn1.num_batches_tracked'), null);
  assert.throws(() => torchvisionFasterRcnnKey('roi_heads.mask_head.0.weight'), /no detkd name/);
});

test('TwoStageDetector with torchvision FasterRCNN weights: proposals and eval detections equal its own', () => {
  tidy(() => {
    const det = build();
    det.loadStateDict(fromTorchvisionFasterRcnn(oracle.prefixed('w.')), { strict: true });
    det.eval();
    const images = oracle.get('images');
    const f = det.forward(images);
    assertClose(f.input, oracle.get('normalized'), 'normalised input', 1e-6, 1e-6);
    f.proposals.forEach((p, i) => {
      assertClose(p.boxes, oracle.get(`proposals${i}`), `proposals ${i}`, 1e-5, 1e-5);
    });
    const dets = det.detect(images);
    dets.forEach((d, i) => {
      assert.deepEqual(d.labels.toArray(), oracle.get(`det${i}.labels`).toArray(), `labels ${i}`);
      assert.deepEqual(new Set(d.labels.toArray()), new Set([1, 2]), 'both foreground classes detected');
      assertClose(d.scores, oracle.get(`det${i}.scores`), `scores ${i}`, 1e-5, 1e-6);
      assertClose(d.boxes, oracle.get(`det${i}.boxes`), `boxes ${i}`, 1e-5, 1e-5);
    });
  });
});
