// Oracles: pycocotools' own numbers for the shared cases (test/fixtures/coco-eval/expected.json) and
// the literal reference's numbers for detkd's edge cases (edge-expected.json, written by
// scripts/coco-eval-make-fixtures.py). Properties: empty input, no ground truth, order invariance,
// index reuse, the columns entry point.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type CocoEvalResult,
  evaluateCoco,
  evaluateCocoColumns,
  IOU_THRESHOLDS,
  RECALL_THRESHOLDS,
  STAT_NAMES,
} from './coco-eval.ts';
import { indexGroundTruth } from './coco-input.ts';
import type { CocoGroundTruth, CocoResult } from './coco-types.ts';

const FIX = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'coco-eval');
const TOL = 1e-6;

interface CategoryExpected {
  AP: number;
  AP50: number;
  AP75: number;
  APs: number;
  APm: number;
  APl: number;
  AR100: number;
  numGt: number;
}
interface Expected {
  cases: Record<
    string,
    {
      stats: number[];
      per_category_ap: Record<string, number>;
      per_category?: Record<string, CategoryExpected>;
    }
  >;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

function loadCase(dir: string): { gt: CocoGroundTruth; dt: CocoResult[] } {
  return { gt: readJson(join(dir, 'gt.json')), dt: readJson(join(dir, 'dt.json')) };
}

function statsArray(r: CocoEvalResult): number[] {
  return STAT_NAMES.map((n) => r.stats[n]);
}

function assertClose(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= TOL, `${what}: got ${got}, want ${want}`);
}

function checkCase(name: string, r: CocoEvalResult, exp: Expected['cases'][string]): void {
  STAT_NAMES.forEach((s, i) => {
    assertClose(r.stats[s], exp.stats[i]!, `${name} ${s}`);
  });
  assert.deepEqual(
    Object.keys(r.perCategory).sort(),
    Object.keys(exp.per_category_ap).sort(),
    `${name} category ids`,
  );
  for (const [id, ap] of Object.entries(exp.per_category_ap)) {
    assertClose(r.perCategory[Number(id)]!, ap, `${name} AP of category ${id}`);
  }
}

const shared = readJson<Expected>(join(FIX, 'expected.json'));
const edge = readJson<Expected>(join(FIX, 'edge-expected.json'));

for (const [name, exp] of Object.entries(shared.cases)) {
  test(`pycocotools oracle: ${name}`, () => {
    const { gt, dt } = loadCase(join(FIX, 'cases', name));
    checkCase(name, evaluateCoco(gt, dt), exp);
  });
}

for (const [name, exp] of Object.entries(edge.cases)) {
  test(`edge case (literal reference): ${name}`, () => {
    const { gt, dt } = loadCase(join(FIX, 'edge', name));
    const r = evaluateCoco(gt, dt);
    checkCase(name, r, exp);
    for (const c of r.categories) {
      const e = exp.per_category![String(c.id)]!;
      for (const f of ['AP50', 'AP75', 'APs', 'APm', 'APl', 'AR100'] as const) {
        assertClose(c[f], e[f], `${name} category ${c.id} ${f}`);
      }
      assert.equal(c.numGt, e.numGt, `${name} category ${c.id} numGt`);
    }
  });
}

test('bit-exact: same doubles as pycocotools / the reference on every case', () => {
  // Beyond the 1e-6 contract: the IoU arithmetic, the precision denominators and numpy's
  // summation order are all reproduced, so the numbers are identical, not merely close.
  for (const [dir, exp] of [
    ['cases', shared],
    ['edge', edge],
  ] as const) {
    for (const [name, e] of Object.entries(exp.cases)) {
      const { gt, dt } = loadCase(join(FIX, dir, name));
      const r = evaluateCoco(gt, dt);
      assert.deepEqual(statsArray(r), e.stats, `${name} stats`);
      for (const [id, ap] of Object.entries(e.per_category_ap))
        assert.equal(r.perCategory[Number(id)], ap, name);
    }
  }
});

test('thresholds are numpy linspace values', () => {
  assert.equal(IOU_THRESHOLDS.length, 10);
  assert.equal(IOU_THRESHOLDS[0], 0.5);
  assert.equal(IOU_THRESHOLDS[1], 0.55);
  assert.equal(IOU_THRESHOLDS[5], 0.75); // AP75 is found by equality, as np.where(.75 == iouThrs)
  assert.equal(IOU_THRESHOLDS[8], 0.8999999999999999);
  assert.equal(IOU_THRESHOLDS[9], 0.95);
  assert.equal(RECALL_THRESHOLDS.length, 101);
  assert.equal(RECALL_THRESHOLDS[35], 0.35000000000000003);
  assert.equal(RECALL_THRESHOLDS[100], 1);
});

