import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Boxes } from '../structures/boxes.ts';
import { boxesToOriginal } from '../structures/instances.ts';
import { collate } from './collate.ts';
import type { RgbImage } from './decode.ts';
import { Rng } from './rng.ts';
import {
  adjustColours,
  applyTransforms,
  flipSample,
  makeSample,
  padImage,
  planarToRgb,
  resizeBilinear,
  resizeSample,
  resizeShape,
  rgbToPlanar,
  type Sample,
} from './transforms.ts';

/** A black h x w image with one red rectangle [x1, y1, x2, y2) (integer pixel edges). */
function redBox(h: number, w: number, box: [number, number, number, number]): RgbImage {
  const data = new Uint8Array(h * w * 3);
  for (let y = box[1]; y < box[3]; y++) for (let x = box[0]; x < box[2]; x++) data[(y * w + x) * 3] = 255;
  return { data, height: h, width: w };
}

function sampleOf(img: RgbImage, box: [number, number, number, number]): Sample {
  return makeSample(img, {
    imageId: 9,
    fileName: 'red.png',
    boxes: Float32Array.from(box),
    labels: Int32Array.from([4]),
    ignore: Float32Array.from([0, 0, 2, 2]),
  });
}

/** Checks that red fills the box interior (1 px inset) and is absent 1 px outside it. */
function assertRedAt(s: Sample, padded?: { h: number; w: number; data: Float32Array }): void {
  const img = padded ?? { h: s.image.height, w: s.image.width, data: s.image.data };
  const [x1, y1, x2, y2] = s.boxes.get(0);
  const red = (x: number, y: number): number => img.data[y * img.w + x]!;
  for (let y = Math.ceil(y1) + 1; y < Math.floor(y2) - 1; y++) {
    for (let x = Math.ceil(x1) + 1; x < Math.floor(x2) - 1; x++)
      assert.ok(red(x, y) > 250, `inside (${x},${y}): ${red(x, y)}`);
  }
  for (let y = 0; y < img.h; y++) {
    for (let x = 0; x < img.w; x++) {
      const outside = x + 0.5 < x1 - 1 || x + 0.5 > x2 + 1 || y + 0.5 < y1 - 1 || y + 0.5 > y2 + 1;
      if (outside) assert.equal(red(x, y), 0, `outside (${x},${y})`);
    }
  }
}

test('resize shapes: keep ratio within (short, max), or fixed', () => {
  assert.deepEqual(resizeShape(480, 640, { kind: 'keepRatio', short: 800, max: 1333 }), [800, 1067]);
  assert.deepEqual(resizeShape(100, 1000, { kind: 'keepRatio', short: 800, max: 1333 }), [133, 1333]);
  assert.deepEqual(resizeShape(40, 60, { kind: 'fixed', height: 50, width: 70 }), [50, 70]);
});

test('bilinear resize uses half-pixel centres (cv2 INTER_LINEAR values)', () => {
  const img = { data: Float32Array.from([0, 100, 200, 300, 0, 0, 0, 0, 1, 1, 1, 1]), height: 2, width: 2 };
  const out = resizeBilinear(img, 4, 4);
  assert.deepEqual(
    Array.from(out.data.subarray(0, 16)),
    [0, 25, 75, 100, 50, 75, 125, 150, 150, 175, 225, 250, 200, 225, 275, 300],
  );
  assert.deepEqual(Array.from(out.data.subarray(32)), new Array(16).fill(1));
  const down = resizeBilinear(out, 2, 2);
  assert.deepEqual(Array.from(down.data.subarray(0, 4)), [37.5, 112.5, 187.5, 262.5]);
});

test('planar conversion, flip and pad', () => {
  const rgb = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), height: 1, width: 2 };
  const p = rgbToPlanar(rgb);
  assert.deepEqual(Array.from(p.data), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(Array.from(planarToRgb(p).data), [1, 2, 3, 4, 5, 6]);
  const pad = padImage(p, 2, 3);
  assert.deepEqual(Array.from(pad.data), [1, 4, 0, 0, 0, 0, 2, 5, 0, 0, 0, 0, 3, 6, 0, 0, 0, 0]);
  assert.throws(() => padImage(p, 1, 1), RangeError);
});

