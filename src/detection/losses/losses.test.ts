// Losses against scripts/fixtures/assign_loss_oracle.py (mmdetection v2.28's loss functions and
// weight_reduce_loss re-implemented in PyTorch 1.13, one thread): values and gradients of the
// prediction bit-exact (0 ULP) — every case runs the same ATen op sequence as the Python. Then
// properties: reduction 'none' shapes, empty positives, zero weights, degenerate boxes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { scalar, type Tensor, tensor, tidy, zeros } from '../../core/tensor.ts';
import { binaryCrossEntropyLoss, crossEntropyLoss } from './cross-entropy.ts';
import { sigmoidFocalLoss } from './focal.ts';
import { distributionFocalLoss, qualityFocalLoss } from './gfocal.ts';
import { giouLoss, type IouLossMode, iouLoss } from './iou.ts';
import type { LossOptions } from './reduce.ts';
import { l1Loss, smoothL1Loss } from './smooth-l1.ts';

native.setNumThreads(1);

const oracle = loadOracle('detection-assign-loss');
interface LossCase {
  kind: string;
  fn: string;
  reduction: 'none' | 'mean' | 'sum';
  avg_factor: number | null;
  tensor_avg: boolean;
  opts: Record<string, number | string | boolean>;
}
const cases = oracle.cases<LossCase>();
const opt = (name: string): Tensor | null => oracle.find(name) ?? null;
const { get } = oracle;

type Run = (pred: Tensor, name: string, base: LossOptions, o: LossCase['opts']) => Tensor;
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
const RUNS: Record<string, Run> = {
  focal: (p, n, b, o) =>
    sigmoidFocalLoss(p, get(`${n}/target`), { ...b, alpha: num(o.alpha), gamma: num(o.gamma) }),
  qfl: (p, n, b, o) =>
    qualityFocalLoss(
      p,
      { labels: get(`${n}/target_labels`), scores: get(`${n}/target_scores`) },
      { ...b, beta: num(o.beta) },
    ),
  dfl: (p, n, b) => distributionFocalLoss(p, get(`${n}/target`), b),
  iou: (p, n, b, o) => iouLoss(p, get(`${n}/target`), { ...b, mode: o.mode as IouLossMode | undefined }),
  giou: (p, n, b) => giouLoss(p, get(`${n}/target`), b),
  smooth_l1: (p, n, b, o) => smoothL1Loss(p, get(`${n}/target`), { ...b, beta: num(o.beta) }),
  l1: (p, n, b) => l1Loss(p, get(`${n}/target`), b),
  ce: (p, n, b, o) =>
    crossEntropyLoss(p, get(`${n}/target`), {
      ...b,
      classWeight: opt(`${n}/class_weight`),
      avgNonIgnore: o.avg_non_ignore === true,
    }),
  bce: (p, n, b, o) =>
    binaryCrossEntropyLoss(p, get(`${n}/target`), {
      ...b,
      classWeight: opt(`${n}/class_weight`),
      avgNonIgnore: o.avg_non_ignore === true,
    }),
};

for (const [name, c] of Object.entries(cases)) {
  if (c.kind !== 'loss') continue;
  test(`${c.fn} matches mmdetection (values and grad, 0 ULP): ${name}`, () =>
    tidy(() => {
      const pred = get(`${name}/pred`).clone().requiresGrad_(true);
      const avgFactor = c.avg_factor === null ? null : c.tensor_avg ? scalar(c.avg_factor) : c.avg_factor;
      const base: LossOptions = { weight: opt(`${name}/weight`), avgFactor, reduction: c.reduction };
      const out = RUNS[c.fn]!(pred, name, base, c.opts);
      const expected = get(`${name}/out`);
      assertBits(out, expected, 'values');
      out
        .mul(get(`${name}/cotangent`))
        .sum()
        .backward();
      const grad = pred.grad ?? zeros(pred.shape);
      assertBits(grad, get(`${name}/grad`), 'grad');
    }));
}

// ------------------------------------------------------------------------------ properties

