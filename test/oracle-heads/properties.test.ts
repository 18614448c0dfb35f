// Properties of the four head losses on detkd's own assignments (MaxIoU for RetinaNet, ATSS for
// ATSS/GFL, FCOS targets): images without ground truth, a single box, crowd/ignore regions and
// degenerate (zero-width / zero-height) boxes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../src/core/native.ts';
import { Generator } from '../../src/core/random.ts';
import { rand, randn, stack, type Tensor, tensor, tidy, zeros } from '../../src/core/tensor.ts';
import { AtssAssigner } from '../../src/detection/assigners/atss.ts';
import { fcosTargets } from '../../src/detection/assigners/fcos.ts';
import { MaxIoUAssigner } from '../../src/detection/assigners/max-iou.ts';
import type { GtTargets } from '../../src/detection/assigners/types.ts';
import { dropDegenerateBoxes } from '../../src/detection/detector.ts';
import {
  atssLoss,
  type FcosExtraTargets,
  fcosLoss,
  flattenLevels,
  gflLoss,
  type HeadLossInputs,
  retinaLoss,
} from '../../src/detection/heads/losses.ts';
import { atssAnchors, retinaAnchors } from '../../src/detection/priors/anchors.ts';
import { fcosPoints } from '../../src/detection/priors/points.ts';
import { IGNORE, type LossDict, type Priors } from '../../src/detection/types.ts';
import { FCOS_TARGETS, FEAT_SIZES, gtOf, IGNORE_IOF_THR, NUM_CLASSES, STRIDES } from './common.ts';

native.setNumThreads(1);

type HeadName = 'retina' | 'atss' | 'gfl' | 'fcos';
const ALL: HeadName[] = ['retina', 'atss', 'gfl', 'fcos'];
const C = NUM_CLASSES;

/** Output channels per kind (per location). */
const CHANNELS: Record<HeadName, { cls: number; reg: number; ctr: number }> = {
  retina: { cls: 9 * C, reg: 9 * 4, ctr: 0 },
  atss: { cls: C, reg: 4, ctr: 1 },
  gfl: { cls: C, reg: 4 * 17, ctr: 0 },
  fcos: { cls: C, reg: 4, ctr: 1 },
};

interface Setup {
  head: HeadName;
  cls: Tensor[];
  reg: Tensor[];
  ctr: Tensor[];
  inp: HeadLossInputs;
  extra: FcosExtraTargets | null;
}

function priorsOf(head: HeadName): Priors {
  if (head === 'retina') return retinaAnchors(STRIDES).gridPriors(FEAT_SIZES);
  if (head === 'fcos') return fcosPoints(STRIDES).gridPriors(FEAT_SIZES);
  return atssAnchors(STRIDES).gridPriors(FEAT_SIZES);
}

/** Random leaf head outputs for `gts` and detkd's assignment of them. */
function setup(head: HeadName, gts: GtTargets[], seed = 7): Setup {
  const gen = new Generator(seed);
  const B = gts.length;
  const ch = CHANNELS[head];
  const maps = (k: number, f: (shape: number[]) => Tensor) =>
    k === 0 ? [] : FEAT_SIZES.map(([h, w]) => f([B, k, h, w]).requiresGrad_(true));
  const cls = maps(ch.cls, (s) => randn(s, { generator: gen }).mul(1.5).sub(2));
  const reg = maps(ch.reg, (s) =>
    head === 'fcos' ? rand(s, { generator: gen }).mul(3).add(0.2) : randn(s, { generator: gen }).mul(0.3),
  );
  const ctr = maps(ch.ctr, (s) => randn(s, { generator: gen }));
  const priors = priorsOf(head);
  let extra: FcosExtraTargets | null = null;
  let assignments: HeadLossInputs['assignments'];
  if (head === 'fcos') {
    const t = gts.map((g) => fcosTargets(priors, g, C, FCOS_TARGETS));
    assignments = t.map((x) => x.assignment);
    extra = { bboxTargets: t.map((x) => x.bboxTargets), centerness: t.map((x) => x.centerness) };
  } else {
    const assigner =
      head === 'retina'
        ? new MaxIoUAssigner({ ignoreIofThr: IGNORE_IOF_THR })
        : new AtssAssigner({ topk: 9, ignoreIofThr: IGNORE_IOF_THR });
    assignments = gts.map((g) => assigner.assign(priors, g, C));
  }
  const outputs: HeadLossInputs['outputs'] = { clsScores: cls, bboxPreds: reg };
  if (ctr.length > 0) outputs.centerness = ctr;
  return { head, cls, reg, ctr, inp: { outputs, priors, gts, assignments }, extra };
}

