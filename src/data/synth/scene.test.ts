import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../rng.ts';
import { SYNTH_CLASSES } from './classes.ts';
import { MIN_SIDE, PRESETS } from './presets.ts';
import { coverage, regularPolygon, shapeBounds } from './raster.ts';
import { synthAnnotations, synthImage } from './render.ts';
import { CROWD_VISIBILITY, computeVisibility, layoutScene } from './scene-layout.ts';
import { renderScene } from './scene-render.ts';

test('at least 10 classes, distinct names, with shared shapes and shared hues (hard pairs)', () => {
  assert.ok(SYNTH_CLASSES.length >= 10);
  assert.equal(new Set(SYNTH_CLASSES.map((c) => c.name)).size, SYNTH_CLASSES.length);
  assert.deepEqual(
    SYNTH_CLASSES.map((c) => c.id),
    SYNTH_CLASSES.map((_, i) => i + 1),
  );
  const byShape = new Map<string, number>();
  for (const c of SYNTH_CLASSES) byShape.set(c.shape, (byShape.get(c.shape) ?? 0) + 1);
  assert.ok([...byShape.values()].filter((n) => n >= 2).length >= 3, 'three shapes shared by two classes');
  assert.equal(new Set(SYNTH_CLASSES.map((c) => c.shape)).size, 10);
});

test('demo distribution: each COCO area bucket >= 15% of boxes, every side >= 12 px, crowded and occluded scenes', () => {
  const p = PRESETS.demo;
  const buckets = [0, 0, 0];
  let n = 0;
  let crowd = 0;
  let minSide = Infinity;
  let occluded = 0;
  let maxPerImage = 0;
  let minPerImage = Infinity;
  const N = 300;
  for (let i = 0; i < N; i++) {
    const anns = synthAnnotations(p, 0, i % 4 === 0 ? 'val' : 'train', i);
    let k = 0;
    for (const a of anns) {
      const [x, y, w, h] = a.bbox;
      assert.ok(x >= 0 && y >= 0 && x + w <= p.size && y + h <= p.size, 'inside the image');
      assert.equal(a.area, Math.round(w * h * 100) / 100);
      if (a.iscrowd === 1) {
        assert.ok(a.visibility < CROWD_VISIBILITY);
        crowd++;
        continue;
      }
      assert.ok(a.visibility >= CROWD_VISIBILITY);
      if (a.visibility < 0.9) occluded++;
      n++;
      k++;
      minSide = Math.min(minSide, w, h);
      buckets[w * h < 32 * 32 ? 0 : w * h < 96 * 96 ? 1 : 2]!++;
    }
    maxPerImage = Math.max(maxPerImage, k);
    minPerImage = Math.min(minPerImage, k);
  }
  const shares = buckets.map((b) => b / n);
  for (const s of shares) assert.ok(s >= 0.15, `bucket shares ${shares.map((x) => x.toFixed(3))}`);
  assert.ok(minSide >= MIN_SIDE - 0.01, `min side ${minSide}`);
  assert.ok(minPerImage >= 3, `min objects per image ${minPerImage}`);
  assert.ok(maxPerImage >= 20, `max objects per image ${maxPerImage}`);
  assert.ok(occluded / n > 0.05, `partially occluded ${occluded / n}`);
  assert.ok(crowd > 0 && crowd / (n + crowd) < 0.05, `crowd share ${crowd / (n + crowd)}`);
});

test('tiny preset: large objects, min side, few per image', () => {
  const p = PRESETS.tiny;
  for (let i = 0; i < 40; i++) {
    const anns = synthAnnotations(p, 0, 'train', i).filter((a) => a.iscrowd === 0);
    assert.ok(anns.length >= 1 && anns.length <= 5);
    for (const a of anns) assert.ok(Math.min(a.bbox[2], a.bbox[3]) >= 20, `${a.bbox}`);
  }
});

test('boxes are tight to the full shape: rasterised coverage touches every box edge', () => {
  const hex = {
    kind: 'polygon' as const,
    cx: 20,
    cy: 20,
    angle: 0.3,
    points: regularPolygon(20, 20, 11.3, 6, 0.3),
  };
  const [x1, y1, x2, y2] = shapeBounds(hex);
  const cov = coverage(hex, 40, 40);
  let mx1 = Infinity;
  let my1 = Infinity;
  let mx2 = -Infinity;
  let my2 = -Infinity;
  for (let y = 0; y < cov.h; y++) {
    for (let x = 0; x < cov.w; x++) {
      if (cov.cov[y * cov.w + x]! > 0.02) {
        mx1 = Math.min(mx1, cov.x0 + x);
        my1 = Math.min(my1, cov.y0 + y);
        mx2 = Math.max(mx2, cov.x0 + x + 1);
        my2 = Math.max(my2, cov.y0 + y + 1);
      }
    }
  }
  for (const [a, b] of [
    [mx1, x1],
    [my1, y1],
    [mx2, x2],
    [my2, y2],
  ] as const) {
    assert.ok(Math.abs(a - b) <= 1, `raster edge ${a} vs box ${b}`);
  }
  const ring = { kind: 'ring' as const, cx: 10, cy: 10, r: 6, thickness: 2 };
  const rc = coverage(ring, 20, 20);
  assert.equal(rc.cov[(10 - rc.y0) * rc.w + (10 - rc.x0)], 0, 'ring centre is empty');
});

test('visibility from the layout equals visibility from the render; rendering is deterministic', () => {
  const p = PRESETS.demo;
  for (let i = 0; i < 3; i++) {
    const scene = layoutScene(Rng.from(i), p);
    const r = renderScene(scene);
    assert.deepEqual(Array.from(computeVisibility(scene)), Array.from(r.visibility));
  }
  const a = synthImage(p, 4, 'train', 17);
  const b = synthImage(p, 4, 'train', 17);
  assert.deepEqual(a.annotations, b.annotations);
  assert.ok(Buffer.from(a.rgb).equals(Buffer.from(b.rgb)));
  assert.equal(a.rgb.length, p.size * p.size * 3);
  assert.deepEqual(a.annotations, synthAnnotations(p, 4, 'train', 17));
  const c = synthImage(p, 5, 'train', 17);
  assert.ok(!Buffer.from(a.rgb).equals(Buffer.from(c.rgb)));
});
