// Assigners against scripts/fixtures/assign_loss_oracle.py (mmdetection v2.28's MaxIoUAssigner,
// ATSSAssigner and FCOS targets re-implemented in PyTorch 1.13, one thread): gt indices and labels
// exactly; IoUs, ATSS thresholds, FCOS ltrb and centre-ness targets bit-exact (the same ATen op
// sequence on the same inputs). Then properties: empty GT, ignore regions, degenerate GT boxes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { type Tensor, tensor, tidy } from '../../core/tensor.ts';
import { BACKGROUND, IGNORE, type Priors } from '../types.ts';
import { AtssAssigner } from './atss.ts';
import { fcosTargets } from './fcos.ts';
import { MaxIoUAssigner, type MaxIoUAssignerConfig } from './max-iou.ts';
import type { GtTargets } from './types.ts';

native.setNumThreads(1);

const oracle = loadOracle('detection-assign-loss');
const { get } = oracle;
interface Case {
  kind: 'maxiou' | 'atss' | 'fcos' | 'loss';
  gt: string;
  opts: Record<string, number | boolean | number[]>;
}
const cases = oracle.cases<Case>();
const NUM_CLASSES = oracle.json<number>('num_classes');
const STRIDES = oracle.json<number[]>('strides');
const FEATS = oracle.json<[number, number][]>('feats');
const NUM_PER_LEVEL = oracle.json<Record<'retina' | 'atss' | 'points', number[]>>('num_per_level');

function priors(which: 'retina' | 'atss' | 'points'): Priors {
  const numPerLevel = NUM_PER_LEVEL[which];
  const levelOffsets = numPerLevel.map((_, l) => numPerLevel.slice(0, l).reduce((a, b) => a + b, 0));
  return {
    boxes: get(`priors/${which}`),
    numPerLevel,
    levelOffsets,
    strides: STRIDES,
    featSizes: FEATS,
    perLocation: which === 'retina' ? 9 : 1,
    kind: which === 'points' ? 'point' : 'anchor',
  };
}

function gtOf(name: string): GtTargets {
  return {
    boxes: get(`gt/${name}/boxes`),
    labels: get(`gt/${name}/labels`),
    ignore: get(`gt/${name}/ignore`),
  };
}

/** mmdet's 1-based gt_inds (-1 ignore, 0 background) -> our gtIndex sentinels. */
function expectedGtIndex(mm: number[]): number[] {
  return mm.map((v) => (v > 0 ? v - 1 : v === 0 ? BACKGROUND : IGNORE));
}

