// Distilling two-stage and mixed pairs: the two-stage taps on a real forward, FPN levels paired by
// stride (or index), PKD / CWD-FPN / FGD steps with a Faster R-CNN student, heterogeneous pairs
// (Faster R-CNN <-> GFL / RetinaNet) whose term equals the loss computed by hand on the paired
// levels, the dense-only terms refusing a two-stage side, and inherit between two Faster R-CNNs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DetkdError } from '../core/errors.ts';
import { manualSeed } from '../core/random.ts';
import { rand, type Tensor, tensor, tidy } from '../core/tensor.ts';
import { DenseDetector } from '../detection/detector.ts';
import { buildDetector } from '../detection/models/build.ts';
import type { DenseDetectorConfig, FasterRcnnConfig } from '../detection/models/config.ts';
import { TwoStageDetector } from '../detection/two-stage.ts';
import type { Conv2d } from '../nn/conv.ts';
import type { Batch } from '../structures/tensor-batch.ts';
import { Distiller, inheritNeckAndHead } from './distiller.ts';
import { Frozen } from './frozen.ts';
import { FGD_ONE_STAGE, FGD_TWO_STAGE, type FgdLevel, fgdMasks } from './losses/fgd.ts';
import { pkdLoss } from './losses/pkd.ts';
import { cwdCls, cwdFpn, fgd, pairFpnLevels, pkd } from './methods/features.ts';
import { kd } from './methods/kd.ts';
import { ladAssignment } from './methods/lad.ts';
import { ld } from './methods/ld.ts';
import { fpn, proposals, roiFeats, roiLogits, rpnObjectness, teacherRoiHeadOnStudentRois } from './taps.ts';
import { type AnyTerm, type DistillContext, defineTerm } from './term.ts';

const C = 3;
const S = 64;
const BACKBONE = { depth: 18 as const, widthMultiplier: 0.25, norm: 'gn' as const };

function frcnn(o: Partial<FasterRcnnConfig> = {}, seed = 1): TwoStageDetector {
  manualSeed(seed);
  return buildDetector({
    kind: 'faster-rcnn',
    numClasses: C,
    backbone: BACKBONE,
    channels: 16,
    fcChannels: 32,
    rpn: { train: { preNms: 200, postNms: 100 }, test: { preNms: 100, postNms: 50 } },
    roi: { samples: 32 },
    ...o,
  });
}

function dense(o: Partial<DenseDetectorConfig> = {}, seed = 1): DenseDetector {
  manualSeed(seed);
  return buildDetector({
    kind: 'gfl',
    numClasses: C,
    backbone: BACKBONE,
    channels: 16,
    numLevels: 3,
    stackedConvs: 1,
    ...o,
  });
}

/** Two 64x64 images on 0..255, three boxes and one box. */
function batch(): Batch {
  manualSeed(7);
  const meta = (id: number) => ({
    imageId: id,
    fileName: `img${id}.png`,
    oriShape: [S, S] as [number, number],
    imgShape: [S, S] as [number, number],
    padShape: [S, S] as [number, number],
    scaleFactor: [1, 1] as [number, number],
    flipped: false,
  });
  const b0 = [
    [8, 8, 40, 36],
    [30, 20, 60, 50],
    [2, 40, 20, 62],
  ];
  const b1 = [[10, 12, 50, 44]];
  const labels = (bs: number[][]) =>
    tensor(
      bs.map((_, i) => i % C),
      { dtype: 'int64', shape: [bs.length] },
    );
  return {
    images: rand([2, 3, S, S]).mul(255),
    metas: [meta(1), meta(2)],
    gtBoxes: [tensor(b0), tensor(b1)],
    gtLabels: [labels(b0), labels(b1)],
    ignoreBoxes: [tensor([], { shape: [0, 4] }), tensor([], { shape: [0, 4] })],
  };
}

const ctx0 = { epoch: 0, step: 0, iter: 0 };
const TWO_STAGE_LOSSES = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg'];

function detkdError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DetkdError, `a DetkdError, got ${String(e)}`);
    for (const p of parts) assert.ok(e.message.includes(p), `'${e.message}' names ${p}`);
    return true;
  });
}

