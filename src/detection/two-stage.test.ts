// Properties of TwoStageDetector on a small Faster R-CNN built from a recipe's model section: images
// without GT, GT boxes as RoIs, crowd and zero-area boxes taking no part, no proposal surviving,
// zero-size RoIs, predict in original pixels with contiguous labels for both presets, and padding
// of a batch with images of different sizes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../core/native.ts';
import { Generator, manualSeed } from '../core/random.ts';
import { rand, type Tensor, tensor, tidy, zeros } from '../core/tensor.ts';
import type { ImageMeta } from '../structures/instances.ts';
import type { Batch } from '../structures/tensor-batch.ts';
import { buildDetector } from './models/build.ts';
import type { FasterRcnnConfig } from './models/config.ts';
import { buildFasterRcnn, FASTER_RCNN_PRESETS } from './models/faster-rcnn-presets.ts';
import { randpermSource } from './samplers/random-sampler.ts';
import { TwoStageDetector as TwoStage, type TwoStageSources } from './two-stage.ts';

native.setNumThreads(1);

const N = 3;

function cfg(o: Partial<FasterRcnnConfig> = {}): FasterRcnnConfig {
  return {
    kind: 'faster-rcnn',
    numClasses: N,
    backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
    channels: 16,
    levels: { first: 2, count: 4 },
    fcChannels: 64,
    // Few proposals, many samples: every positive candidate is drawn (GT included).
    rpn: { train: { preNms: 100, postNms: 50 }, test: { preNms: 100, postNms: 50 }, samples: 64 },
    roi: { samples: 256 },
    // Keep every detection of an untrained head, so predict has boxes to map.
    postprocess: { scoreThr: 0 },
    ...o,
  };
}

function det(o: Partial<FasterRcnnConfig> = {}, seed = 1): TwoStage {
  manualSeed(seed);
  return buildDetector(cfg(o));
}

const mm = det();

function meta(id: number, hw: [number, number], o: Partial<ImageMeta> = {}): ImageMeta {
  return {
    imageId: id,
    fileName: `img${id}.png`,
    oriShape: hw,
    imgShape: hw,
    padShape: hw,
    scaleFactor: [1, 1],
    flipped: false,
    ...o,
  };
}

const noBoxes = (): Tensor => zeros([0, 4]);

/** A batch of two H x W images (0..255) with the given GT per image (labels i % N), no crowd boxes. */
function batch(
  gt: number[][][],
  o: { hw?: [number, number]; ignore?: number[][][]; seed?: number } = {},
): Batch {
  const [h, w] = o.hw ?? [64, 96];
  const boxes = (bs: number[][]) => (bs.length === 0 ? noBoxes() : tensor(bs));
  return {
    images: rand([gt.length, 3, h, w], { generator: new Generator(o.seed ?? 7) }).mul(255),
    metas: gt.map((_, i) => meta(i, [h, w])),
    gtBoxes: gt.map(boxes),
    gtLabels: gt.map((bs) =>
      tensor(
        bs.map((_, i) => i % N),
        { dtype: 'int64', shape: [bs.length] },
      ),
    ),
    ignoreBoxes: gt.map((_, i) => boxes(o.ignore?.[i] ?? [])),
  };
}

/** Fresh samplers with fixed seeds: two calls with the same `seed` draw the same permutations. */
function sources(seed = 5): TwoStageSources {
  return {
    rpnSource: randpermSource(new Generator(seed)),
    roiSource: randpermSource(new Generator(seed + 1)),
  };
}

type Values = Record<string, number>;

function values(l: Record<string, Tensor>): Values {
  return Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.item()]));
}

function assertFiniteLosses(v: Values): void {
  assert.deepEqual(Object.keys(v).sort(), [
    'loss_box_reg',
    'loss_classifier',
    'loss_objectness',
    'loss_rpn_box_reg',
  ]);
  for (const [k, x] of Object.entries(v)) assert.ok(Number.isFinite(x), `${k} = ${x}`);
}

const A = [8, 6, 40, 38];
const B = [50, 20, 90, 60];