for (const [name, c] of Object.entries(cases)) {
  if (c.kind === 'maxiou') {
    test(`MaxIoUAssigner matches mmdetection: ${name}`, () =>
      tidy(() => {
        const o = c.opts;
        const cfg: MaxIoUAssignerConfig = {};
        if (typeof o.ignore_iof_thr === 'number') cfg.ignoreIofThr = o.ignore_iof_thr;
        if (typeof o.gt_max_assign_all === 'boolean') cfg.gtMaxAssignAll = o.gt_max_assign_all;
        if (typeof o.pos_iou_thr === 'number') cfg.posIouThr = o.pos_iou_thr;
        if (typeof o.min_pos_iou === 'number') cfg.minPosIou = o.min_pos_iou;
        if (Array.isArray(o.neg_iou_thr)) cfg.negIouThr = [o.neg_iou_thr[0]!, o.neg_iou_thr[1]!];
        const a = new MaxIoUAssigner(cfg).assign(priors('retina'), gtOf(c.gt), NUM_CLASSES);
        assert.deepEqual(a.gtIndex.toArray(), expectedGtIndex(get(`${name}/gt_inds`).toArray()));
        const lbl = get(`${name}/labels`)
          .toArray()
          .map((v) => (v < 0 ? NUM_CLASSES : v));
        assert.deepEqual(a.labels.toArray(), lbl);
        assertBits(a.overlaps, get(`${name}/overlaps`), 'overlaps');
        assert.equal(a.numGts, get(`gt/${c.gt}/labels`).size(0));
      }));
  } else if (c.kind === 'atss') {
    test(`AtssAssigner matches mmdetection: ${name}`, () =>
      tidy(() => {
        const thr = c.opts.ignore_iof_thr;
        const a = new AtssAssigner(typeof thr === 'number' ? { ignoreIofThr: thr } : {}).assign(
          priors('atss'),
          gtOf(c.gt),
          NUM_CLASSES,
        );
        const mm = get(`${name}/gt_inds`).toArray();
        assert.deepEqual(a.gtIndex.toArray(), expectedGtIndex(mm));
        const lbl = get(`${name}/labels`)
          .toArray()
          .map((v) => (v < 0 ? NUM_CLASSES : v));
        assert.deepEqual(a.labels.toArray(), lbl);
        const iou = get(`${name}/iou`);
        assertBits(a.iouMatrix!, iou, 'iouMatrix');
        assertBits(a.atssThreshold!, get(`${name}/thr`), 'atssThreshold');
        // overlaps = IoU with the assigned GT (mmdet's max_overlaps for positives).
        const iouRows = iou.toArray();
        const g = iou.size(1);
        const expOv = mm.map((v, i) => (v > 0 ? iouRows[i * g + v - 1]! : 0));
        assert.deepEqual(a.overlaps.toArray(), Array.from(Float32Array.from(expOv)));
      }));
  } else if (c.kind === 'fcos') {
    test(`fcosTargets matches mmdetection FCOSHead: ${name}`, () =>
      tidy(() => {
        const r = fcosTargets(priors('points'), gtOf(c.gt), NUM_CLASSES, {
          regressRanges: [
            [-1, 64],
            [64, 128],
            [128, 100000000],
          ],
          centerSampling: c.opts.center_sampling === true,
          normOnBbox: c.opts.norm_on_bbox === true,
        });
        assert.deepEqual(r.assignment.labels.toArray(), get(`${name}/labels`).toArray());
        assert.deepEqual(r.assignment.gtIndex.toArray(), get(`${name}/gt_index`).toArray());
        assertBits(r.bboxTargets, get(`${name}/bbox_targets`), 'bboxTargets');
        assertBits(r.centerness, get(`${name}/centerness`), 'centerness');
      }));
  }
}

// ------------------------------------------------------------------------------ properties

const anchorsAtss = (): Priors => priors('atss');
const boxes = (rows: number[][]): Tensor => tensor(rows.length ? rows : [], { shape: [rows.length, 4] });
const labels = (v: number[]): Tensor => tensor(v, { dtype: 'int64' });

test('empty GT: every assigner gives all background, label numClasses, overlaps 0', () =>
  tidy(() => {
    const gt: GtTargets = { boxes: boxes([]), labels: labels([]), ignore: boxes([[0, 0, 50, 50]]) };
    const results = [
      new MaxIoUAssigner({ ignoreIofThr: 0.5 }).assign(priors('retina'), gt, 3),
      new AtssAssigner({ ignoreIofThr: 0.5 }).assign(anchorsAtss(), gt, 3),
      fcosTargets(priors('points'), gt, 3).assignment,
    ];
    for (const a of results) {
      const n = a.gtIndex.size(0);
      assert.deepEqual(a.gtIndex.toArray(), new Array(n).fill(BACKGROUND));
      assert.deepEqual(a.labels.toArray(), new Array(n).fill(3));
      assert.equal(a.overlaps.abs().sum().item(), 0);
      assert.equal(a.numGts, 0);
      assert.equal(a.gtIndex.dtype, 'int64');
      assert.equal(a.labels.dtype, 'int64');
    }
    assert.deepEqual(results[1]!.atssThreshold!.shape, [0]);
    assert.deepEqual(results[1]!.iouMatrix!.shape, [anchorsAtss().boxes.size(0), 0]);
  }));

test('one box: MaxIoU gives its best anchor(s) even below posIouThr; ATSS at most topk per level', () =>
  tidy(() => {
    const gt: GtTargets = { boxes: boxes([[3, 3, 9, 30]]), labels: labels([2]) };
    const m = new MaxIoUAssigner().assign(priors('retina'), gt, 4);
    const pos = m.gtIndex.eq(0);
    assert.ok(pos.sum().item() >= 1);
    assert.ok(m.labels.at(pos).eq(2).all().item());
    assert.ok(m.overlaps.at(pos).gt(0).all().item());
    const a = new AtssAssigner({ topk: 2 }).assign(anchorsAtss(), gt, 4);
    assert.ok(a.gtIndex.eq(0).sum().item() <= 2 * STRIDES.length);
    assert.ok(a.gtIndex.ge(BACKGROUND).all().item());
  }));