const maxDiff = (a: Tensor, b: Tensor): number => a.sub(b).abs().max().item();

/** The student-side ctx the Distiller builds for a two-stage pair. */
function twoStageCtx(
  student: TwoStageDetector,
  teacher: Frozen<TwoStageDetector>,
  b: Batch,
): DistillContext<'two-stage', 'two-stage'> {
  const sf = student.forward(b.images, b.metas, 'train');
  return {
    batch: b,
    gts: DenseDetector.gts(b),
    student: sf,
    teacher: teacher.run((t) => t.forward(b.images, b.metas, 'test')),
    assignment: student.trainTargets(sf, TwoStageDetector.gts(b)),
    studentModel: student,
    teacherModel: teacher,
    iter: 0,
  };
}

test('two-stage taps: RPN objectness, proposals, the student RoI head, the teacher RoI head on the student RoIs', () =>
  tidy(() => {
    const student = frcnn({}, 1); // P2..P6, 16 channels
    const teacher = new Frozen(frcnn({ channels: 32, levels: { first: 2, count: 4 } }, 2)); // P2..P5
    const ctx = twoStageCtx(student, teacher, batch());

    const obj = rpnObjectness()(ctx.student, ctx);
    assert.deepEqual(
      obj.map((t) => t.shape),
      [4, 8, 16, 32, 64].map((s) => [2, 3, S / s, S / s]),
    );
    const tObj = rpnObjectness([1, 3])(ctx.teacher, ctx);
    assert.deepEqual(
      tObj.map((t) => t.shape),
      [
        [2, 3, 8, 8],
        [2, 3, 2, 2],
      ],
    );
    assert.equal(maxDiff(tObj[1]!, ctx.teacher.rpn.objectness[3]!), 0);
    detkdError(() => rpnObjectness([4])(ctx.teacher, ctx), 'rpnObjectness', 'level 4');

    const props = proposals()(ctx.teacher, ctx);
    assert.equal(props.length, 2);
    for (const p of props) {
      const n = p.boxes.size(0);
      assert.ok(n > 0 && n <= 50, `teacher test proposals ${n} within its postNms 50`);
      assert.deepEqual(p.scores.shape, [n]);
      assert.deepEqual(p.boxes.shape, [n, 4]);
    }
    const sProps = proposals()(ctx.student, ctx);
    assert.ok(sProps.every((p) => p.boxes.size(0) > 0 && p.boxes.size(0) <= 100));

    const K = ctx.assignment.rois.rois.size(0);
    assert.equal(K, 2 * 32, '32 sampled RoIs per image');
    const feats = roiFeats()(ctx.student, ctx);
    const logits = roiLogits()(ctx.student, ctx);
    assert.deepEqual(feats.shape, [K, 16, 7, 7]);
    assert.deepEqual(logits.shape, [K, C + 1]);
    assert.ok(feats.requiresGrad && logits.requiresGrad, 'the student RoI outputs carry gradients');

    const t = teacherRoiHeadOnStudentRois()(ctx.teacher, ctx);
    assert.deepEqual(t.feats.shape, [K, 32, 7, 7]);
    assert.deepEqual(t.clsScore.shape, [K, C + 1]);
    assert.deepEqual(t.bboxPred.shape, [K, 4 * C], 'mmdet preset: class-specific deltas without background');
    const direct = teacher.peek((m) => m.roiHead(ctx.teacher.neck, ctx.assignment.rois.rois));
    assert.equal(maxDiff(t.feats, direct.feats), 0);
    assert.equal(maxDiff(t.clsScore, direct.clsScore), 0);
    assert.equal(maxDiff(t.bboxPred, direct.bboxPred), 0);
    assert.ok(!t.feats.requiresGrad && !t.clsScore.requiresGrad && !t.bboxPred.requiresGrad, 'no gradient');
    // The student's RoI head on the same RoIs is a different network: the values differ.
    assert.ok(maxDiff(logits, t.clsScore) > 0);
  }));

