import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  Boxes,
  boxArea,
  boxIou,
  clipBoxes,
  convertBoxes,
  flipBoxesHorizontal,
  scaleBoxes,
  translateBoxes,
} from './boxes.ts';
import { boxesToInput, boxesToOriginal, type ImageMeta } from './instances.ts';

const near = (a: ArrayLike<number>, b: number[], eps = 1e-4): void => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= eps, `[${i}] ${a[i]} vs ${b[i]}`);
};

test('format conversions', () => {
  const b = Boxes.xywh([10, 20, 30, 40, 0, 0, 1, 2]);
  assert.equal(b.length, 2);
  const x = b.toXyxy();
  assert.equal(x.format, 'xyxy');
  assert.deepEqual(x.toArray(), [
    [10, 20, 40, 60],
    [0, 0, 1, 2],
  ]);
  assert.deepEqual(Array.from(x.toCxcywh().data), [25, 40, 30, 40, 0.5, 1, 1, 2]);
  assert.deepEqual(Array.from(convertBoxes(x.toCxcywh(), 'xywh').data), Array.from(b.data));
  assert.throws(() => new Boxes('xyxy', new Float32Array(3)), RangeError);
  assert.equal(Boxes.empty('xyxy').length, 0);
});

test('area, clip, flip, scale, translate, select, iou', () => {
  const b = Boxes.xyxy([-5, 2, 10, 8, 3, 3, 3, 9, 90, 90, 120, 95]);
  assert.deepEqual(Array.from(boxArea(b)), [90, 0, 150]);
  assert.deepEqual(Array.from(clipBoxes(b, 50, 100).data), [0, 2, 10, 8, 3, 3, 3, 9, 90, 50, 100, 50]);
  const f = flipBoxesHorizontal(b, 100);
  assert.deepEqual(Array.from(f.data), [90, 2, 105, 8, 97, 3, 97, 9, -20, 90, 10, 95]);
  assert.deepEqual(Array.from(flipBoxesHorizontal(f, 100).data), Array.from(b.data));
  assert.deepEqual(
    Array.from(scaleBoxes(b, 2, 0.5).data),
    [-10, 1, 20, 4, 6, 1.5, 6, 4.5, 180, 45, 240, 47.5],
  );
  assert.deepEqual(Array.from(translateBoxes(b, 1, -1).data), [-4, 1, 11, 7, 4, 2, 4, 8, 91, 89, 121, 94]);
  assert.deepEqual(b.select([2, 0]).toArray(), [
    [90, 90, 120, 95],
    [-5, 2, 10, 8],
  ]);
  const iou = boxIou(Boxes.xyxy([0, 0, 10, 10]), Boxes.xyxy([5, 0, 15, 10, 20, 20, 30, 30, 0, 0, 10, 10]));
  near(iou, [50 / 150, 0, 1]);
});

test('boxesToOriginal inverts resize + flip (and boxesToInput is its forward)', () => {
  const meta: ImageMeta = {
    imageId: 1,
    fileName: 'x.png',
    oriShape: [300, 400],
    imgShape: [240, 320],
    padShape: [256, 320],
    scaleFactor: [320 / 400, 240 / 300],
    flipped: true,
  };
  const ori = Boxes.xyxy([10, 20, 110, 220, 0, 0, 400, 300]);
  const inp = boxesToInput(ori, meta);
  // x: scale 0.8 then flip in width 320: [8, 88] -> [232, 312]; y: 0.8.
  near(inp.data, [232, 16, 312, 176, 0, 0, 320, 240]);
  near(boxesToOriginal(inp, meta).data, Array.from(ori.data));
  // Clipping to the original image.
  near(boxesToOriginal(Boxes.xyxy([-10, -10, 330, 250]), meta).data, [0, 0, 400, 300]);
  near(boxesToOriginal(Boxes.xyxy([-10, -10, 330, 250]), meta, false).data, [-12.5, -12.5, 412.5, 312.5]);
});