function losses(s: Setup): LossDict {
  const cfg = { numClasses: C };
  switch (s.head) {
    case 'retina':
      return retinaLoss(s.inp, cfg);
    case 'atss':
      return atssLoss(s.inp, cfg);
    case 'gfl':
      return gflLoss(s.inp, { ...cfg, regMax: 16 });
    case 'fcos':
      if (s.extra === null) throw new Error('fcos needs its extra targets');
      return fcosLoss(s.inp, s.extra, { ...cfg, normOnBbox: true });
  }
}

function total(l: LossDict): Tensor {
  return Object.values(l).reduce((a, b) => a.add(b));
}

function allFinite(t: Tensor): boolean {
  return t.isfinite().all().item() === 1;
}

function empty(ignore: number[][] = []): GtTargets {
  return {
    boxes: zeros([0, 4]),
    labels: zeros([0], { dtype: 'int64' }),
    ignore: ignore.length ? tensor(ignore) : zeros([0, 4]),
  };
}

function boxes(rows: number[][], labels: number[]): GtTargets {
  return { boxes: tensor(rows), labels: tensor(labels, { dtype: 'int64' }), ignore: zeros([0, 4]) };
}

/** Gradients of per-level maps -> per prior [B, A] (true where any channel's gradient is nonzero). */
function touched(grads: Tensor[], perPrior: number): Tensor {
  return flattenLevels(grads, perPrior).ne(0).any(-1);
}

for (const head of ALL) {
  test(`${head}: no ground truth -> classification > 0, box terms exactly 0 but in the graph`, () => {
    tidy(() => {
      const s = setup(head, [empty(), empty([[0, 0, 40, 30]])]);
      for (const a of s.inp.assignments) {
        assert.equal(a.labels.lt(C).sum().item(), 0, 'no positives');
        assert.equal(a.gtIndex.eq(IGNORE).sum().item(), 0, 'a crowd region alone ignores nothing (as mmdet)');
      }
      const l = losses(s);
      assert.ok(l.loss_cls!.item() > 0 && allFinite(l.loss_cls!), `loss_cls ${l.loss_cls!.item()}`);
      for (const [k, v] of Object.entries(l)) {
        if (k === 'loss_cls') continue;
        assert.ok(v.item() === 0, `${k} is exactly 0 (+-0: mmdet's pred.sum() * 0 keeps the sign)`);
        assert.ok(v.requiresGrad, `${k} is connected to the graph`);
      }
      total(l).backward();
      for (const t of s.cls) assert.ok(t.grad !== null && allFinite(t.grad) && t.grad.abs().max().item() > 0);
      for (const t of [...s.reg, ...s.ctr]) {
        const g = t.grad;
        assert.ok(g !== null, 'box outputs get a (zero) gradient');
        assert.equal(g.abs().max().item(), 0);
      }
    });
  });

  test(`${head}: one box -> positives, finite positive terms, box gradients only at positives`, () => {
    tidy(() => {
      const s = setup(head, [boxes([[20, 12, 62, 54]], [2])], 11);
      const lab = s.inp.assignments[0]!.labels;
      const numPos = lab.lt(C).sum().item();
      assert.ok(numPos > 0, 'the box gets positives');
      assert.equal(lab.lt(C).logicalAnd(lab.ne(2)).sum().item(), 0, 'positives carry the box label');
      const l = losses(s);
      for (const [k, v] of Object.entries(l)) assert.ok(allFinite(v) && v.item() > 0, `${k} = ${v.item()}`);
      total(l).backward();
      const A = s.inp.priors.perLocation;
      const grads = s.reg.map((t) => t.grad as Tensor);
      assert.ok(grads.every((g) => g !== null && allFinite(g)));
      const hit = touched(grads, CHANNELS[head].reg / A).reshape(-1); // [A]
      assert.deepEqual(hit.toArray(), lab.lt(C).toArray(), 'box-branch gradient exactly at the positives');
      if (s.ctr.length > 0) {
        const ch = touched(
          s.ctr.map((t) => t.grad as Tensor),
          1,
        ).reshape(-1);
        assert.deepEqual(ch.toArray(), lab.lt(C).toArray(), 'centre-ness gradient exactly at the positives');
      }
    });
  });
}