test('FPN levels pair by stride (P2..P6 teacher, P3..P5 student), by index on request, and refuse no shared stride', () =>
  tidy(() => {
    const student = dense({}, 1); // P3..P5
    const teacher = new Frozen(frcnn({}, 2)); // P2..P6
    const p = { student, teacher };
    assert.deepEqual(student.neckStrides, [8, 16, 32]);
    assert.deepEqual(
      teacher.peek((t) => t.neckStrides),
      [4, 8, 16, 32, 64],
    );
    const byStride = pairFpnLevels(p, 'pkd');
    assert.deepEqual(
      [byStride.studentLevels, byStride.teacherLevels],
      [
        [0, 1, 2],
        [1, 2, 3],
      ],
    );
    assert.deepEqual(
      byStride.pairs.map((q) => [q.studentStride, q.teacherStride]),
      [
        [8, 8],
        [16, 16],
        [32, 32],
      ],
    );
    const byIndex = pairFpnLevels(p, 'pkd', { pairing: 'index', resizes: true });
    assert.deepEqual(
      [byIndex.studentLevels, byIndex.teacherLevels],
      [
        [0, 1, 2],
        [0, 1, 2],
      ],
    );
    // `levels` index the student's levels.
    const one = pairFpnLevels(p, 'pkd', { levels: [2] });
    assert.deepEqual([one.studentLevels, one.teacherLevels], [[2], [3]]);
    detkdError(
      () => pairFpnLevels(p, 'pkd', { levels: [3] }),
      "'pkd'",
      'level 3 does not exist on the student',
    );

    // A Faster R-CNN student P2..P6 and a GFL teacher P3..P5: P2 and P6 have no partner.
    const rev = pairFpnLevels({ student: frcnn({}, 3), teacher: new Frozen(dense({}, 4)) }, 'cwd_fpn');
    assert.deepEqual(
      [rev.studentLevels, rev.teacherLevels],
      [
        [1, 2, 3],
        [0, 1, 2],
      ],
    );
    detkdError(
      () =>
        pairFpnLevels({ student: frcnn({}, 3), teacher: new Frozen(dense({}, 4)) }, 'cwd_fpn', {
          levels: [0],
        }),
      "'cwd_fpn'",
      'level 0 (stride 4) has no teacher level of that stride',
    );
    // A P2..P5 teacher and a RetinaNet P3..P7 student share P3..P5.
    const retina = dense({ kind: 'retina', numLevels: 5 }, 5);
    const p25 = new Frozen(frcnn({ levels: { first: 2, count: 4 } }, 6));
    const r = pairFpnLevels({ student: retina, teacher: p25 }, 'fgd');
    assert.deepEqual(
      [r.studentLevels, r.teacherLevels],
      [
        [0, 1, 2],
        [1, 2, 3],
      ],
    );

    // No shared stride (a P2-only teacher): every feature term refuses, naming itself.
    const p2only = new Frozen(frcnn({ levels: { first: 2, count: 1 } }, 7));
    const none = { student, teacher: p2only };
    detkdError(() => pkd(none), "distill term 'pkd'", 'share no stride');
    detkdError(() => cwdFpn(none), "distill term 'cwd_fpn'", 'share no stride');
    detkdError(() => fgd(none), "distill term 'fgd'", 'share no stride');
    // Index pairing of different strides: PKD resizes, CWD and FGD need equal sizes and refuse.
    assert.equal(pkd({ ...p, pairing: 'index' }).name, 'pkd');
    detkdError(() => cwdFpn({ ...p, pairing: 'index' }), "distill term 'cwd_fpn'", 'pairing by index');
    detkdError(() => fgd({ ...p, pairing: 'index' }), "distill term 'fgd'", 'pairing by index');
  }));