test("reduction 'none' keeps the elementwise shape of each loss", () =>
  tidy(() => {
    const cls = tensor([
      [0.1, -2, 3],
      [1, 0, -1],
    ]);
    const lbl = tensor([1, 3], { dtype: 'int64' });
    const box = tensor([
      [0, 0, 10, 10],
      [5, 5, 20, 30],
    ]);
    const none = { reduction: 'none' } as const;
    assert.deepEqual(sigmoidFocalLoss(cls, lbl, none).shape, [2, 3]);
    assert.deepEqual(qualityFocalLoss(cls, { labels: lbl, scores: tensor([0.5, 0]) }, none).shape, [2]);
    assert.deepEqual(distributionFocalLoss(cls, tensor([0.5, 1.2]), none).shape, [2]);
    assert.deepEqual(giouLoss(box, box.add(1), none).shape, [2]);
    assert.deepEqual(iouLoss(box, box.add(1), none).shape, [2]);
    assert.deepEqual(smoothL1Loss(box, box.add(0.5), none).shape, [2, 4]);
    assert.deepEqual(l1Loss(box, box.add(0.5), none).shape, [2, 4]);
    assert.deepEqual(crossEntropyLoss(cls, tensor([0, 2], { dtype: 'int64' }), none).shape, [2]);
    assert.deepEqual(binaryCrossEntropyLoss(cls, lbl, none).shape, [2, 3]);
    assert.deepEqual(binaryCrossEntropyLoss(tensor([0.3, -1]), tensor([0.2, 0.9]), none).shape, [2]);
  }));

test('empty GT: focal/QFL cls loss > 0, box losses on no positives are exactly 0', () =>
  tidy(() => {
    const cls = tensor([
      [0.5, -1],
      [2, 0],
      [-3, 1],
    ]).requiresGrad_(true);
    const bg = tensor([2, 2, 2], { dtype: 'int64' }); // all background
    const numPos = 0; // mmdet: avg_factor = max(num_pos, 1) in RetinaNet; here the raw 0 + eps
    const fl = sigmoidFocalLoss(cls, bg, { avgFactor: Math.max(numPos, 1) });
    assert.ok(fl.item() > 0);
    const q = qualityFocalLoss(cls, { labels: bg, scores: zeros([3]) }, { avgFactor: 1 });
    assert.ok(q.item() > 0);
    const empty = zeros([0, 4]).requiresGrad_(true);
    for (const l of [
      giouLoss(empty, zeros([0, 4]), { weight: zeros([0]), avgFactor: 0 }),
      iouLoss(empty, zeros([0, 4]), { weight: zeros([0]), avgFactor: 0 }),
      smoothL1Loss(empty, zeros([0, 4]), { avgFactor: 0 }),
      l1Loss(empty, zeros([0, 4]), { avgFactor: 0 }),
      distributionFocalLoss(zeros([0, 17]), zeros([0]), { weight: zeros([0]), avgFactor: 4 }),
    ]) {
      assert.equal(l.item(), 0);
      assert.ok(!Object.is(l.item(), Number.NaN));
    }
    // Zero weights short-circuit IoU losses to an exact 0 that still back-propagates (zeros).
    const p = tensor([
      [0, 0, 10, 10],
      [1, 1, 4, 4],
    ]).requiresGrad_(true);
    const z = giouLoss(
      p,
      tensor([
        [0, 0, 5, 5],
        [2, 2, 3, 3],
      ]),
      { weight: zeros([2]), avgFactor: 0 },
    );
    assert.equal(z.item(), 0);
    z.backward();
    assert.deepEqual(p.grad!.toArray(), new Array(8).fill(0));
  }));

test('one box: perfect prediction gives GIoU/IoU loss 0, smooth-L1 0', () =>
  tidy(() => {
    const b = tensor([[3, 4, 30, 40]]);
    assert.equal(giouLoss(b, b).item(), 0);
    assert.equal(iouLoss(b, b, { mode: 'linear' }).item(), 0);
    assert.equal(Math.abs(iouLoss(b, b).item()), 0); // -ln 1 = -0
    assert.equal(smoothL1Loss(b, b).item(), 0);
  }));

test('degenerate (zero-area) boxes give finite losses and gradients', () =>
  tidy(() => {
    const pred = tensor([
      [5, 5, 5, 5],
      [0, 0, 10, 0],
      [1, 1, 8, 9],
    ]).requiresGrad_(true);
    const target = tensor([
      [5, 5, 5, 5],
      [2, 2, 2, 12],
      [1, 1, 1, 1],
    ]);
    const l = giouLoss(pred, target, { reduction: 'sum' }).add(iouLoss(pred, target, { reduction: 'sum' }));
    assert.ok(Number.isFinite(l.item()));
    l.backward();
    assert.ok(pred.grad!.isfinite().all().item());
  }));

test('avgFactor with reduction sum is an error; avgFactor 0 divides by float32 eps', () =>
  tidy(() => {
    const x = tensor([[1, 2]]);
    assert.throws(() => l1Loss(x, zeros([1, 2]), { avgFactor: 2, reduction: 'sum' }), /avgFactor/);
    assert.equal(l1Loss(x, zeros([1, 2]), { avgFactor: 0 }).item(), Math.fround(3 / Math.fround(2 ** -23)));
  }));
