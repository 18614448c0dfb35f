import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HostBatch } from './batch.ts';
import { Boxes } from './boxes.ts';
import { disposeBatch, toTensorBatch } from './tensor-batch.ts';

test('toTensorBatch maps a HostBatch 1:1 onto tensors (labels widened to int64)', () => {
  const images = new Float32Array(2 * 3 * 32 * 32).map((_, i) => i % 255);
  const meta = {
    imageId: 7,
    fileName: 'a.png',
    oriShape: [20, 30],
    imgShape: [20, 30],
    padShape: [32, 32],
    scaleFactor: [1, 1],
    flipped: false,
  } as const;
  const h: HostBatch = {
    images,
    shape: [2, 3, 32, 32],
    metas: [meta, { ...meta, imageId: 8 }],
    gtBoxes: [new Boxes('xyxy', new Float32Array([1, 2, 10, 12, 3, 3, 5, 9])), Boxes.empty('xyxy')],
    gtLabels: [new Int32Array([4, 0]), new Int32Array(0)],
    ignoreBoxes: [Boxes.empty('xyxy'), new Boxes('xyxy', new Float32Array([0, 0, 4, 4]))],
    indices: [0, 1],
    epoch: 0,
    step: 0,
  };
  const b = toTensorBatch(h);
  assert.deepEqual(b.images.shape, [2, 3, 32, 32]);
  assert.equal(b.images.dtype, 'float32');
  assert.deepEqual(b.images.toArray().slice(0, 5), [0, 1, 2, 3, 4]);
  assert.deepEqual(b.gtBoxes[0]!.shape, [2, 4]);
  assert.deepEqual(b.gtBoxes[0]!.toArray(), [1, 2, 10, 12, 3, 3, 5, 9]);
  assert.deepEqual(b.gtBoxes[1]!.shape, [0, 4]);
  assert.equal(b.gtLabels[0]!.dtype, 'int64');
  assert.deepEqual(b.gtLabels[0]!.toArray(), [4, 0]);
  assert.deepEqual(b.gtLabels[1]!.shape, [0]);
  assert.deepEqual(b.ignoreBoxes[1]!.toArray(), [0, 0, 4, 4]);
  assert.equal(b.metas[1]!.imageId, 8);
  disposeBatch(b);
  assert.equal(b.images.isDisposed, true);
});
