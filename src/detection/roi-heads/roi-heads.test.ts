// The Faster R-CNN box head against torchvision 0.14's roi_heads.py (scripts/fixtures/
// roi_head_oracle.py, float32): RoI sampling replaying the permutations torchvision drew,
// the two-fc head forward and backward with copied weights, fastrcnn_loss and its gradients,
// postprocess_detections. Then properties: no GT, one GT, no proposal, zero-size proposals,
// the mmdet settings.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertBits,
  assertGemmOracle,
  compareBits,
  loadOracle,
  type Tolerance,
} from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { cat, type Tensor, tidy, zeros } from '../../core/tensor.ts';
import { Shared2FCBoxHead } from './bbox-head.ts';
import { fastRcnnLoss } from './loss.ts';
import { postprocessDetections } from './postprocess.ts';
import { type IndexSource, sampleRois } from './sampling.ts';

native.setNumThreads(1);
const oracle = loadOracle('roi-head');
const cfg = oracle.json<{ image: [number, number]; batchSizePerImage: number; positiveFraction: number }>(
  'config',
);
const N = 3; // foreground classes
const SAMPLE = { batchSizePerImage: cfg.batchSizePerImage, positiveFraction: cfg.positiveFraction };

function assertNear(got: Tensor, want: Tensor, tol: Tolerance, what: string): void {
  const e = compareBits(got, want, tol);
  if (e !== null) assert.fail(`${what}: ${e} (tolerance ${JSON.stringify(tol)})`);
}

/** torchvision's stored permutations, replayed. */
const replay: IndexSource = (_n, k, kind, image) => oracle.get(`sample.perm.${kind}${image}`).slice(0, 0, k);

const gt = [
  { boxes: oracle.get('sample.gt_boxes0'), labels: oracle.get('sample.gt_labels0') },
  { boxes: zeros([0, 4]), labels: zeros([0], { dtype: 'int64' }) },
];

function sampleImage(i: number) {
  const g = gt[i] as { boxes: Tensor; labels: Tensor };
  // torchvision's labels are 1..N; GtTargets' are 0..N-1
  return sampleRois(oracle.get(`sample.proposals${i}`), g.boxes, g.labels.sub(1), N, replay, i, SAMPLE);
}

test("sampleRois replays torchvision's select_training_samples", () => {
  tidy(() => {
    for (const i of [0, 1]) {
      const s = sampleImage(i);
      assertBits(s.rois, oracle.get(`sample.out.proposals${i}`), `image ${i} rois`);
      assertBits(s.labels, oracle.get(`sample.out.labels${i}`), `image ${i} labels`);
      assertBits(s.gtIndex.clampMin(0), oracle.get(`sample.out.matched${i}`), `image ${i} matched`);
      // torchvision encodes 10 * (gx - px) / pw, the coder (gx - px) / pw / 0.1: last-bit apart;
      // background targets of image 1 are encoded against a zero box: -inf / nan in both
      assertNear(
        s.targets,
        oracle.get(`sample.out.targets${i}`),
        { rtol: 2e-6, atol: 2e-6 },
        `image ${i} targets`,
      );
    }
    assert.equal(sampleImage(0).numPos, 4);
    assert.equal(sampleImage(1).numPos, 0);
  });
});

test('Shared2FCBoxHead equals TwoMLPHead + FastRCNNPredictor, forward and backward', () => {
  tidy(() => {
    const head = new Shared2FCBoxHead({ inChannels: 4, roiSize: 7, fcOutChannels: 32, numClasses: N });
    const names: Record<string, string> = {
      'fc6.weight': 'head.fc6.weight',
      'fc6.bias': 'head.fc6.bias',
      'fc7.weight': 'head.fc7.weight',
      'fc7.bias': 'head.fc7.bias',
      'clsScore.weight': 'predictor.cls_score.weight',
      'clsScore.bias': 'predictor.cls_score.bias',
      'bboxPred.weight': 'predictor.bbox_pred.weight',
      'bboxPred.bias': 'predictor.bbox_pred.bias',
    };
    const sd = new Map(Object.entries(names).map(([k, v]) => [k, oracle.get(`head.param.${v}`)]));
    head.loadStateDict(sd);
    const x = oracle.get('head.x').clone().requiresGrad_(true);
    const { clsScore, bboxPred } = head.forward(x);
    assertGemmOracle(clsScore, oracle.get('head.cls'), 'cls_score');
    assertGemmOracle(bboxPred, oracle.get('head.box'), 'bbox_pred');
    clsScore
      .mul(oracle.get('head.c1'))
      .sum()
      .add(bboxPred.mul(oracle.get('head.c2')).sum())
      .backward();
    assertGemmOracle(x.grad as Tensor, oracle.get('head.grad.x'), 'grad x');
    for (const [name, p] of head.namedParameters())
      assertGemmOracle(p.grad as Tensor, oracle.get(`head.grad.${names[name]}`), `grad ${name}`);
  });
});

test("fastRcnnLoss equals torchvision's fastrcnn_loss, values and gradients", () => {
  tidy(() => {
    const labels = [0, 1].map((i) => oracle.get(`sample.out.labels${i}`));
    const targets = [0, 1].map((i) => oracle.get(`sample.out.targets${i}`));
    const logits = oracle.get('loss.logits').clone().requiresGrad_(true);
    const regs = oracle.get('loss.regs').clone().requiresGrad_(true);
    const { lossCls, lossBox } = fastRcnnLoss(logits, regs, cat(labels, 0), cat(targets, 0), {
      backgroundLabel: 0,
    });
    assertNear(lossCls, oracle.get('loss.cls'), { rtol: 1e-6 }, 'loss_cls');
    assertNear(lossBox, oracle.get('loss.box'), { rtol: 1e-6 }, 'loss_box');
    lossCls.add(lossBox).backward();
    assertNear(
      logits.grad as Tensor,
      oracle.get('loss.grad.logits'),
      { rtol: 0, atolOfMax: 1e-6 },
      'grad logits',
    );
    assertNear(regs.grad as Tensor, oracle.get('loss.grad.regs'), { rtol: 0, atolOfMax: 1e-6 }, 'grad regs');
  });
});

for (const det of [100, 10]) {
  test(`postprocessDetections equals torchvision's postprocess_detections (${det} per image)`, () => {
    tidy(() => {
      const K0 = oracle.get('post.proposals0').size(0);
      const K1 = oracle.get('post.proposals1').size(0);
      const logits = oracle.get('post.logits');
      const regs = oracle.get('post.regs');
      const parts = [
        [0, K0],
        [K0, K1],
      ] as const;
      parts.forEach(([start, len], i) => {
        const d = postprocessDetections(
          logits.narrow(0, start, len),
          regs.narrow(0, start, len),
          oracle.get(`post.proposals${i}`),
          cfg.image,
          { backgroundLabel: 0, maxDetections: det },
        );
        assertBits(d.labels, oracle.get(`post.det${det}.labels${i}`), `image ${i} labels`);
        assertBits(d.scores, oracle.get(`post.det${det}.scores${i}`), `image ${i} scores`);
        assertNear(
          d.boxes,
          oracle.get(`post.det${det}.boxes${i}`),
          { rtol: 0, atolOfMax: 1e-6 },
          `image ${i} boxes`,
        );
      });
    });
  });
}