test('boxes stay aligned with pixels through resize, flip and pad; round trip to original', () => {
  const box: [number, number, number, number] = [10, 8, 30, 20];
  const s0 = sampleOf(redBox(40, 60, box), box);
  assertRedAt(s0);
  const s1 = resizeSample(s0, { kind: 'keepRatio', short: 80, max: 200 });
  assert.deepEqual(s1.meta.imgShape, [80, 120]);
  assert.deepEqual(s1.meta.scaleFactor, [2, 2]);
  assert.deepEqual(s1.boxes.toArray(), [[20, 16, 60, 40]]);
  assert.deepEqual(Array.from(s1.ignore.data), [0, 0, 4, 4]);
  assertRedAt(s1);
  const s2 = flipSample(s1);
  assert.equal(s2.meta.flipped, true);
  assert.deepEqual(s2.boxes.toArray(), [[60, 16, 100, 40]]);
  assert.deepEqual(Array.from(s2.ignore.data), [116, 0, 120, 4]);
  assertRedAt(s2);
  // Pad via collation: 80x120 → 96x128, image top-left, zeros elsewhere.
  const batch = collate([s2], 32, { indices: [0], epoch: 0, step: 0 });
  assert.deepEqual(batch.shape, [1, 3, 96, 128]);
  assert.deepEqual(batch.metas[0]!.padShape, [96, 128]);
  assert.deepEqual(batch.metas[0]!.imgShape, [80, 120]);
  assertRedAt(s2, { h: 96, w: 128, data: batch.images });
  for (let y = 80; y < 96; y++) for (let x = 0; x < 128; x++) assert.equal(batch.images[y * 128 + x], 0);
  assert.deepEqual(boxesToOriginal(batch.gtBoxes[0]!, batch.metas[0]!).toArray(), [box]);

  // A non-uniform, non-integer scale: 40x60 → 50x70.
  const s3 = flipSample(resizeSample(s0, { kind: 'fixed', height: 50, width: 70 }));
  assert.deepEqual(s3.meta.scaleFactor, [70 / 60, 50 / 40]);
  const [x1, y1, x2, y2] = s3.boxes.get(0);
  assert.ok(Math.abs(x1 - (70 - 30 * (70 / 60))) < 1e-4 && Math.abs(x2 - (70 - 10 * (70 / 60))) < 1e-4);
  assert.ok(Math.abs(y1 - 10) < 1e-4 && Math.abs(y2 - 25) < 1e-4);
  assertRedAt(s3);
  const back = boxesToOriginal(s3.boxes, s3.meta).get(0);
  for (const [i, v] of box.entries()) assert.ok(Math.abs(back[i]! - v) < 1e-4);
});

test('photometric factors: brightness multiplies, contrast and saturation blend to grey', () => {
  const img = { data: Float32Array.from([100, 200, 50, 150, 0, 250]), height: 1, width: 2 };
  const a = { ...img, data: img.data.slice() };
  adjustColours(a, 1.5, 1, 1);
  assert.deepEqual(Array.from(a.data), [150, 255, 75, 225, 0, 255]);
  const c = { ...img, data: img.data.slice() };
  adjustColours(c, 1, 0, 1);
  const mean = (0.299 * 100 + 0.587 * 50 + 0.114 * 0 + 0.299 * 200 + 0.587 * 150 + 0.114 * 250) / 2;
  for (const v of c.data) assert.ok(Math.abs(v - mean) < 1e-3);
  const s = { ...img, data: img.data.slice() };
  adjustColours(s, 1, 1, 0);
  const g0 = 0.299 * 100 + 0.587 * 50;
  assert.ok(
    Math.abs(s.data[0]! - g0) < 1e-3 && Math.abs(s.data[2]! - g0) < 1e-3 && Math.abs(s.data[4]! - g0) < 1e-3,
  );
});

test('applyTransforms is a function of the rng key; flip probability honoured', () => {
  const box: [number, number, number, number] = [2, 2, 12, 9];
  const s = sampleOf(redBox(16, 24, box), box);
  const cfg = {
    resize: { kind: 'fixed' as const, height: 32, width: 48 },
    flipProb: 0.5,
    photometric: { brightness: 0.3, contrast: 0.3, saturation: 0.3 },
    padDivisor: 32,
  };
  const a = applyTransforms(s, cfg, new Rng(123));
  const b = applyTransforms(s, cfg, new Rng(123));
  assert.deepEqual(Array.from(a.image.data), Array.from(b.image.data));
  assert.deepEqual(a.meta, b.meta);
  let flips = 0;
  for (let k = 0; k < 200; k++)
    if (applyTransforms(s, { ...cfg, photometric: null }, new Rng(k)).meta.flipped) flips++;
  assert.ok(flips > 70 && flips < 130, `flips ${flips}`);
  const never = applyTransforms(s, { ...cfg, flipProb: 0, photometric: null, resize: null }, new Rng(1));
  assert.equal(never.meta.flipped, false);
  assert.deepEqual(Array.from(never.image.data), Array.from(s.image.data));
  assert.deepEqual(Array.from(never.boxes.data), box);
  const always = applyTransforms(s, { ...cfg, flipProb: 1, photometric: null, resize: null }, new Rng(1));
  assert.deepEqual(always.boxes.toArray(), [[12, 2, 22, 9]]);
  assert.ok(new Boxes('xyxy', always.boxes.data).length === 1);
});
