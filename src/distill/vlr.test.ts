// VLR against scripts/fixtures/distill_logit_oracle.py (HikariTJU/LD ATSSAssigner.get_vlr_region
// and that repo's bbox_overlaps(mode='diou') re-stated in PyTorch 1.13, one thread, on ATSS
// anchors of a 3-level pyramid with random GTs, crowd regions and non-default topk / band):
// weights bit-exact for both DIoU overlaps, the DIoU matrices bit-exact, and the reused
// AtssAssigner threshold equal to the one get_vlr_region computes. Then a hand-built band with
// exact boundary values, the max-IoU rule across GTs, no GT, point priors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, loadOracle } from '../../test/support/oracle.ts';
import { bboxOverlaps } from '../core/box-ops.ts';
import { native } from '../core/native.ts';
import { manualSeed } from '../core/random.ts';
import { cat, rand, type Tensor, tensor, tidy, zeros } from '../core/tensor.ts';
import { AtssAssigner } from '../detection/assigners/atss.ts';
import type { Assignment, Priors } from '../detection/types.ts';
import { type DiouOverlap, diouMatrix, vlrRegion } from './vlr.ts';

native.setNumThreads(1);
manualSeed(2);

const oracle = loadOracle('distill-logit');
const { get } = oracle;
interface VlrCase {
  kind: string;
  ignore_iof_thr: number;
  topk: number;
  low: number;
  counts: Record<DiouOverlap, { in_vlr: number; multi_gt: number }>;
}
const cases = oracle.cases<VlrCase>();
const NUM_PER_LEVEL = oracle.json<number[]>('num_per_level');

function oraclePriors(): Priors {
  return {
    boxes: get('vlr/priors'),
    numPerLevel: NUM_PER_LEVEL,
    levelOffsets: NUM_PER_LEVEL.map((_, l) => NUM_PER_LEVEL.slice(0, l).reduce((a, b) => a + b, 0)),
    strides: oracle.json<number[]>('strides'),
    featSizes: oracle.json<[number, number][]>('feats'),
    perLocation: 1,
    kind: 'anchor',
  };
}

for (const [name, c] of Object.entries(cases)) {
  if (c.kind !== 'vlr') continue;
  test(`vlrRegion matches HikariTJU get_vlr_region (0 ULP, both DIoU overlaps): ${name}`, () =>
    tidy(() => {
      const priors = oraclePriors();
      const gt = {
        boxes: get(`${name}/gt_boxes`),
        labels: get(`${name}/gt_labels`),
        ignore: get(`${name}/ignore`),
      };
      const a = new AtssAssigner({ topk: c.topk, ignoreIofThr: c.ignore_iof_thr }).assign(priors, gt, 5);
      // get_vlr_region's threshold is ATSS's own (crowd regions included): reuse is exact.
      assertBits(a.atssThreshold!, get(`${name}/thr`), 'threshold');
      for (const overlap of ['iof', 'iou'] as const) {
        assertBits(
          diouMatrix(priors.boxes, gt.boxes, { overlap }),
          get(`${name}/diou_${overlap}`),
          `diou ${overlap}`,
        );
        const w = vlrRegion(priors, gt.boxes, a, { lowRatio: c.low, overlap });
        assertBits(w, get(`${name}/vlr_${overlap}`), `vlr ${overlap}`);
        // The fixture exercises a real region, and priors in the band of several GTs.
        assert.equal(w.gt(0).sum().item(), c.counts[overlap].in_vlr);
        if (c.ignore_iof_thr <= 0) {
          // Without crowd regions the threshold can be recomputed from the priors alone.
          const bare: Assignment = { ...a, atssThreshold: undefined, iouMatrix: undefined };
          assertBits(
            vlrRegion(priors, gt.boxes, bare, { topk: c.topk, lowRatio: c.low, overlap }),
            w,
            'recomputed',
          );
        }
      }
      if (name !== 'vlr/one') assert.ok(c.counts.iof.multi_gt > 0);
    }));
}

// ------------------------------------------------------------------------------ properties

function handPriors(boxes: number[][]): Priors {
  return {
    boxes: tensor(boxes),
    numPerLevel: [boxes.length],
    levelOffsets: [0],
    strides: [8],
    featSizes: [[1, boxes.length]],
    perLocation: 1,
    kind: 'anchor',
  };
}

function handAssignment(priors: Priors, gts: Tensor, thr: number[]): Assignment {
  const A = priors.boxes.size(0);
  return {
    gtIndex: zeros([A], { dtype: 'int64' }),
    labels: zeros([A], { dtype: 'int64' }),
    overlaps: zeros([A]),
    numGts: gts.size(0),
    atssThreshold: tensor(thr),
    iouMatrix: bboxOverlaps(priors.boxes, gts),
  };
}

