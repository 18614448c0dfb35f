// ladAssign against scripts/fixtures/distill_lad_oracle.py: a PyTorch 1.13 replica (float64, one
// thread) of mmdetection's PAAHead target path fed with a teacher's outputs (MaxIoUAssigner 0.1,
// get_pos_loss, paa_reassign with sklearn's GaussianMixture, gmm_separation_scheme), with detkd's
// tie and degenerate rules. Candidate scores to 1e-12, gt indices / labels exactly, overlaps
// exactly, and the rule each GT went through. Then properties: no gradients, no GT, a single
// candidate, the fallback paths of paaSplit, NaN teacher outputs, float32 inputs, no leaks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadOracle } from '../../test/support/oracle.ts';
import { native } from '../core/native.ts';
import { enableGrad, memoryInfo, type Tensor, tidy, zeros } from '../core/tensor.ts';
import { GaussianMixture1d, GmmFitError } from '../detection/assigners/gmm.ts';
import type { GtTargets } from '../detection/assigners/types.ts';
import { BACKGROUND, IGNORE, type Priors } from '../detection/types.ts';
import { type LadConfig, type LadGtInfo, ladAssign, ladCandidateScores, paaSplit } from './lad.ts';

native.setNumThreads(1);

const oracle = loadOracle('distill-lad');
const { get } = oracle;
interface Case {
  cfg: { topk?: number; ignore_iof_thr?: number; single?: 'keep' | 'drop' };
  rules: string[];
}
const cases = oracle.cases<Case>();
const NUM_CLASSES = Number(oracle.metadata.num_classes);
const STRIDES = oracle.json<number[]>('strides');
const FEATS = oracle.json<[number, number][]>('feats');
const NUM_PER_LEVEL = oracle.json<number[]>('num_per_level');

function priors(boxes: Tensor = get('anchors')): Priors {
  return {
    boxes,
    numPerLevel: NUM_PER_LEVEL,
    levelOffsets: NUM_PER_LEVEL.map((_, l) => NUM_PER_LEVEL.slice(0, l).reduce((a, b) => a + b, 0)),
    strides: STRIDES,
    featSizes: FEATS,
    perLocation: 1,
    kind: 'anchor',
  };
}

function gtOf(name: string): GtTargets {
  return {
    boxes: get(`${name}/gt_boxes`),
    labels: get(`${name}/gt_labels`),
    ignore: get(`${name}/gt_ignore`),
  };
}

function cfgOf(c: Case): LadConfig {
  const o: LadConfig = {};
  if (c.cfg.topk !== undefined) o.topk = c.cfg.topk;
  if (c.cfg.ignore_iof_thr !== undefined) o.ignoreIofThr = c.cfg.ignore_iof_thr;
  if (c.cfg.single !== undefined) o.singleCandidate = c.cfg.single;
  return o;
}

/** mmdet's 1-based gt_inds (-1 ignore, 0 background) -> our gtIndex sentinels. */
function expectedGtIndex(mm: number[]): number[] {
  return mm.map((v) => (v > 0 ? v - 1 : v === 0 ? BACKGROUND : IGNORE));
}

function close(actual: readonly number[], expected: readonly number[], what: string, rtol: number): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= rtol * (1 + Math.abs(e)), `${what}[${i}]: ${a} vs ${e}`);
  });
}

test('the fixture covers no GT, one GT, a single-candidate GT, equal scores and ignore regions', () => {
  assert.deepEqual(cases.no_gt!.rules, []);
  assert.deepEqual(cases.one_gt!.rules, ['gmm']);
  assert.equal(cases.multi!.rules[3], 'fallback'); // single candidate, kept
  assert.equal(cases.multi!.rules[4], 'fallback'); // equal teacher outputs -> equal scores
  assert.equal(cases.multi_drop!.rules[3], 'dropped');
  assert.ok(get('ignore/gt_inds').toArray().includes(-1), 'ignore case has ignored priors');
});

