// The Faster R-CNN box head against torchvision 0.14's roi_heads.py (scripts/fixtures/
// roi_head_oracle.py, float32): RoI sampling replaying the permutations torchvision drew,
// the two-fc head forward and backward with copied weights, fastrcnn_loss and its gradients,
// postprocess_detections. Measured: sampled RoIs, labels and matched indices identical;
// regression targets within 5.4e-8 of max|want| (the coder divides by 0.1 where torchvision
// multiplies by 10); head outputs and all gradients bit-identical (Cooperlake kernels, else
// gemmTolerance); both losses and their gradients identical;
// detections: labels and scores identical, boxes within 6e-8 of max|want|. Then properties:
// no GT, one GT, no proposal, zero-size proposals, the quota, the mmdet settings.
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
import { Generator } from '../../core/random.ts';
import { cat, randn, type Tensor, tensor, tidy, zeros } from '../../core/tensor.ts';
import { type IndexSource, randpermSource } from '../samplers/random-sampler.ts';
import { Shared2FCBoxHead } from './bbox-head.ts';
import { fastRcnnLoss } from './loss.ts';
import { postprocessDetections } from './postprocess.ts';
import { sampleRois, sampleRoisBatch } from './sampling.ts';

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
    // the batch form: images concatenated, image index in column 0
    const b = sampleRoisBatch(
      [0, 1].map((i) => oracle.get(`sample.proposals${i}`)),
      gt.map((g) => ({ boxes: g.boxes, labels: g.labels.sub(1) })),
      N,
      replay,
      SAMPLE,
    );
    assert.deepEqual(b.numPerImage, [16, 16]);
    assert.deepEqual(b.numPosPerImage, [4, 0]);
    assertBits(b.rois.select(1, 0), cat([zeros([16]), zeros([16]).add(1)], 0), 'image index');
    const want = [0, 1].map((i) => oracle.get(`sample.out.proposals${i}`));
    assertBits(b.rois.narrow(1, 1, 4), cat(want, 0), 'batch rois');
    assertBits(
      b.labels,
      cat(
        [0, 1].map((i) => oracle.get(`sample.out.labels${i}`)),
        0,
      ),
      'batch labels',
    );
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
    assertBits(lossCls, oracle.get('loss.cls'), 'loss_cls');
    assertBits(lossBox, oracle.get('loss.box'), 'loss_box');
    lossCls.add(lossBox).backward();
    assertBits(logits.grad as Tensor, oracle.get('loss.grad.logits'), 'grad logits');
    assertBits(regs.grad as Tensor, oracle.get('loss.grad.regs'), 'grad regs');
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

// --- properties ----------------------------------------------------------------------------------

const box = (rows: number[][]) => tensor(rows).reshape(-1, 4);
const noGt = { boxes: zeros([0, 4]), labels: zeros([0], { dtype: 'int64' }) };

test('no GT: every drawn RoI is background, label and index; mmdet-style targets are zero', () => {
  tidy(() => {
    const props = box([
      [0, 0, 10, 10],
      [5, 5, 20, 30],
      [1, 2, 3, 4],
    ]);
    for (const background of ['first', 'last'] as const) {
      const s = sampleRois(props, noGt.boxes, noGt.labels, N, randpermSource(new Generator(1)), 0, {
        background,
        backgroundTargets: 'zero',
      });
      assert.equal(s.numPos, 0);
      assert.deepEqual(s.rois.shape, [3, 4]);
      assert.deepEqual(
        s.labels.toArray(),
        [0, 0, 0].map(() => (background === 'first' ? 0 : N)),
      );
      assert.deepEqual(s.gtIndex.toArray(), [-1, -1, -1]);
      assert.equal(s.targets.abs().sum().item(), 0);
    }
  });
});

test('one GT and no proposal: the GT itself is the one positive, target 0', () => {
  tidy(() => {
    const g = box([[10, 20, 50, 40]]);
    const s = sampleRois(zeros([0, 4]), g, tensor([2], { dtype: 'int64' }), N, randpermSource(), 0);
    assert.equal(s.numPos, 1);
    assertBits(s.rois, g, 'roi');
    assert.deepEqual(s.labels.toArray(), [3]);
    assert.deepEqual(s.gtIndex.toArray(), [0]);
    assert.equal(s.targets.abs().sum().item(), 0);
    // without GT as proposals there is nothing to draw
    const e = sampleRois(zeros([0, 4]), g, tensor([2], { dtype: 'int64' }), N, randpermSource(), 0, {
      addGt: 'none',
    });
    assert.deepEqual(e.rois.shape, [0, 4]);
    assert.deepEqual(e.targets.shape, [0, 4]);
  });
});

test('quota: at most batch * fraction positives, the rest negatives; zero-size proposals are background', () => {
  tidy(() => {
    const g = box([[0, 0, 40, 40]]);
    const near = Array.from({ length: 30 }, (_, k) => [k % 3, k % 2, 40 - (k % 4), 40]);
    const far = Array.from({ length: 30 }, (_, k) => [50 + k, 50, 60 + k, 70]);
    const zero = [
      [5, 5, 5, 5],
      [10, 10, 10, 30],
    ];
    const props = box([...near, ...far, ...zero]);
    const s = sampleRois(props, g, tensor([0], { dtype: 'int64' }), N, randpermSource(new Generator(3)), 0, {
      batchSizePerImage: 16,
      positiveFraction: 0.25,
    });
    assert.equal(s.numPos, 4);
    assert.equal(s.rois.size(0), 16);
    assert.equal(s.labels.ne(0).sum().item(), 4);
    const z = sampleRois(box(zero), g, tensor([0], { dtype: 'int64' }), N, randpermSource(), 0, {
      addGt: 'none',
    });
    assert.deepEqual(z.gtIndex.toArray(), [-1, -1]);
  });
});