test('no GT in one image: its RoIs are all background; no GT in the batch: box losses 0, classifier > 0, gradients finite', () => {
  tidy(() => {
    const b = batch([[A, B], []]);
    const f = mm.forward(b.images, b.metas, 'train');
    const t = mm.trainTargets(f, TwoStage.gts(b), sources());
    const bg = mm.roiTest.backgroundLabel;
    assert.equal(bg, N, 'mmdet: background is the last column');
    assert.equal(t.rois.numPosPerImage[1], 0);
    assert.ok(t.rois.numPosPerImage[0]! >= 2, 'the two GT boxes are positives of image 0');
    const n0 = t.rois.numPerImage[0]!;
    const labels1 = t.rois.labels.narrow(0, n0, t.rois.numPerImage[1]!).toArray();
    assert.ok(labels1.length > 0 && labels1.every((l) => l === bg), 'image 1: only background RoIs');
    assert.equal(t.rpn.samples[1]!.pos.sum().item(), 0, 'image 1: no RPN positive');
    assert.equal(t.rpn.samples[1]!.neg.sum().item(), 64, 'image 1: the RPN samples 64 negatives');
    assertFiniteLosses(values(mm.lossesFrom(f, t.rpn, t.rois, t.head)));
  });
  tidy(() => {
    const b = batch([[], []]);
    mm.zeroGrad();
    const l = mm.batchLosses(b, sources());
    const v = values(l);
    assertFiniteLosses(v);
    assert.equal(v.loss_rpn_box_reg, 0);
    assert.equal(v.loss_box_reg, 0);
    assert.ok(v.loss_classifier! > 0, `loss_classifier ${v.loss_classifier}`);
    assert.ok(v.loss_objectness! > 0, `loss_objectness ${v.loss_objectness}`);
    Object.values(l)
      .reduce((s, x) => s.add(x))
      .backward();
    let withGrad = 0;
    for (const [name, p] of mm.namedParameters()) {
      if (p.grad === null) continue;
      withGrad++;
      assert.ok(p.grad.isfinite().all().item() === 1, `${name}: gradient not finite`);
    }
    assert.ok(withGrad > 0);
    mm.zeroGrad();
  });
});

test('one GT: the GT box itself is a sampled positive RoI with its label, and every positive is matched to it', () => {
  tidy(() => {
    const b = batch([[B], []]);
    const f = mm.forward(b.images, b.metas, 'train');
    const t = mm.trainTargets(f, TwoStage.gts(b), sources());
    const n0 = t.rois.numPerImage[0]!;
    const rois = t.rois.rois.narrow(0, 0, n0).toArray();
    const labels = t.rois.labels.narrow(0, 0, n0).toArray();
    const gtIndex = t.rois.gtIndex.narrow(0, 0, n0).toArray();
    const pos = labels.map((l, i) => (l !== N ? i : -1)).filter((i) => i >= 0);
    assert.equal(pos.length, t.rois.numPosPerImage[0]);
    assert.ok(pos.length >= 1);
    for (const i of pos) {
      assert.equal(labels[i], 0, 'the GT label (0)');
      assert.equal(gtIndex[i], 0, 'matched to the only GT');
    }
    const asGt = pos.filter((i) => [0, ...B].every((v, k) => rois[i * 5 + k] === v));
    assert.equal(asGt.length, 1, 'the GT box is sampled exactly once, as a positive');
    // mmdet prepends the GT and draws positives first: with all positives drawn it is the first RoI
    assert.deepEqual(rois.slice(0, 5), [0, ...B]);
  });
});

test('crowd boxes (ignoreBoxes) take no part: adding one leaves every loss bit-identical', () => {
  tidy(() => {
    const plain = values(mm.batchLosses(batch([[A], [B]]), sources()));
    const crowd = values(
      mm.batchLosses(
        batch([[A], [B]], {
          ignore: [
            [
              [40, 10, 80, 50],
              [0, 0, 30, 30],
            ],
            [[10, 10, 50, 50]],
          ],
        }),
        sources(),
      ),
    );
    assertFiniteLosses(plain);
    assert.deepEqual(crowd, plain);
    // the draws matter: other seeds give other losses (so equality above is not vacuous)
    const other = values(mm.batchLosses(batch([[A], [B]]), sources(99)));
    assert.notDeepEqual(other, plain);
  });
});

test('a zero-area GT box (x1 == x2) is dropped exactly as if absent', () => {
  tidy(() => {
    const plain = values(mm.batchLosses(batch([[A], [B]]), sources()));
    // the degenerate box comes second in image 0 (label 1) and first in image 1 (B's label becomes 1)
    const withDegenerate = batch([
      [A, [30, 10, 30, 40]],
      [[20, 20, 60, 20], B],
    ]);
    withDegenerate.gtLabels[1] = tensor([2, 0], { dtype: 'int64' });
    const v = values(mm.batchLosses(withDegenerate, sources()));
    assert.deepEqual(v, plain);
  });
});

