import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Tensor, tensor, tidy } from '../core/tensor.ts';
import type { ImageMeta } from '../structures/instances.ts';
import { postprocessImage, toCocoResults, toOriginal } from './postprocess.ts';

const meta: ImageMeta = {
  imageId: 3,
  fileName: 'x.png',
  oriShape: [100, 200],
  imgShape: [50, 100],
  padShape: [64, 128],
  scaleFactor: [0.5, 0.5],
  flipped: false,
};
// Priors are the boxes themselves; "decode" adds the predicted offsets.
const decode = (p: Tensor, d: Tensor) => p.add(d);
const logit = (p: number) => Math.log(p / (1 - p));

test('postprocess: threshold, class-aware NMS, max per image, original coordinates', () => {
  tidy(() => {
    const priors = tensor([
      [0, 0, 10, 10],
      [1, 1, 10, 10],
      [30, 30, 40, 40],
      [60, 0, 70, 10],
    ]);
    const cls = tensor([
      [logit(0.9), logit(0.01)],
      [logit(0.8), logit(0.7)],
      [logit(0.6), logit(0.02)],
      [logit(0.03), logit(0.04)],
    ]);
    const det = postprocessImage([{ clsLogits: cls, boxPreds: priors.mul(0), priors }], decode, meta, {
      scoreThr: 0.05,
      nmsPre: 1000,
      iouThr: 0.5,
      maxPerImg: 100,
    });
    // class 0: prior 1 overlaps prior 0 (IoU 0.81) and is suppressed; class 1 keeps prior 1.
    const scores = det.scores.toArray().map((x) => Math.round(x * 100) / 100);
    assert.deepEqual(scores, [0.9, 0.7, 0.6]);
    assert.deepEqual(det.labels.toArray(), [0, 1, 0]);
    assert.deepEqual(det.boxes.toArray(), [0, 0, 20, 20, 2, 2, 20, 20, 60, 60, 80, 80]);
    const limited = postprocessImage([{ clsLogits: cls, boxPreds: priors.mul(0), priors }], decode, meta, {
      scoreThr: 0.05,
      nmsPre: 2,
      iouThr: 0.5,
      maxPerImg: 1,
    });
    assert.equal(limited.scores.size(0), 1);
    const coco = toCocoResults(det, meta.imageId, (l) => [11, 22][l]!);
    assert.deepEqual(coco[0], {
      image_id: 3,
      category_id: 11,
      bbox: [0, 0, 20, 20],
      score: det.scores.toArray()[0],
    });
  });
});

test('postprocess: no candidate above threshold gives empty results; centre-ness multiplies scores', () => {
  tidy(() => {
    const priors = tensor([[0, 0, 10, 10]]);
    const det = postprocessImage(
      [{ clsLogits: tensor([[logit(0.01)]]), boxPreds: priors.mul(0), priors }],
      decode,
      meta,
    );
    assert.deepEqual(det.boxes.shape, [0, 4]);
    const withC = postprocessImage(
      [
        {
          clsLogits: tensor([[logit(0.8)]]),
          boxPreds: priors.mul(0),
          priors,
          centerness: tensor([logit(0.5)]),
        },
      ],
      decode,
      meta,
    );
    assert.ok(Math.abs(withC.scores.item() - 0.4) < 1e-6);
  });
});

test('toOriginal undoes flip and scale and clips', () => {
  tidy(() => {
    const flipped = { ...meta, flipped: true };
    const b = toOriginal(tensor([[10, 5, 30, 20]]), flipped);
    // un-flip in the 100 px wide resized frame: x in [70, 90]; then /0.5
    assert.deepEqual(b.toArray(), [140, 10, 180, 40]);
    assert.deepEqual(toOriginal(tensor([[-5, -5, 150, 80]]), meta).toArray(), [0, 0, 200, 100]);
  });
});