test('single pair: AP 0.3 from IoU 0.6194 (matched at .50/.55/.60)', () => {
  const { gt, dt } = loadCase(join(FIX, 'cases', 'single_pair'));
  const r = evaluateCoco(gt, dt);
  assertClose(r.stats.AP, 0.3, 'AP');
  // precision = tp / (tp + fp + eps) = 1 - 2^-52, not 1: pycocotools reports AP50 < 1 here
  assert.equal(r.stats.AP50, 0.9999999999999999);
  assert.equal(r.stats.AP75, 0);
  assert.equal(r.stats.APs, -1);
  assert.equal(r.stats.AR100, 0.3);
});

test('empty results: AP 0 for categories with ground truth, -1 where there is none', () => {
  const { gt } = loadCase(join(FIX, 'cases', 'random_500'));
  const r = evaluateCoco(gt, []);
  for (const s of STAT_NAMES) assert.equal(r.stats[s], 0, s);
  assert.ok(r.categories.every((c) => c.AP === 0 && c.numDet === 0 && c.numGt > 0));
});

test('no ground truth at all: every stat is -1, never NaN', () => {
  const gt: CocoGroundTruth = { images: [{ id: 1 }], annotations: [], categories: [{ id: 1, name: 'a' }] };
  const r = evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.5 }]);
  for (const s of STAT_NAMES) assert.equal(r.stats[s], -1, s);
  assert.deepEqual(r.perCategory, { 1: -1 });
  const none = evaluateCoco({ images: [], annotations: [], categories: [] }, []);
  assert.equal(none.stats.AP, -1);
  assert.deepEqual(none.categories, []);
});

test('the order of the results list does not matter when scores are unique', () => {
  const { gt, dt } = loadCase(join(FIX, 'cases', 'random_500'));
  const want = statsArray(evaluateCoco(gt, dt));
  // deterministic shuffle
  const shuffled = dt.slice();
  let seed = 12345;
  for (let i = shuffled.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const j = seed % (i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }
  assert.deepEqual(statsArray(evaluateCoco(gt, shuffled)), want);
});

test('ties across images are broken by image id, not file order', () => {
  const gt: CocoGroundTruth = {
    images: [{ id: 5 }, { id: 10 }],
    annotations: [
      { id: 1, image_id: 5, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
      { id: 2, image_id: 10, category_id: 1, bbox: [0, 0, 10, 10], area: 100, iscrowd: 0 },
    ],
    categories: [{ id: 1 }],
  };
  const fp = { image_id: 10, category_id: 1, bbox: [50, 50, 10, 10], score: 0.5 };
  const tp = { image_id: 5, category_id: 1, bbox: [0, 0, 10, 10], score: 0.5 };
  // Image 5's TP comes first whatever the file order: precision 1 up to recall .5, so AP = 0.5.
  const a = evaluateCoco(gt, [fp, tp]).stats.AP;
  const b = evaluateCoco(gt, [tp, fp]).stats.AP;
  assert.equal(a, b);
  assertClose(a, 51 / 101, 'AP'); // recall thresholds 0..0.5 (51 of 101) at precision 1
});

test('an indexed ground truth can be reused, and columns give the same result as objects', () => {
  const { gt, dt } = loadCase(join(FIX, 'edge', 'random_ties'));
  const want = evaluateCoco(gt, dt);
  const index = indexGroundTruth(gt);
  assert.deepEqual(statsArray(evaluateCoco(index, dt)), statsArray(want));
  assert.deepEqual(statsArray(evaluateCoco(index, dt)), statsArray(want));
  const cols = {
    imageId: Float64Array.from(dt, (d) => d.image_id),
    categoryId: Int32Array.from(dt, (d) => d.category_id),
    bbox: Float64Array.from(dt.flatMap((d) => d.bbox)),
    score: Float32Array.from(dt, (d) => d.score), // float32 scores: same order here (grid of .05)
  };
  const fromCols = evaluateCocoColumns(index, cols);
  assert.deepEqual(statsArray(fromCols), statsArray(want));
  assert.deepEqual(fromCols.perCategory, want.perCategory);
});

test('detections of unknown categories are dropped and counted', () => {
  const { gt, dt } = loadCase(join(FIX, 'edge', 'categories'));
  const r = evaluateCoco(gt, dt);
  assert.equal(r.droppedDetections, 1);
  assert.equal(r.perCategory[3], -1); // detections but no gt
  assert.equal(r.perCategory[4], -1); // neither
  assert.equal(r.perCategory[2], 0); // gt but no detections
  assert.equal(r.categories.find((c) => c.id === 1)!.numGt, 1); // gt on unlisted image 77 dropped
});

test('precision and recall arrays have pycocotools shapes', () => {
  const { gt, dt } = loadCase(join(FIX, 'cases', 'perfect'));
  const r = evaluateCoco(gt, dt);
  assert.equal(r.precision.length, 10 * 101 * 3 * 4 * 3);
  assert.equal(r.recall.length, 10 * 3 * 4 * 3);
  // perfect detections: precision 1 at every threshold for category index 0, area all, maxDets 100
  for (let t = 0; t < 10; t++) {
    for (let q = 0; q < 101; q++) assert.equal(r.precision[(((t * 101 + q) * 3 + 0) * 4 + 0) * 3 + 2], 1);
  }
});