test('defaults by detector kind: PKD weight 6 with an R-CNN teacher and 10 with a dense one; FGD two-stage config on P2..P5', () =>
  tidy(() => {
    const gfl = dense({}, 1);
    const rcnn = frcnn({}, 2);
    assert.equal(pkd({ student: gfl, teacher: new Frozen(frcnn({}, 3)) }).weight, 6);
    assert.equal(pkd({ student: rcnn, teacher: new Frozen(dense({}, 4)) }).weight, 10);
    assert.equal(pkd({ student: gfl, teacher: new Frozen(dense({}, 4)) }).weight, 10);
    assert.equal(pkd({ student: gfl, teacher: new Frozen(frcnn({}, 3)), weight: 2 }).weight, 2);

    const cfgParts = (c: typeof FGD_ONE_STAGE) => ({
      fg: c.alphaFgd,
      bg: c.betaFgd,
      at: c.gammaFgd,
      global: c.lambdaFgd,
    });
    const two = fgd({ student: rcnn, teacher: new Frozen(frcnn({}, 3)) });
    assert.deepEqual(two.parts, cfgParts(FGD_TWO_STAGE));
    assert.equal(two.modules.length, 4, 'one FgdLevel per level P2..P5, not on the max-pooled P6');
    const given = fgd({
      student: rcnn,
      teacher: new Frozen(frcnn({}, 3)),
      config: FGD_ONE_STAGE,
      levels: [4],
    });
    assert.deepEqual(given.parts, cfgParts(FGD_ONE_STAGE));
    assert.equal(given.modules.length, 1);
    // A two-stage student with a dense teacher (P3..P5): of P2..P5 the shared P3, P4, P5.
    assert.equal(fgd({ student: rcnn, teacher: new Frozen(dense({}, 4)) }).modules.length, 3);
    const one = fgd({ student: gfl, teacher: new Frozen(frcnn({}, 3)) });
    assert.deepEqual(one.parts, cfgParts(FGD_ONE_STAGE));
    assert.equal(one.modules.length, 3);
  }));

function termKeys(l: Record<string, Tensor>, name: string): string[] {
  return Object.keys(l).filter((k) => k === `loss_${name}` || k.startsWith(`loss_${name}_`));
}

test('a two-stage student with a two-stage teacher: PKD, CWD-FPN and FGD steps are finite and reach the neck', () =>
  tidy(() => {
    const b = batch();
    const makers: [
      string,
      (p: { student: TwoStageDetector; teacher: Frozen<TwoStageDetector> }) => AnyTerm,
      string[],
    ][] = [
      ['pkd', pkd, ['loss_pkd']],
      ['cwd_fpn', cwdFpn, ['loss_cwd_fpn']],
      ['fgd', fgd, ['loss_fgd_at', 'loss_fgd_bg', 'loss_fgd_fg', 'loss_fgd_global']],
    ];
    for (const [name, make, keys] of makers) {
      const student = frcnn({}, 1);
      const teacher = new Frozen(frcnn({ channels: 32 }, 2));
      const d = new Distiller({ student, teacher, terms: [make({ student, teacher })] });
      const l = d.losses(b, ctx0);
      assert.deepEqual(Object.keys(l).sort(), [...TWO_STAGE_LOSSES, ...keys].sort(), name);
      for (const [k, v] of Object.entries(l))
        assert.ok(Number.isFinite(v.item()), `${name}: ${k} = ${v.item()}`);
      const own = termKeys(l, name);
      assert.ok(
        own.some((k) => l[k]!.item() > 0),
        `${name}: the term is positive`,
      );
      let total = l[own[0]!]!;
      for (const k of own.slice(1)) total = total.add(l[k]!);
      total.backward();
      const neck = student.namedParameters().filter(([k]) => k.startsWith('neck.'));
      assert.ok(neck.length > 0);
      const g = neck.reduce((acc, [, t]) => acc + (t.grad === null ? 0 : t.grad.abs().sum().item()), 0);
      assert.ok(g > 0, `${name}: the term alone gives the student's neck a gradient (${g})`);
      d.dispose();
    }
  }));