for (const head of ['retina', 'atss', 'gfl'] as const) {
  test(`${head}: crowd regions -> ignored priors are neither positive nor negative (label weight 0)`, () => {
    tidy(() => {
      const s = setup(head, [gtOf('a'), gtOf('c')], 5);
      const ign = s.inp.assignments.map((a) => a.gtIndex.eq(IGNORE)); // [A] each
      const numIgn = ign.reduce((n, m) => n + m.sum().item(), 0);
      assert.ok(numIgn > 0, 'image a has ignored priors');
      s.inp.assignments.forEach((a, i) => {
        assert.equal(a.labels.at(ign[i]!).ne(C).sum().item(), 0, 'ignored priors carry the background label');
      });
      const l = losses(s);
      l.loss_cls!.backward();
      const A = s.inp.priors.perLocation;
      const g = flattenLevels(
        s.cls.map((t) => t.grad as Tensor),
        C,
      ); // [B, N, C] with N = A * locations
      const gPrior = g.abs().amax(-1).reshape(s.inp.gts.length, -1); // [B, priors]
      s.inp.assignments.forEach((_, i) => {
        const row = gPrior.select(0, i);
        if (ign[i]!.any().item()) {
          assert.equal(row.at(ign[i]!).max().item(), 0, 'no classification gradient at ignored priors');
        }
        assert.ok(row.at(ign[i]!.logicalNot()).min().item() > 0, 'every other prior is trained');
      });
      // Moving the ignored priors' logits anywhere leaves the loss bit for bit as it is.
      const shifted = s.cls.map((t, lvl) => {
        const [, , h, w] = t.shape as [number, number, number, number];
        const off = s.inp.priors.levelOffsets[lvl]!;
        const n = s.inp.priors.numPerLevel[lvl]!;
        // prior (y*w + x)*A + a, class c  <->  map channel a*C + c at (y, x) (mmdet's layout)
        const mask = stack(
          ign.map((m) =>
            m
              .narrow(0, off, n)
              .reshape(h, w, A)
              .permute(2, 0, 1)
              .unsqueeze(1)
              .expand(A, C, h, w)
              .reshape(A * C, h, w),
          ),
        ).float(); // [B, A*C, h, w]
        return t.detach().add(mask.mul(6)).requiresGrad_(true);
      });
      const s2: Setup = {
        ...s,
        cls: shifted,
        inp: { ...s.inp, outputs: { ...s.inp.outputs, clsScores: shifted } },
      };
      assert.equal(losses(s2).loss_cls!.item(), l.loss_cls!.item());
    });
  });
}

test('fcos: crowd regions are not used (as mmdet FCOSHead): the targets are those without them', () => {
  tidy(() => {
    const priors = priorsOf('fcos');
    const withIgn = fcosTargets(priors, gtOf('a'), C, FCOS_TARGETS);
    const without = fcosTargets(priors, { ...gtOf('a'), ignore: null }, C, FCOS_TARGETS);
    assert.deepEqual(withIgn.assignment.gtIndex.toArray(), without.assignment.gtIndex.toArray());
    assert.equal(withIgn.assignment.gtIndex.eq(IGNORE).sum().item(), 0);
  });
});

for (const head of ALL) {
  test(`${head}: degenerate boxes (zero width, zero height) -> finite losses and gradients`, () => {
    tidy(() => {
      const gt = boxes(
        [
          [10, 8, 50, 48],
          [60, 10, 60, 50],
          [20, 30, 70, 30],
        ],
        [0, 1, 2],
      );
      // RetinaNet's MaxIoU would give a zero-area box every anchor: the detector drops such boxes
      // first (dropDegenerateBoxes), as mmdetection's pipeline does.
      const s = setup(head, [head === 'retina' ? dropDegenerateBoxes(gt) : gt, gtOf('c')], 13);
      if (head !== 'retina') {
        const gi = s.inp.assignments[0]!.gtIndex;
        assert.equal(gi.ge(1).sum().item(), 0, 'no prior is assigned to a degenerate box');
        assert.ok(gi.eq(0).sum().item() > 0, 'the valid box keeps its positives');
      }
      const l = losses(s);
      for (const [k, v] of Object.entries(l)) assert.ok(allFinite(v), `${k} = ${v.item()}`);
      total(l).backward();
      for (const t of [...s.cls, ...s.reg, ...s.ctr])
        assert.ok(t.grad !== null && allFinite(t.grad), 'gradient');
    });
  });
}
