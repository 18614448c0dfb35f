// Box ops against torchvision 0.14 / mmdetection's formula (fixture made by
// scripts/fixtures/box_ops_oracle.py at one thread): values and gradients bit-exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readJsonFixture } from '../../test/support/oracle.ts';
import { batchedNms, bboxOverlaps, boxIou, generalizedBoxIou } from './box-ops.ts';
import { native } from './native.ts';
import { type Tensor, tensor, tidy } from './tensor.ts';

native.setNumThreads(1);

type Nested = number | Nested[];
interface GradCase {
  inputs: Nested[];
  cotangent: Nested;
  out: Nested;
  grads: Nested[];
}
const fixture = readJsonFixture<
  Record<string, GradCase> & {
    batched_nms: { boxes: number[][]; scores: number[]; idxs: number[]; iou: number; keep: number[] };
  }
>('box-ops/oracle.json');

const flat = (v: Nested): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);

function checkCase(name: string, fn: (a: Tensor, b: Tensor) => Tensor): void {
  const c = fixture[name]!;
  tidy(() => {
    const [a, b] = c.inputs.map((x) => tensor(x as number[][], { requiresGrad: true })) as [Tensor, Tensor];
    const out = fn(a, b);
    assert.deepEqual(out.toArray(), flat(c.out), `${name}: values`);
    out
      .mul(tensor(c.cotangent as number[][]))
      .sum()
      .backward();
    assert.deepEqual(a.grad!.toArray(), flat(c.grads[0]!), `${name}: grad a`);
    assert.deepEqual(b.grad!.toArray(), flat(c.grads[1]!), `${name}: grad b`);
  });
}

test('boxIou matches torchvision.ops.box_iou (values and grads, 0 ULP)', () => checkCase('box_iou', boxIou));
test('generalizedBoxIou matches torchvision (0 ULP)', () =>
  checkCase('generalized_box_iou', generalizedBoxIou));
test('bboxOverlaps aligned iou matches mmdetection formula', () =>
  checkCase('overlaps_iou_aligned', (a, b) => bboxOverlaps(a, b, { aligned: true })));
test('bboxOverlaps aligned giou matches mmdetection formula', () =>
  checkCase('overlaps_giou_aligned', (a, b) => bboxOverlaps(a, b, { mode: 'giou', aligned: true })));
test('bboxOverlaps pairwise giou matches mmdetection formula', () =>
  checkCase('overlaps_giou_pairwise', (a, b) => bboxOverlaps(a, b, { mode: 'giou' })));

test('batchedNms keeps what torchvision.ops.batched_nms keeps', () => {
  const c = fixture.batched_nms;
  tidy(() => {
    const keep = batchedNms(tensor(c.boxes), tensor(c.scores), tensor(c.idxs, { dtype: 'int64' }), c.iou);
    assert.deepEqual(keep.toArray(), c.keep);
  });
});

test('batchedNms: properties', () => {
  tidy(() => {
    // Same box twice in one class: the lower score goes; in two classes both stay.
    const boxes = tensor([
      [0, 0, 10, 10],
      [0, 0, 10, 10],
      [50, 50, 60, 60],
    ]);
    const scores = tensor([0.5, 0.9, 0.1]);
    assert.deepEqual(batchedNms(boxes, scores, tensor([0, 0, 0], { dtype: 'int64' }), 0.5).toArray(), [1, 2]);
    assert.deepEqual(
      batchedNms(boxes, scores, tensor([0, 1, 0], { dtype: 'int64' }), 0.5).toArray(),
      [1, 0, 2],
    );
    // Empty input gives an empty result.
    const e = batchedNms(
      tensor(new Float32Array(0), { shape: [0, 4] }),
      tensor([]),
      tensor([], { dtype: 'int64' }),
      0.5,
    );
    assert.deepEqual(e.shape, [0]);
    // Bad shapes are errors, not crashes.
    assert.throws(
      () => batchedNms(tensor([1, 2, 3]), scores, tensor([0], { dtype: 'int64' }), 0.5),
      /boxes must be \[N, 4\]/,
    );
  });
});

test('degenerate boxes: zero-area pairs give IoU NaN in torchvision semantics, 0 with eps', () => {
  tidy(() => {
    const z = tensor([[5, 5, 5, 5]]);
    assert.ok(Number.isNaN(boxIou(z, z).item()));
    assert.equal(bboxOverlaps(z, z, { aligned: true }).item(), 0);
  });
});