test('ignore regions: priors mostly inside a crowd box are never positive', () =>
  tidy(() => {
    const ignore = boxes([[56, 56, 128, 128]]);
    const gt: GtTargets = {
      boxes: boxes([
        [40, 40, 100, 100],
        [0, 0, 30, 30],
      ]),
      labels: labels([0, 1]),
      ignore,
    };
    for (const [a, p] of [
      [new MaxIoUAssigner({ ignoreIofThr: 0.5 }), priors('retina')],
      [new AtssAssigner({ ignoreIofThr: 0.5 }), anchorsAtss()],
    ] as const) {
      const r = a.assign(p, gt, 2);
      // IoF of each prior with the crowd box, computed here independently.
      const b = p.boxes;
      const iw = b.select(1, 2).clampMax(128).sub(b.select(1, 0).clampMin(56)).clampMin(0);
      const ih = b.select(1, 3).clampMax(128).sub(b.select(1, 1).clampMin(56)).clampMin(0);
      const area = b
        .select(1, 2)
        .sub(b.select(1, 0))
        .mul(b.select(1, 3).sub(b.select(1, 1)));
      const crowd = iw.mul(ih).div(area).gt(0.5);
      assert.ok(crowd.sum().item() > 0);
      assert.ok(r.gtIndex.at(crowd).lt(0).all().item(), 'crowd priors are not positive');
      assert.ok(r.gtIndex.at(crowd).eq(IGNORE).all().item(), 'crowd priors are IGNORE');
      assert.ok(r.labels.at(crowd).eq(2).all().item());
      assert.ok(r.gtIndex.ge(0).sum().item() > 0, 'other priors still match');
    }
  }));

test('degenerate (zero-area) GT boxes give no NaN anywhere', () =>
  tidy(() => {
    const gt: GtTargets = {
      boxes: boxes([
        [40, 40, 40, 80],
        [10, 10, 10, 10],
        [20, 20, 60, 50],
      ]),
      labels: labels([0, 1, 2]),
    };
    const m = new MaxIoUAssigner().assign(priors('retina'), gt, 3);
    const a = new AtssAssigner().assign(anchorsAtss(), gt, 3);
    const f = fcosTargets(priors('points'), gt, 3, { centerSampling: true });
    for (const t of [
      m.overlaps,
      m.iouMatrix!,
      a.overlaps,
      a.iouMatrix!,
      a.atssThreshold!,
      f.bboxTargets,
      f.centerness,
    ])
      assert.ok(t.isfinite().all().item());
    // ATSS never makes a zero-area GT positive (no centre lies strictly inside it).
    assert.equal(a.gtIndex.eq(0).sum().item() + a.gtIndex.eq(1).sum().item(), 0);
    assert.equal(f.assignment.gtIndex.eq(0).sum().item() + f.assignment.gtIndex.eq(1).sum().item(), 0);
  }));

test('MaxIoU: a duplicated GT takes the priors tied at its best IoU (later GT wins, as mmdet)', () =>
  tidy(() => {
    const box = [20, 20, 52, 52];
    const gt: GtTargets = { boxes: boxes([box, box]), labels: labels([0, 1]) };
    const m = new MaxIoUAssigner().assign(priors('retina'), gt, 2);
    const best = m.iouMatrix!.select(1, 0).max().item();
    const atBest = m.iouMatrix!.select(1, 0).eq(best);
    assert.ok(m.gtIndex.at(atBest).eq(1).all().item(), 'step 4: the later GT overwrites');
    // Step 3 (IoU >= 0.5, below the best) takes the first max, GT 0.
    const step3 = m.iouMatrix!.select(1, 0).ge(0.5).logicalAnd(atBest.logicalNot());
    assert.ok(m.gtIndex.at(step3).eq(0).all().item());
  }));

test('assigners run without gradient and free their temporaries', () => {
  const before = native.liveHandles().handles;
  tidy(() => {
    const gt: GtTargets = { boxes: boxes([[10, 10, 60, 70]]), labels: labels([0]) };
    const a = new AtssAssigner().assign(anchorsAtss(), gt, 1);
    assert.equal(a.overlaps.requiresGrad, false);
  });
  assert.equal(native.liveHandles().handles, before);
});
