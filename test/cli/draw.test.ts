// Box drawing for `detkd predict`: exact rectangle pixels, labels placed inside the image, the
// bitmap font fallback.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import {
  bitmapTextSize,
  classColor,
  drawBitmapText,
  fillRect,
  type LabelRect,
  type LabelSpec,
  placeLabels,
  renderDetections,
  strokeRect,
  svgTextAvailable,
} from '../../src/cli/draw.ts';
import type { RgbImage } from '../../src/data/decode.ts';

function grey(h: number, w: number, v = 100): RgbImage {
  return { data: new Uint8Array(h * w * 3).fill(v), height: h, width: w };
}

function px(img: RgbImage, x: number, y: number): number[] {
  const o = (y * img.width + x) * 3;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
}

async function decode(png: Buffer): Promise<RgbImage> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.channels, 3);
  return { data: new Uint8Array(data), height: info.height, width: info.width };
}

describe('draw', () => {
  test('strokeRect: a 2 px outline inside the box, interior untouched, clipped at the border', () => {
    const img = grey(40, 50);
    const c = [10, 200, 30] as const;
    strokeRect(img, [10, 5, 30, 25], c, 2);
    for (const [x, y] of [
      [10, 5],
      [29, 5],
      [10, 24],
      [29, 24],
      [20, 6],
      [11, 15],
      [28, 15],
      [20, 23],
    ] as const) {
      assert.deepEqual(px(img, x, y), [...c], `(${x}, ${y})`);
    }
    for (const [x, y] of [
      [12, 7],
      [20, 15],
      [27, 22],
      [9, 15],
      [30, 15],
      [20, 4],
      [20, 25],
    ] as const) {
      assert.deepEqual(px(img, x, y), [100, 100, 100], `(${x}, ${y})`);
    }
    const edge = grey(10, 10);
    strokeRect(edge, [-5, -5, 20, 20], c, 1); // entirely outside but the clip: nothing drawn, no throw
    assert.ok(edge.data.every((v) => v === 100));
    fillRect(edge, 8, 8, 30, 30, c);
    assert.deepEqual(px(edge, 9, 9), [...c]);
  });

  test('renderDetections: box pixels in the class colour in the PNG; the label sits above the box', async () => {
    const img = grey(120, 160);
    const color = classColor(2);
    const png = await renderDetections(img, [{ box: [40, 60, 120, 110], text: 'cat 0.87', color }], {
      thickness: 3,
      fontSize: 12,
    });
    const out = await decode(png);
    assert.deepEqual([out.height, out.width], [120, 160]);
    // The outline: left, right and bottom edges (the top edge is under the label's background,
    // which has the same colour).
    for (const [x, y] of [
      [40, 80],
      [42, 100],
      [119, 80],
      [117, 90],
      [80, 109],
      [80, 107],
    ] as const) {
      assert.deepEqual(px(out, x, y), [...color], `(${x}, ${y})`);
    }
    assert.deepEqual(px(out, 80, 85), [100, 100, 100]);
    // The label background: a band above the box starting at its left edge, with text pixels
    // (white or black) inside it when fonts work.
    assert.deepEqual(px(out, 41, 57), [...color]);
    let ink = 0;
    for (let y = 40; y < 60; y++) {
      for (let x = 40; x < 110; x++) {
        const p = px(out, x, y);
        if (p.every((v) => v > 200) || p.every((v) => v < 50)) ink++;
      }
    }
    assert.ok(ink > 20, `text pixels in the label: ${ink}`);
    // The original is not modified.
    assert.ok(img.data.every((v) => v === 100));
  });

  test('a label near the top edge goes inside the box; near the right edge it shifts left', async () => {
    const img = grey(60, 80);
    const color = classColor(0);
    const png = await renderDetections(img, [{ box: [60, 0, 80, 40], text: 'person 0.99', color }], {
      thickness: 1,
      fontSize: 10,
    });
    const out = await decode(png);
    // The label starts inside the image at the top and ends at the right border.
    assert.deepEqual(px(out, 79, 1), [...color]);
    assert.deepEqual(px(out, 20, 1), [...color]);
  });

  test('placeLabels: crowded boxes get labels that do not overlap, each by its own box', () => {
    const W = 200;
    const H = 160;
    const specs: LabelSpec[] = Array.from({ length: 8 }, (_, i) => ({
      box: [20 + 4 * i, 50 + 3 * i, 120 + 4 * i, 140 + 3 * i] as const,
      w: 60,
      h: 14,
    }));
    const rects = placeLabels(specs, W, H);
    const hit = (a: LabelRect, b: LabelRect): boolean =>
      a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    for (const [i, r] of rects.entries()) {
      const [x1, y1, x2, y2] = specs[i]!.box;
      assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= W && r.y + r.h <= H, `label ${i} leaves the image`);
      assert.ok(r.x < x2 && r.x + r.w > x1, `label ${i} is not over its box's column`);
      assert.ok(r.y + r.h >= y1 - 3 * r.h && r.y <= y2 + 2 * r.h, `label ${i} is far from its box`);
      for (const [j, q] of rects.entries()) {
        if (j !== i) assert.ok(!hit(r, q), `labels ${i} and ${j} overlap: ${JSON.stringify([r, q])}`);
      }
    }
    // The last item (drawn on top: the highest score) keeps the usual place, above its box.
    assert.deepEqual(rects[7], { x: 48, y: 71 - 14, w: 60, h: 14 });
    // Without that crowd, the first item's label is above its box too.
    assert.deepEqual(placeLabels([specs[0]!], W, H), [{ x: 20, y: 36, w: 60, h: 14 }]);
  });

  test('placeLabels: at the image edges a label stays inside (inside the box when there is no room above)', () => {
    const W = 100;
    const H = 80;
    const top: LabelSpec = { box: [10, 0, 60, 40], w: 50, h: 14 };
    const corner: LabelSpec = { box: [70, 60, 100, 80], w: 50, h: 14 };
    const outside: LabelSpec = { box: [-10, -5, 30, 20], w: 50, h: 14 };
    assert.deepEqual(placeLabels([top], W, H), [{ x: 10, y: 0, w: 50, h: 14 }], 'inside the top edge');
    assert.deepEqual(placeLabels([corner], W, H), [{ x: 50, y: 46, w: 50, h: 14 }], 'above, shifted left');
    assert.deepEqual(placeLabels([outside], W, H), [{ x: 0, y: 0, w: 50, h: 14 }], 'a box off the image');
    // All three: still inside, and the top-edge label makes way for the one drawn over it.
    const rects = placeLabels([top, corner, outside], W, H);
    for (const r of rects)
      assert.ok(r.x >= 0 && r.y >= 0 && r.x + r.w <= W && r.y + r.h <= H, JSON.stringify(r));
    assert.deepEqual(rects[0], { x: 10, y: 14, w: 50, h: 14 });
    assert.deepEqual(rects[2], { x: 0, y: 0, w: 50, h: 14 });
  });

  test('bitmap font: glyph size and ink', () => {
    assert.deepEqual(bitmapTextSize('ab 1', 2), { width: (4 * 6 - 1) * 2, height: 14 });
    const img = grey(10, 20, 0);
    drawBitmapText(img, 'I', 1, 1, 1, [255, 255, 255]);
    // 'I' is a 3 px bar (columns 1-3) top and bottom, a 1 px stem at column 2.
    assert.deepEqual(px(img, 1, 1), [0, 0, 0]);
    assert.deepEqual(px(img, 2, 1), [255, 255, 255]);
    assert.deepEqual(px(img, 5, 1), [0, 0, 0]);
    assert.deepEqual(px(img, 3, 4), [255, 255, 255]);
    assert.deepEqual(px(img, 2, 4), [0, 0, 0]);
    assert.deepEqual(px(img, 4, 7), [255, 255, 255]);
    // Unknown characters draw as '?', lower case as upper case.
    const a = grey(10, 10, 0);
    const b = grey(10, 10, 0);
    drawBitmapText(a, 'q', 0, 0, 1, [255, 255, 255]);
    drawBitmapText(b, 'Q', 0, 0, 1, [255, 255, 255]);
    assert.deepEqual(a.data, b.data);
  });

  test('DETKD_BITMAP_FONT=1 draws labels with the bitmap font', async () => {
    process.env.DETKD_BITMAP_FONT = '1';
    try {
      assert.equal(await svgTextAvailable(), false);
      const color = classColor(3);
      const out = await decode(
        await renderDetections(grey(60, 100), [{ box: [10, 30, 60, 55], text: 'DOG 0.5', color }], {
          fontSize: 9,
        }),
      );
      // scale 1, pad 2: the background spans 7 * 6 - 1 + 4 = 45 px from x = 10, rows 19..29.
      assert.deepEqual(px(out, 10, 19), [...color]);
      assert.deepEqual(px(out, 54, 29), [...color]);
      assert.deepEqual(px(out, 55, 25), [100, 100, 100]);
      // 'D' starts with a full-height stem at x = 12, y = 21..27, in white on this dark red.
      for (let y = 21; y <= 27; y++) assert.deepEqual(px(out, 12, y), [255, 255, 255]);
    } finally {
      delete process.env.DETKD_BITMAP_FONT;
    }
  });

  test('svg text probe answers a boolean (and is cached)', async () => {
    const a = await svgTextAvailable();
    assert.equal(typeof a, 'boolean');
    assert.equal(await svgTextAvailable(), a);
  });
});