for (const [name, c] of Object.entries(cases)) {
  test(`ladAssign matches the PAA replica: ${name}`, () =>
    tidy(() => {
      const info: LadGtInfo[] = [];
      const a = ladAssign(
        priors(),
        get(`${name}/cls`),
        get(`${name}/boxes`),
        gtOf(name),
        NUM_CLASSES,
        cfgOf(c),
        info,
      );
      const mm = get(`${name}/gt_inds`).toArray();
      assert.deepEqual(a.gtIndex.toArray(), expectedGtIndex(mm), 'gtIndex');
      const labels = get(`${name}/gt_labels`).toArray();
      assert.deepEqual(
        a.labels.toArray(),
        mm.map((v) => (v > 0 ? labels[v - 1]! : NUM_CLASSES)),
        'labels',
      );
      assert.deepEqual(a.overlaps.toArray(), get(`${name}/overlaps`).toArray(), 'overlaps');
      assert.equal(a.numGts, labels.length);
      assert.deepEqual(
        info.map((i) => i.rule),
        c.rules,
        'rule per GT',
      );
      // Candidate scores (get_pos_loss), in the replica's candidate order.
      const posInds = get(`${name}/pos_inds`);
      if (posInds.numel > 0) {
        const gtIdx = get(`${name}/pos_gt`); // candidates' GT before the reassign
        const gt = gtOf(name);
        const s = ladCandidateScores(
          get(`${name}/cls`).at(posInds),
          get(`${name}/boxes`).at(posInds),
          gt.boxes.at(gtIdx),
          gt.labels.at(gtIdx),
        );
        close(s.toArray(), get(`${name}/pos_losses`).toArray(), 'scores', 1e-12);
      }
      // The positives ladAssign reports per GT are exactly the priors it assigned.
      const pos = a.gtIndex.toArray().flatMap((g, i) => (g >= 0 ? [i] : []));
      assert.deepEqual(
        info.flatMap((i) => i.positives).sort((x, y) => x - y),
        pos,
      );
    }));
}

test('ladAssign runs without gradients, whatever the grad mode and the inputs', () =>
  tidy(() => {
    const cls = get('one_gt/cls').clone().requiresGrad_();
    const boxes = get('one_gt/boxes').clone().requiresGrad_();
    const a = enableGrad(() => ladAssign(priors(), cls, boxes, gtOf('one_gt'), NUM_CLASSES));
    for (const t of [a.gtIndex, a.labels, a.overlaps, a.iouMatrix!]) assert.equal(t.requiresGrad, false);
    assert.equal(cls.grad, null);
    assert.deepEqual(a.gtIndex.toArray(), expectedGtIndex(get('one_gt/gt_inds').toArray()));
  }));

test('ladAssign with no GT: every prior is background', () =>
  tidy(() => {
    const a = ladAssign(priors(), get('no_gt/cls'), get('no_gt/boxes'), gtOf('no_gt'), NUM_CLASSES);
    const A = get('anchors').size(0);
    assert.deepEqual(a.gtIndex.toArray(), new Array(A).fill(BACKGROUND));
    assert.deepEqual(a.labels.toArray(), new Array(A).fill(NUM_CLASSES));
    assert.deepEqual(a.overlaps.toArray(), new Array(A).fill(0));
    assert.equal(a.numGts, 0);
  }));

test('ladAssign: a GT with one candidate keeps it by default and loses it with singleCandidate drop', () =>
  tidy(() => {
    const run = (singleCandidate: 'keep' | 'drop'): LadGtInfo => {
      const info: LadGtInfo[] = [];
      const a = ladAssign(
        priors(),
        get('multi/cls'),
        get('multi/boxes'),
        gtOf('multi'),
        NUM_CLASSES,
        { singleCandidate },
        info,
      );
      const g3 = info[3]!;
      assert.equal(g3.candidates.length, 1);
      assert.equal(a.gtIndex.toArray()[g3.candidates[0]!], singleCandidate === 'keep' ? 3 : BACKGROUND);
      return g3;
    };
    assert.deepEqual(run('keep').positives, run('keep').candidates);
    assert.deepEqual(run('drop').positives, []);
  }));

test('ladAssign: equal candidate scores make every candidate of that GT positive (fallback)', () =>
  tidy(() => {
    const info: LadGtInfo[] = [];
    ladAssign(priors(), get('multi/cls'), get('multi/boxes'), gtOf('multi'), NUM_CLASSES, {}, info);
    const g4 = info[4]!;
    assert.ok(g4.candidates.length >= 2);
    assert.equal(new Set(g4.scores).size, 1);
    assert.deepEqual(g4.positives, g4.candidates);
  }));