test('no proposal survives: predict gives empty [0,4] / [0] / [0] results, training samples the GT boxes only', () => {
  // Proposals narrower than 1000 px are dropped: none of a 64 x 96 image survives.
  const p = FASTER_RCNN_PRESETS.mmdet;
  manualSeed(1);
  const d = buildFasterRcnn({
    preset: 'mmdet',
    numClasses: N,
    backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
    fpnChannels: 16,
    fcOutChannels: 64,
    levels: { first: 2, count: 4 },
    neckNorm: 'gn',
    overrides: {
      rpnTrain: { ...p.rpnTrain, preNmsTopN: 100, postNmsTopN: 50, minSize: 1000 },
      rpnTest: { ...p.rpnTest, preNmsTopN: 100, postNmsTopN: 50, minSize: 1000 },
    },
  });
  tidy(() => {
    // and the RPN says "no object" everywhere
    d.rpnHead.clsLogits.bias!.detach().fill_(-50);
    const b = batch([[A, B], []]);
    const res = d.predict(b.images, b.metas);
    assert.equal(res.length, 2);
    for (const r of res) {
      assert.deepEqual(r.boxes.shape, [0, 4]);
      assert.deepEqual(r.scores.shape, [0]);
      assert.deepEqual(r.labels.shape, [0]);
      assert.equal(r.labels.dtype, 'int64');
    }
    const f = d.forward(b.images, b.metas, 'train');
    assert.deepEqual(
      f.proposals.map((x) => x.boxes.shape),
      [
        [0, 4],
        [0, 4],
      ],
    );
    const t = d.trainTargets(f, TwoStage.gts(b), sources());
    assert.deepEqual(t.rois.numPerImage, [2, 0]);
    assert.deepEqual(t.rois.numPosPerImage, [2, 0]);
    assert.deepEqual(t.rois.rois.toArray(), [0, ...A, 0, ...B]);
    const v = values(d.lossesFrom(f, t.rpn, t.rois, t.head));
    assertFiniteLosses(v);
    assert.ok(v.loss_classifier! > 0);
    // logits ~ -50 everywhere: each sampled positive costs ~50, each negative ~0
    const pos = t.rpn.samples.reduce((s, x) => s + x.pos.sum().item(), 0);
    const all = t.rpn.samples.reduce((s, x) => s + x.pos.sum().item() + x.neg.sum().item(), 0);
    assert.ok(pos > 0);
    const want = (50 * pos) / all;
    assert.ok(
      Math.abs(v.loss_objectness! - want) < 0.05 * want,
      `objectness ${v.loss_objectness} vs ${want}`,
    );
  });
});

test('zero-size RoIs into roiHead give finite features, scores and deltas (and gradients)', () => {
  tidy(() => {
    const b = batch([[A]]);
    const f = mm.forward(b.images, b.metas, 'train');
    const rois = tensor([
      [0, 10, 10, 10, 10],
      [0, 5, 5, 5, 30],
      [0, 96, 64, 96, 64],
      [0, 0, 0, 0, 0],
    ]);
    const h = mm.roiHead(f.neck, rois);
    assert.deepEqual(h.feats.shape, [4, 16, 7, 7]);
    assert.deepEqual(h.clsScore.shape, [4, N + 1]);
    assert.deepEqual(h.bboxPred.shape, [4, 4 * N]);
    for (const [k, x] of Object.entries(h)) assert.equal(x.isfinite().all().item(), 1, `${k} not finite`);
    mm.zeroGrad();
    h.clsScore.sum().add(h.bboxPred.sum()).backward();
    const g = mm.bboxHead.namedParameters().map(([, p]) => p.grad);
    assert.ok(g.every((x) => x !== null && x.isfinite().all().item() === 1));
    mm.zeroGrad();
  });
});