test('heterogeneous pairs: a Faster R-CNN teacher into a GFL student and a GFL teacher into a Faster R-CNN student, by hand', () =>
  tidy(() => {
    const b = batch();
    // Faster R-CNN (P2..P6) -> GFL (P3..P5), same widths (no adapter): PKD, FGD and CWD-FPN.
    {
      const student = dense({}, 1);
      const teacher = new Frozen(frcnn({}, 2));
      const p = { student, teacher };
      const f = fgd(p);
      const d = new Distiller({ student, teacher, terms: [pkd(p), f, cwdFpn(p)] });
      const l = d.losses(b, ctx0);
      for (const [k, v] of Object.entries(l)) assert.ok(Number.isFinite(v.item()), `${k} = ${v.item()}`);

      const sf = student.forward(b.images, b.metas);
      const tf = teacher.run((t) => t.forward(b.images, b.metas, 'test'));
      const ctx = { teacher: tf } as unknown as DistillContext;
      const s = fpn([0, 1, 2])(sf, ctx);
      const t = fpn([1, 2, 3])(tf, ctx);
      let want = pkdLoss(s[0]!, t[0]!);
      for (let i = 1; i < 3; i++) want = want.add(pkdLoss(s[i]!, t[i]!));
      assert.equal(l.loss_pkd!.item(), want.mul(6).item(), 'PKD on (P3, P4, P5) of both, weight 6');
      // Not what index pairing (student P3 against teacher P2, resized) gives.
      const ti = fpn([0, 1, 2])(tf, ctx);
      let byIndex = pkdLoss(s[0]!, ti[0]!);
      for (let i = 1; i < 3; i++) byIndex = byIndex.add(pkdLoss(s[i]!, ti[i]!));
      assert.ok(Math.abs(byIndex.mul(6).item() - l.loss_pkd!.item()) > 1e-4 * l.loss_pkd!.item());

      const gts = DenseDetector.gts(b);
      const pad: [number, number] = [S, S];
      const mods = f.modules as FgdLevel[];
      assert.equal(mods.length, 3);
      const parts: Record<string, number> = { fg: 0, bg: 0, at: 0, global: 0 };
      for (let i = 0; i < 3; i++) {
        const masks = fgdMasks(
          gts.map((g) => g.boxes),
          [pad, pad],
          pad,
          [t[i]!.size(2), t[i]!.size(3)],
        );
        const u = mods[i]!.unweightedLoss(s[i]!, t[i]!, masks);
        for (const k of Object.keys(parts)) parts[k]! += u[k as keyof typeof u].item();
      }
      const w = {
        fg: FGD_ONE_STAGE.alphaFgd,
        bg: FGD_ONE_STAGE.betaFgd,
        at: FGD_ONE_STAGE.gammaFgd,
        global: FGD_ONE_STAGE.lambdaFgd,
      };
      for (const [k, wk] of Object.entries(w)) {
        const got = l[`loss_fgd_${k}`]!.item();
        if (k !== 'global') assert.ok(got > 0, `fgd ${k} positive`);
        assert.ok(
          Math.abs(got - parts[k]! * wk) <= 1e-5 * Math.abs(got),
          `fgd ${k}: ${got} vs ${parts[k]! * wk}`,
        );
      }
      assert.ok(l.loss_cwd_fpn!.item() > 0);
      d.dispose();
    }
    // GFL (P3..P5, 32 channels) -> Faster R-CNN (P2..P6, 16 channels): PKD through the adapter.
    {
      const student = frcnn({}, 3);
      const teacher = new Frozen(dense({ channels: 32 }, 4));
      const term = pkd({ student, teacher });
      assert.equal(term.weight, 10);
      const d = new Distiller({ student, teacher, terms: [term] });
      const l = d.losses(b, ctx0);
      assert.deepEqual(Object.keys(l).sort(), [...TWO_STAGE_LOSSES, 'loss_pkd'].sort());
      const sf = student.forward(b.images, b.metas, 'train');
      const tf = teacher.run((t) => t.forward(b.images, b.metas));
      const ctx = {} as DistillContext;
      const s = fpn([1, 2, 3])(sf, ctx);
      const t = fpn([0, 1, 2])(tf, ctx);
      assert.equal(term.modules.length, 1, 'the 1x1 adapter (16 -> 32 channels)');
      const convs = term.modules[0]!.children() as Conv2d[];
      assert.equal(convs.length, 3, 'one 1x1 conv per paired level');
      assert.deepEqual(convs[0]!.weight.shape, [32, 16, 1, 1]);
      let want = pkdLoss(convs[0]!.forward(s[0]!), t[0]!);
      for (let i = 1; i < 3; i++) want = want.add(pkdLoss(convs[i]!.forward(s[i]!), t[i]!));
      assert.equal(l.loss_pkd!.item(), want.mul(10).item(), 'PKD on (P3, P4, P5) of both, weight 10');
      for (const v of Object.values(l)) assert.ok(Number.isFinite(v.item()));
      d.dispose();
    }
  }));