test('ladAssign: the per-level top-k bounds the GMM input; topk 1 keeps the best candidate per level', () =>
  tidy(() => {
    const levelOf = (i: number): number =>
      i < NUM_PER_LEVEL[0]! ? 0 : i < NUM_PER_LEVEL[0]! + NUM_PER_LEVEL[1]! ? 1 : 2;
    const run = (topk: number): LadGtInfo => {
      const info: LadGtInfo[] = [];
      ladAssign(
        priors(),
        get('many_topk5/cls'),
        get('many_topk5/boxes'),
        gtOf('many_topk5'),
        NUM_CLASSES,
        { topk },
        info,
      );
      return info[0]!;
    };
    const all = run(10000); // every candidate of GT 0
    const one = run(1);
    const levels = new Set(all.candidates.map(levelOf));
    assert.ok(all.candidates.length > levels.size, 'some level has several candidates');
    assert.equal(one.candidates.length, levels.size);
    for (const [j, p] of one.candidates.entries()) {
      const l = levelOf(p);
      const best = Math.min(...all.candidates.flatMap((q, k) => (levelOf(q) === l ? [all.scores[k]!] : [])));
      assert.equal(one.scores[j], best, `level ${l}`);
    }
    const nine = run(9);
    for (const l of levels) {
      const n = all.candidates.filter((q) => levelOf(q) === l).length;
      assert.equal(nine.candidates.filter((q) => levelOf(q) === l).length, Math.min(n, 9), `level ${l}`);
    }
  }));

test('ladAssign: NaN teacher outputs on candidates do not throw and never become positives', () =>
  tidy(() => {
    const info0: LadGtInfo[] = [];
    ladAssign(priors(), get('one_gt/cls'), get('one_gt/boxes'), gtOf('one_gt'), NUM_CLASSES, {}, info0);
    const bad = info0[0]!.positives.slice(0, 2);
    const cls = get('one_gt/cls').clone();
    for (const i of bad) cls.select(0, i).fill_(Number.NaN);
    // NaN scores sort last: with the default top-k they fall out of the GMM input.
    const a = ladAssign(priors(), cls, get('one_gt/boxes'), gtOf('one_gt'), NUM_CLASSES);
    for (const i of bad) assert.equal(a.gtIndex.toArray()[i], BACKGROUND);
    // With every candidate in the GMM input, the fit is skipped: the finite minimum is positive.
    const info: LadGtInfo[] = [];
    const b = ladAssign(
      priors(),
      cls,
      get('one_gt/boxes'),
      gtOf('one_gt'),
      NUM_CLASSES,
      { topk: 10000 },
      info,
    );
    const g = info[0]!;
    assert.equal(g.rule, 'fallback');
    assert.ok(g.scores.slice(-2).every((v) => Number.isNaN(v)));
    assert.deepEqual(g.positives, [g.candidates[0]]);
    assert.deepEqual(
      b.gtIndex.toArray().flatMap((v, i) => (v >= 0 ? [i] : [])),
      [g.candidates[0]],
    );
  }));

test('ladAssign: float32 inputs give the float64 assignment', () =>
  tidy(() => {
    for (const name of ['multi', 'one_gt', 'many_topk5']) {
      const g = gtOf(name);
      const a = ladAssign(
        priors(get('anchors').float()),
        get(`${name}/cls`).float(),
        get(`${name}/boxes`).float(),
        { boxes: g.boxes.float(), labels: g.labels, ignore: g.ignore!.float() },
        NUM_CLASSES,
        cfgOf(cases[name]!),
      );
      assert.deepEqual(a.gtIndex.toArray(), expectedGtIndex(get(`${name}/gt_inds`).toArray()), name);
      assert.equal(a.overlaps.dtype, 'float32');
    }
  }));

test('ladAssign frees its temporaries', () => {
  const before = memoryInfo().handles;
  const a = ladAssign(priors(), get('multi/cls'), get('multi/boxes'), gtOf('multi'), NUM_CLASSES);
  for (const t of [a.gtIndex, a.labels, a.overlaps, a.iouMatrix!]) t.dispose();
  assert.equal(memoryInfo().handles, before);
});