for (const preset of ['mmdet', 'torchvision'] as const) {
  test(`predict (${preset}): boxes in original pixels (flip and scale undone), labels 0..N-1`, () => {
    const d = preset === 'mmdet' ? mm : det({ preset });
    assert.equal(d.background, preset === 'mmdet' ? 'last' : 'first');
    tidy(() => {
      // image 0: 80 x 120 resized by (0.8, 0.75) to 60 x 96 and flipped, padded to 64 x 96
      const m0 = meta(0, [80, 120], {
        imgShape: [60, 96],
        padShape: [64, 96],
        scaleFactor: [0.8, 0.75],
        flipped: true,
      });
      const m1 = meta(1, [64, 96]);
      const images = rand([2, 3, 64, 96], { generator: new Generator(3) }).mul(255);
      images.select(0, 0).narrow(1, 60, 4).fill_(0);
      const raw = d.detect(images, [m0, m1]);
      const res = d.predict(images, [m0, m1]);
      const shift = preset === 'mmdet' ? 0 : 1;
      for (const i of [0, 1]) {
        const n = raw[i]!.boxes.size(0);
        assert.ok(n > 0, `image ${i}: detections`);
        assert.deepEqual(res[i]!.boxes.shape, [n, 4]);
        assert.deepEqual(res[i]!.scores.toArray(), raw[i]!.scores.toArray());
        const rawLabels = raw[i]!.labels.toArray();
        const labels = res[i]!.labels.toArray();
        assert.deepEqual(
          labels,
          rawLabels.map((l) => l - shift),
        );
        assert.ok(
          labels.every((l) => Number.isInteger(l) && l >= 0 && l < N),
          `labels ${labels}`,
        );
        if (preset === 'torchvision')
          assert.ok(
            rawLabels.every((l) => l >= 1),
            'score column 0 is background',
          );
      }
      // image 1: unscaled, unflipped: the same boxes
      assert.deepEqual(res[1]!.boxes.toArray(), raw[1]!.boxes.toArray());
      // image 0: x -> (96 - x) / 0.8 swapping x1 / x2, y -> y / 0.75, inside 120 x 80
      const rb = raw[0]!.boxes.toArray();
      const pb = res[0]!.boxes.toArray();
      for (let k = 0; k < rb.length / 4; k++) {
        const [x1, y1, x2, y2] = rb.slice(4 * k, 4 * k + 4) as [number, number, number, number];
        const want = [(96 - x2) / 0.8, y1 / 0.75, (96 - x1) / 0.8, y2 / 0.75];
        const got = pb.slice(4 * k, 4 * k + 4);
        for (let j = 0; j < 4; j++) {
          const lim = j % 2 === 0 ? 120 : 80;
          const w = Math.min(Math.max(want[j]!, 0), lim);
          assert.ok(Math.abs(got[j]! - w) <= 1e-4 * Math.max(1, w), `box ${k}[${j}]: ${got[j]} vs ${w}`);
        }
      }
    });
  });
}

test('padding: two image sizes in one batch: the padding is zero after normalize and proposals stay in each imgShape', () => {
  tidy(() => {
    const metas = [meta(0, [64, 96]), meta(1, [48, 72], { padShape: [64, 96] })];
    const imgs = rand([2, 3, 64, 96], { generator: new Generator(4) }).mul(255);
    imgs.select(0, 1).narrow(1, 48, 16).fill_(0);
    imgs.select(0, 1).narrow(2, 72, 24).fill_(0);
    const x = mm.normalize(imgs, metas);
    const pad1 = x.select(0, 1);
    assert.equal(pad1.narrow(1, 48, 16).abs().max().item(), 0, 'rows below imgShape are zero');
    assert.equal(pad1.narrow(2, 72, 24).abs().max().item(), 0, 'columns right of imgShape are zero');
    // the valid region is normalised
    assert.ok(pad1.narrow(1, 0, 48).narrow(2, 0, 72).abs().min().item() > 0);
    const mean = tensor([...mm.mean]).view(3, 1, 1);
    const std = tensor([...mm.std]).view(3, 1, 1);
    const want = imgs.select(0, 1).narrow(1, 0, 48).narrow(2, 0, 72).sub(mean).div(std);
    assert.deepEqual(pad1.narrow(1, 0, 48).narrow(2, 0, 72).toArray(), want.toArray());
    for (const settings of ['train', 'test'] as const) {
      const f = mm.forward(imgs, metas, settings);
      f.proposals.forEach((p, i) => {
        const [h, w] = metas[i]!.imgShape;
        assert.ok(p.boxes.size(0) > 0, `${settings} image ${i}: proposals`);
        const [x1, y1, x2, y2] = p.boxes.unbind(1) as [Tensor, Tensor, Tensor, Tensor];
        assert.ok(x1.min().item() >= 0 && y1.min().item() >= 0, `${settings} image ${i}: inside top-left`);
        assert.ok(x2.max().item() <= w, `${settings} image ${i}: x2 ${x2.max().item()} > ${w}`);
        assert.ok(y2.max().item() <= h, `${settings} image ${i}: y2 ${y2.max().item()} > ${h}`);
      });
      // the full-size image's proposals reach past the small image's size (the clip is per image)
      const x2 = f.proposals[0]!.boxes.select(1, 2).max().item();
      assert.ok(x2 > 72, `image 0: x2 max ${x2}`);
    }
  });
});