// GT [0, 0, 16, 16]. DIoU ('iof', the official overlap) of each anchor, all exact in float32:
const HAND = [
  [0, 0, 16, 16], //     1      (identical: = thr, excluded by the strict upper edge)
  [-8, -8, 24, 24], //   0.25   (concentric 32x32: = 0.25·thr, included by the closed lower edge)
  [-4, -4, 20, 20], //   4/9    (concentric 24x24: inside the band)
  [-8, 0, 24, 16], //    0.5    (concentric 32x16)
  [0, 0, 32, 32], //     0.25 − 128/2048 = 0.1875 (below the band)
  [-16, -16, 32, 32], // 1/9    (concentric 48x48: below)
  [40, 40, 56, 56], //   < 0    (disjoint)
];

test('hand-built band: 0.25·thr <= DIoU < thr, edges exact, weight = IoU', () =>
  tidy(() => {
    const priors = handPriors(HAND);
    const gt = tensor([[0, 0, 16, 16]]);
    const d = diouMatrix(priors.boxes, gt).squeeze(1).toArray();
    assert.deepEqual(d.slice(0, 6), [1, 0.25, Math.fround(256 / 576), 0.5, 0.1875, Math.fround(256 / 2304)]);
    assert.ok(d[6]! < 0);
    const w = vlrRegion(priors, gt, handAssignment(priors, gt, [1])).toArray();
    const iou = [1, 0.25, Math.fround(256 / 576), 0.5, 0.25, Math.fround(256 / 2304), 0];
    const inBand = [false, true, true, true, false, false, false];
    assert.deepEqual(
      w,
      iou.map((v, i) => (inBand[i] ? v : 0)),
    );
    // lowRatio 0.75 -> band [0.75, 1): empty here.
    const none = vlrRegion(priors, gt, handAssignment(priors, gt, [1]), { lowRatio: 0.75 }).toArray();
    assert.deepEqual(none, new Array(HAND.length).fill(0));
    // thr 0.5 -> band [0.125, 0.5): 0.25, 4/9, 0.1875 in; 0.5 out (strict), 1/9 out.
    const w2 = vlrRegion(priors, gt, handAssignment(priors, gt, [0.5])).toArray();
    assert.deepEqual(w2, [0, 0.25, Math.fround(256 / 576), 0, 0.25, 0, 0]);
  }));

test('hand-built: a prior in the band of two GTs takes the max IoU (the VALUE only leaves)', () =>
  tidy(() => {
    const priors = handPriors(HAND);
    // GT2 = the 32x32 box around the same centre; its band with thr 1.5 is [0.375, 1.5).
    const gts = tensor([
      [0, 0, 16, 16],
      [-8, -8, 24, 24],
    ]);
    const dd = diouMatrix(priors.boxes, gts);
    assert.deepEqual(dd.select(1, 1).toArray().slice(0, 3), [1, 1, 1]); // iof = 1 for boxes inside GT2, rho 0
    const w = vlrRegion(priors, gts, handAssignment(priors, gts, [1, 1.5])).toArray();
    // anchor 0: GT1 excluded (=thr), GT2 in (IoU 0.25); anchor 1: both in, IoU 0.25 vs 1 -> 1;
    // anchor 2: IoU 4/9 vs 576/1024 -> 0.5625; anchor 3: GT1 in (IoU 0.5), GT2 in (iof 1, IoU 0.5) -> 0.5.
    assert.deepEqual(w.slice(0, 4), [0.25, 1, 0.5625, 0.5]);
  }));

test("'iou' overlap is the paper's DIoU: never above IoU, and never above the official 'iof' variant", () =>
  tidy(() => {
    const xy = rand([40, 2]).mul(80);
    const a = xy.repeat(1, 2).add(tensor([-16, -16, 16, 16])); // 32x32 anchors
    const wh = rand([6, 2]).mul(60).add(4);
    const c = rand([6, 2]).mul(80);
    const b = cat([c.sub(wh.div(2)), c.add(wh.div(2))], 1);
    const iou = bboxOverlaps(a, b);
    const dIou = diouMatrix(a, b, { overlap: 'iou' });
    const dIof = diouMatrix(a, b, { overlap: 'iof' });
    assert.ok(dIou.le(iou.add(1e-7)).all().item());
    assert.ok(dIou.le(dIof.add(1e-7)).all().item());
    assert.ok(dIou.ge(-1).all().item());
  }));

test('no GT gives all zeros; point priors are refused', () =>
  tidy(() => {
    const priors = handPriors(HAND);
    const empty = zeros([0, 4]);
    const w = vlrRegion(priors, empty, handAssignment(priors, empty, []));
    assert.deepEqual(w.toArray(), new Array(HAND.length).fill(0));
    const a = new AtssAssigner().assign(priors, { boxes: empty, labels: zeros([0], { dtype: 'int64' }) }, 3);
    assert.deepEqual(vlrRegion(priors, empty, a).toArray(), new Array(HAND.length).fill(0));
    assert.throws(() => vlrRegion({ ...priors, kind: 'point' }, empty, a), /anchor priors/);
  }));