test('paaSplit: GMM path separates low scores from high ones', () => {
  const r = paaSplit([0.1, 0.12, 0.15, 0.2, 0.22, 1.5, 1.6, 1.7, 1.75]);
  assert.equal(r.rule, 'gmm');
  // sklearn: component 0 = the first five; the densest of them is 0.15 (fixture 'well_separated').
  assert.deepEqual(r.positives, [0, 1, 2]);
});

test('paaSplit: fallback rule (no candidate, one, equal scores, failed or NaN fit, NaN scores)', () => {
  assert.deepEqual(paaSplit([]), { positives: [], rule: 'empty' });
  assert.deepEqual(paaSplit([0.7]), { positives: [0], rule: 'fallback' });
  assert.deepEqual(paaSplit([0.7], { singleCandidate: 'drop' }), { positives: [], rule: 'dropped' });
  assert.deepEqual(paaSplit([0.4, 0.4, 0.4]), { positives: [0, 1, 2], rule: 'fallback' });
  const throwing = (): GaussianMixture1d => {
    throw new GmmFitError('ill-defined empirical covariance');
  };
  assert.deepEqual(paaSplit([0.1, 0.1 + 5e-7, 0.3, 0.9], {}, throwing), {
    positives: [0, 1],
    rule: 'fallback',
  });
  const nanFit = (): GaussianMixture1d =>
    new GaussianMixture1d([0.5, 0.5], [Number.NaN, 1], [1, 1], [1, 1], true, 2, 0);
  assert.deepEqual(paaSplit([0.1, 0.3, 0.9], {}, nanFit), { positives: [0], rule: 'fallback' });
  assert.deepEqual(paaSplit([0.2, 0.5, Number.NaN]), { positives: [0], rule: 'fallback' });
  assert.deepEqual(paaSplit([Number.NaN, Number.NaN]), { positives: [], rule: 'fallback' });
  // The tolerance is relative to max(1, |min|).
  assert.deepEqual(paaSplit([1000, 1000.0005, 1000.0009]), { positives: [0, 1, 2], rule: 'fallback' });
  assert.deepEqual(paaSplit([1000, 1000.0005, 1000.0009], { degenerateTol: 1e-7 }).rule, 'gmm');
});

test('ladCandidateScores: a perfect, confident teacher scores ~0; the score grows with the box error', () =>
  tidy(() => {
    const gtBox = get('one_gt/gt_boxes'); // [1, 4]
    const label = get('one_gt/gt_labels'); // [1]
    const cls = zeros([3, NUM_CLASSES], { dtype: 'float64' }).sub(30);
    cls.select(1, label.item()).fill_(30);
    const shift = zeros([3, 4], { dtype: 'float64' });
    shift.select(0, 1).fill_(4);
    shift.select(0, 2).fill_(12);
    const s = ladCandidateScores(
      cls,
      gtBox.expand(3, 4).add(shift),
      gtBox.expand(3, 4),
      label.expand(3),
    ).toArray();
    assert.ok(Math.abs(s[0]!) < 1e-12, `perfect: ${s[0]}`);
    assert.ok(s[0]! < s[1]! && s[1]! < s[2]!, `monotone: ${s}`);
  }));

test('ladAssign on CUDA gives the CPU assignment', { skip: !native.cudaInfo().available }, () =>
  tidy(() => {
    for (const name of ['multi', 'ignore']) {
      const g = gtOf(name);
      const a = ladAssign(
        priors(get('anchors').cuda()),
        get(`${name}/cls`).cuda(),
        get(`${name}/boxes`).cuda(),
        { boxes: g.boxes.cuda(), labels: g.labels.cuda(), ignore: g.ignore!.cuda() },
        NUM_CLASSES,
        cfgOf(cases[name]!),
      );
      assert.equal(a.gtIndex.device, 'cuda:0');
      assert.deepEqual(a.gtIndex.cpu().toArray(), expectedGtIndex(get(`${name}/gt_inds`).toArray()), name);
    }
  }),
);
