// The comparison table's arithmetic: mean ± sample std over the seeds every arm shares, gain over
// the baseline, share of the teacher-student gap closed, and the median step time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunResult } from '../../app/run-recipe.ts';
import { gapClosed, markdownTable, median, NO_OBJECTS_NOTE, std, summarise } from './table.ts';

function run(seed: number, ap: number, sPerIt: number): RunResult {
  const m = { AP: ap, AP50: ap + 0.2, AP75: ap - 0.05, APs: ap, APm: ap, APl: ap };
  return {
    recipe: 'x',
    seed,
    status: 'finished',
    final: m,
    best: null,
    sPerIt,
    studentParams: 800_000,
    studentMacs: 153_000_000,
  };
}

test('std is the sample standard deviation; median of odd and even counts', () => {
  assert.equal(std([0.3, 0.32, 0.34]).toFixed(6), '0.020000');
  assert.equal(std([0.5]), 0);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
});

test('summaries use only the shared seeds; the table shows mean ± std, gain and gap closed', () => {
  const base = summarise('baseline', [run(0, 0.2, 0.2), run(1, 0.22, 0.21), run(2, 0.24, 0.9)], [0, 1, 2]);
  const m = summarise(
    'demo-x',
    [run(0, 0.3, 0.4), run(1, 0.32, 0.41), run(2, 0.34, 0.39), run(3, 0.99, 0.1)],
    [0, 1, 2],
  );
  assert.deepEqual(m.seeds, [0, 1, 2], 'seed 3 is not shared by every arm');
  assert.ok(Math.abs(m.mean.AP! - 0.32) < 1e-12);
  assert.equal(base.sPerIt, 0.21, 'median step time ignores the one slow run');
  assert.ok(Math.abs(gapClosed(0.32, 0.22, 0.52) - 1 / 3) < 1e-12);
  assert.ok(Number.isNaN(gapClosed(0.3, 0.5, 0.4)), 'no gap, no share');
  const input = {
    teacher: {
      name: 'T',
      metrics: { AP: 0.52, AP50: 0.7, AP75: 0.5, APs: 0.5, APm: 0.5, APl: 0.5 },
      params: 3_280_000,
      macs: 645_000_000,
    },
    baseline: base,
    methods: [m],
    seeds: [0, 1, 2],
  };
  const md = markdownTable(input);
  const row = md.split('\n').find((l) => l.startsWith('| demo-x |'))!;
  assert.equal(
    row,
    '| demo-x | 32.0 ± 2.0 | 52.0 ± 2.0 | 27.0 ± 2.0 | 32.0 ± 2.0 | 32.0 ± 2.0 | 32.0 ± 2.0 | +10.0 | 33% | 0.400 | 0.80 | 0.153 |',
  );
  assert.ok(md.includes('| teacher (T) | 52.0 | 70.0 | 50.0 |'));
  assert.match(md, /mean ± sample std over 3 seeds \(0, 1, 2\)/);
  const one = markdownTable({ ...input, seeds: [0] });
  assert.match(one, /COCO metrics in %, one seed \(0\) for every arm;/);
});

test('a metric pycocotools reports as -1 (no object of that size) shows a dash, explained under the table', () => {
  // A val set of small objects: APm and APl are -1 in every run (and for the teacher).
  const small = (seed: number, ap: number): RunResult => ({
    ...run(seed, ap, 0.2),
    final: { AP: ap, AP50: ap, AP75: ap, APs: ap, APm: -1, APl: -1 },
  });
  const base = summarise('baseline', [small(0, 0.2), small(1, 0.3)], [0, 1]);
  const m = summarise('demo-x', [small(0, 0.25), small(1, 0.35)], [0, 1]);
  const md = markdownTable({
    teacher: {
      name: 'T',
      metrics: { AP: 0.5, AP50: 0.5, AP75: 0.5, APs: 0.5, APm: -1, APl: -1 },
      params: null,
      macs: null,
    },
    baseline: base,
    methods: [m],
    seeds: [0, 1],
  });
  assert.doesNotMatch(md, /-100\.0/);
  const row = md.split('\n').find((l) => l.startsWith('| demo-x |'))!;
  assert.equal(
    row,
    '| demo-x | 30.0 ± 7.1 | 30.0 ± 7.1 | 30.0 ± 7.1 | 30.0 ± 7.1 | – | – | +5.0 | 20% | 0.200 | 0.80 | 0.153 |',
  );
  assert.ok(md.includes('| teacher (T) | 50.0 | 50.0 | 50.0 | 50.0 | – | – |'));
  assert.equal(md.trimEnd().split('\n').at(-1), NO_OBJECTS_NOTE);
  assert.match(NO_OBJECTS_NOTE, /^– : no object of this size in the val set \(pycocotools reports -1\)/);
  // Without such a metric, no such line.
  const full = markdownTable({
    teacher: null,
    baseline: summarise('baseline', [run(0, 0.2, 0.2)], [0]),
    methods: [],
    seeds: [0],
  });
  assert.ok(!full.includes(NO_OBJECTS_NOTE));
});