test('mmdet settings: GT in front, positives first, background last', () => {
  tidy(() => {
    const g = box([
      [0, 0, 40, 40],
      [50, 50, 90, 80],
    ]);
    const props = box([
      [100, 100, 120, 120],
      [1, 1, 40, 40],
      [51, 50, 90, 80],
    ]);
    const s = sampleRois(
      props,
      g,
      tensor([1, 0], { dtype: 'int64' }),
      N,
      randpermSource(new Generator(5)),
      0,
      {
        addGt: 'prepend',
        order: 'posFirst',
        background: 'last',
        backgroundTargets: 'zero',
      },
    );
    assert.equal(s.numPos, 4);
    assert.deepEqual(s.labels.toArray().slice(4), [N]);
    assert.deepEqual([...s.labels.toArray().slice(0, 4)].sort(), [0, 0, 1, 1]);
    assertBits(s.rois.narrow(0, 4, 1), box([[100, 100, 120, 120]]), 'negative last');
  });
});

test('Shared2FCBoxHead: widths, regressor width, mmdet init', () => {
  tidy(() => {
    const h = new Shared2FCBoxHead({
      inChannels: 2,
      roiSize: [3, 2],
      fcOutChannels: 64,
      numClasses: 5,
      regOutputs: 'foreground',
      init: 'mmdet',
      generator: new Generator(9),
    });
    const { clsScore, bboxPred } = h.forward(randn([7, 2, 3, 2]));
    assert.deepEqual(clsScore.shape, [7, 6]);
    assert.deepEqual(bboxPred.shape, [7, 20]);
    assert.equal(h.clsScore.bias?.abs().sum().item(), 0);
    const std = h.bboxPred.weight.std().item();
    assert.ok(std > 0.0007 && std < 0.0013, `regressor std ${std}`);
    const tv = new Shared2FCBoxHead({ inChannels: 2, numClasses: 5, fcOutChannels: 16 });
    assert.deepEqual(tv.bboxPred.weight.shape, [24, 16]);
    assert.ok((tv.fc6.weight.abs().amax().item() as number) <= 1 / Math.sqrt(2 * 49));
  });
});

test('fastRcnnLoss: L1 kind, background last, empty batch', () => {
  tidy(() => {
    const logits = randn([3, 3]);
    const regs = randn([3, 8]); // 2 foreground classes, background last, 4 N columns
    const labels = tensor([1, 2, 0], { dtype: 'int64' });
    const targets = randn([3, 4]);
    const { lossBox } = fastRcnnLoss(logits, regs, labels, targets, { backgroundLabel: 2, boxLoss: 'l1' });
    const want = regs
      .narrow(1, 4, 4)
      .narrow(0, 0, 1)
      .sub(targets.narrow(0, 0, 1))
      .abs()
      .sum()
      .add(
        regs
          .narrow(1, 0, 4)
          .narrow(0, 2, 1)
          .sub(targets.narrow(0, 2, 1))
          .abs()
          .sum(),
      )
      .div(3);
    assertNear(lossBox, want, { rtol: 1e-6 }, 'l1 box loss');
    const mm = fastRcnnLoss(logits, regs, labels, targets, {
      backgroundLabel: 2,
      boxLoss: 'l1',
      normalizer: 'countEps',
    });
    assertNear(mm.lossBox, want.mul(3 / (3 + 2 ** -23)), { rtol: 1e-6 }, 'l1 box loss, mmdet normaliser');
    const l = randn([0, 3]).requiresGrad_(true);
    const e = fastRcnnLoss(l, zeros([0, 12]), zeros([0], { dtype: 'int64' }), zeros([0, 4]), {
      backgroundLabel: 0,
    });
    assert.equal(e.lossCls.item(), 0);
    assert.equal(e.lossBox.item(), 0);
    e.lossCls.backward();
  });
});

test('postprocessDetections: no RoI, zero-size RoIs, background last with 4 N regression', () => {
  tidy(() => {
    const empty = postprocessDetections(zeros([0, 4]), zeros([0, 16]), zeros([0, 4]), [50, 60], {
      backgroundLabel: 0,
    });
    assert.deepEqual(empty.boxes.shape, [0, 4]);
    assert.deepEqual(empty.scores.shape, [0]);
    // confident RoIs, one of zero size: it decodes to a zero-size box and is dropped
    const logits = tensor([
      [5, 0, 0, 0],
      [5, 0, 0, 0],
    ]);
    const rois = box([
      [10, 10, 30, 30],
      [5, 5, 5, 5],
    ]);
    const d = postprocessDetections(logits, zeros([2, 12]), rois, [50, 60], { backgroundLabel: 3 });
    assert.deepEqual(d.labels.toArray(), [0]);
    assertBits(d.boxes, box([[10, 10, 30, 30]]), 'box');
    assert.throws(
      () => postprocessDetections(logits, zeros([2, 12]), rois, [50, 60], { backgroundLabel: 0 }),
      /regression classes/,
    );
  });
});
