// Oracle: pycocotools' own COCOeval with useCats = 0 and custom maxDets (mmdet's proposal metric),
// test/fixtures/proposal-recall/cases.json, written by scripts/fixtures/proposal_recall_oracle.py.
// Also: a hand-computed case, the mmdet metric names, the columns entry point, input order
// invariance within a score, and the maxDets check.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DetkdError } from '../core/errors.ts';
import type { CocoGroundTruth, CocoResult } from './coco-types.ts';
import {
  PROPOSAL_NUMS,
  type ProposalRecallResult,
  proposalMetrics,
  proposalRecall,
  proposalRecallColumns,
} from './proposal-recall.ts';

interface OracleCase {
  gt: CocoGroundTruth;
  results: CocoResult[];
  maxDets: number[];
  /** pycocotools' stats[6:12]: AR@m0, AR@m1, AR@m2, ARs@m2, ARm@m2, ARl@m2. */
  stats: number[];
  /** eval['recall'][:, 0, :, :], [T, A, M] row-major. */
  recall: number[];
}

const FIX = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'proposal-recall', 'cases.json');
const oracle = JSON.parse(readFileSync(FIX, 'utf8')) as { cases: Record<string, OracleCase> };

function stats(r: ProposalRecallResult): number[] {
  return [...r.AR, r.ARs, r.ARm, r.ARl];
}

test('the oracle has the four cases, and the default case uses mmdet proposal_nums', () => {
  assert.deepEqual(Object.keys(oracle.cases).sort(), [
    'ann-id-zero',
    'categories',
    'default-nums',
    'many-images',
  ]);
  assert.deepEqual(oracle.cases['default-nums']!.maxDets, [...PROPOSAL_NUMS]);
});

for (const [name, c] of Object.entries(oracle.cases)) {
  test(`pycocotools oracle (useCats=0): ${name}`, () => {
    const r = proposalRecall(c.gt, c.results, { maxDets: c.maxDets });
    // Bit for bit: the same counts divided by the same integers, averaged as numpy does.
    assert.deepEqual(stats(r), c.stats);
    assert.deepEqual([...r.recall], c.recall);
  });
}

test('default-nums: recall grows with the proposal count (the cut at 100 / 300 / 1000 bites)', () => {
  const c = oracle.cases['default-nums']!;
  const r = proposalRecall(c.gt, c.results);
  assert.deepEqual(r.maxDets, [100, 300, 1000]);
  assert.ok(r.AR[0]! < r.AR[1]! && r.AR[1]! < r.AR[2]!, `AR ${r.AR.join(', ')}`);
  // 1100 proposals on one image, 40 on the other: 1000 + 40 evaluated.
  assert.equal(r.numProposals, 1040);
});

test('hand-computed: one ground-truth box, IoU 0.72, behind a miss', () => {
  const gt: CocoGroundTruth = {
    images: [{ id: 1 }],
    categories: [{ id: 3 }, { id: 5 }],
    annotations: [{ id: 1, image_id: 1, category_id: 5, bbox: [0, 0, 10, 10], area: 100 }],
  };
  const results: CocoResult[] = [
    { image_id: 1, category_id: 3, bbox: [50, 50, 10, 10], score: 0.9 }, // no overlap
    { image_id: 1, category_id: 3, bbox: [0, 0, 10, 7.2], score: 0.8 }, // IoU 72 / 100
  ];
  const r = proposalRecall(gt, results, { maxDets: [1, 2, 3] });
  // IoU 0.72 clears 0.50, 0.55, 0.60, 0.65, 0.70: 5 of the 10 thresholds. Class-agnostic: the
  // proposal's category (3) is not the box's (5).
  assert.deepEqual(r.AR, [0, 0.5, 0.5]);
  assert.equal(r.ARs, 0.5); // area 100 < 32^2: the box is small
  assert.equal(r.numGt, 1);
  assert.deepEqual(proposalMetrics(r), {
    'AR@1': 0,
    'AR@2': 0.5,
    'AR@3': 0.5,
    'AR_s@3': 0.5,
    'AR_m@3': -1,
    'AR_l@3': -1,
  });
});

test('columns give the same result as the results list', () => {
  const c = oracle.cases['many-images']!;
  const a = proposalRecall(c.gt, c.results, { maxDets: c.maxDets });
  const b = proposalRecallColumns(
    c.gt,
    {
      imageId: c.results.map((d) => d.image_id),
      categoryId: c.results.map((d) => d.category_id),
      bbox: c.results.flatMap((d) => [...d.bbox]),
      score: c.results.map((d) => d.score),
    },
    { maxDets: c.maxDets },
  );
  assert.deepEqual(stats(b), stats(a));
});

test('no proposals: recall 0 where there is ground truth, -1 where there is none', () => {
  const c = oracle.cases['many-images']!;
  const r = proposalRecall(c.gt, [], { maxDets: c.maxDets });
  assert.deepEqual(r.AR, [0, 0, 0]);
  assert.equal(r.numProposals, 0);
  assert.ok(r.numGt > 0);
});

test('maxDets must be ascending positive integers', () => {
  const c = oracle.cases['categories']!;
  for (const bad of [[], [10, 5], [0, 10], [1.5], [10, 10]]) {
    assert.throws(
      () => proposalRecall(c.gt, c.results, { maxDets: bad }),
      (e: unknown) => e instanceof DetkdError && /maxDets/.test(e.message),
    );
  }
});

test('an unknown image id is an error naming the entry', () => {
  const c = oracle.cases['categories']!;
  assert.throws(
    () =>
      proposalRecall(c.gt, [{ image_id: 123456, category_id: 2, bbox: [0, 0, 1, 1], score: 1 }], {
        resultsSource: 'props.json',
      }),
    /props\.json: results\[0\]\.image_id 123456/,
  );
});