test('dense-only terms refuse a two-stage side naming the term and the side', () =>
  tidy(() => {
    const gfl = dense({}, 1);
    const rcnn = frcnn({}, 2);
    const twoStageTeacher = { student: gfl, teacher: new Frozen(frcnn({}, 3)) };
    const twoStageStudent = { student: rcnn, teacher: new Frozen(dense({}, 4)) };
    const makers: [string, (p: typeof twoStageTeacher) => unknown][] = [
      ['ld', ld],
      ['kd', kd],
      ['cwd_cls', cwdCls],
      ['lad', ladAssignment],
    ];
    for (const [name, make] of makers) {
      detkdError(
        () => make(twoStageTeacher),
        `distill term '${name}'`,
        'dense',
        'teacher; this teacher is two-stage',
      );
      detkdError(
        () => make(twoStageStudent as unknown as typeof twoStageTeacher),
        `distill term '${name}'`,
        'student; this student is two-stage',
      );
    }
    // A custom term declares no kinds: dense only, and the Distiller refuses a two-stage student.
    const probe = defineTerm<Tensor, Tensor>({
      name: 'probe',
      student: (f) => f.head.clsScores[0]!,
      teacher: (f) => f.head.clsScores[0]!,
      weight: 1,
      loss: (s) => s.sum(),
    });
    detkdError(
      () => new Distiller({ ...twoStageStudent, terms: [probe] }),
      "distill term 'probe'",
      'student; this student is two-stage',
    );
  }));

test('inherit between two Faster R-CNNs copies neck, RPN head and box head; a dense/two-stage pair is refused', () =>
  tidy(() => {
    const student = frcnn({ backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' } }, 1);
    const raw = frcnn({}, 2); // twice the backbone width: the FPN laterals' inputs differ
    // ResNet-34 has ResNet-18's stage widths: the same neck and head shapes.
    const same = frcnn({ backbone: { depth: 34, widthMultiplier: 0.25, norm: 'gn' } }, 3);
    const base = frcnn({}, 4);
    detkdError(() => inheritNeckAndHead(student, new Frozen(raw)), 'do not fit the student');

    const teacher = new Frozen(same);
    const sd0 = base.stateDict();
    const keys = [...sd0.keys()];
    const count = (prefix: string) => keys.filter((k) => k.startsWith(prefix)).length;
    const [nNeck, nRpn, nBox] = [count('neck.'), count('rpn_head.'), count('bbox_head.')];
    assert.ok(nNeck > 0 && nRpn > 0 && nBox > 0);
    const bb = sd0.get('backbone.conv1.weight')!.clone();
    const n = inheritNeckAndHead(base, teacher);
    assert.equal(n, nNeck + nRpn + nBox);
    const sd = base.stateDict();
    const td = same.stateDict();
    for (const k of keys.filter((k) => /^(neck|rpn_head|bbox_head)\./.test(k))) {
      assert.equal(maxDiff(sd.get(k)!, td.get(k)!), 0, k);
    }
    assert.equal(maxDiff(sd.get('backbone.conv1.weight')!, bb), 0, 'the backbone is not copied');

    const gfl = dense({}, 5);
    const gflBefore = gfl.stateDict().get('neck.lateral_convs.0.conv.weight')!.clone();
    detkdError(() => inheritNeckAndHead(gfl, teacher), 'inherit', 'teacher is two-stage', 'student dense');
    detkdError(
      () => inheritNeckAndHead(base, new Frozen(dense({}, 6))),
      'teacher is dense',
      'student two-stage',
    );
    assert.equal(maxDiff(gfl.stateDict().get('neck.lateral_convs.0.conv.weight')!, gflBefore), 0);
  }));
