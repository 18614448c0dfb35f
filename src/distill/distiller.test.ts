// The Distiller's contract: the teacher is frozen by type (no parameters reach the optimizer or
// the state dict, eval-mode norms whatever train() is called, no gradients), terms are weighted
// and scheduled, output-level methods refuse mismatched prior layouts, inherit is all-or-nothing,
// teacher and student may normalise differently, LAD hands the teacher's assignment to the
// student, and with a teacher equal to the student every distillation loss vanishes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DetkdError } from '../core/errors.ts';
import { manualSeed } from '../core/random.ts';
import { keep, rand, type Tensor, tensor, tidy } from '../core/tensor.ts';
import { DenseDetector } from '../detection/detector.ts';
import { flattenLevels } from '../detection/heads/losses.ts';
import { buildDetector } from '../detection/models/build.ts';
import type { DenseDetectorConfig as DetectorConfig } from '../detection/models/config.ts';
import type { Batch } from '../structures/tensor-batch.ts';
import { Distiller, inheritNeckAndHead } from './distiller.ts';
import { Frozen } from './frozen.ts';
import { ladAssign } from './lad.ts';
import { cwdCls, cwdFpn, fgd, pkd } from './methods/features.ts';
import { kd } from './methods/kd.ts';
import { ladAssignment } from './methods/lad.ts';
import { ld } from './methods/ld.ts';
import { defineTerm, describeTerm, scheduleFactor } from './term.ts';

const C = 3;

function cfg(o: Partial<DetectorConfig> & { width?: number; norm?: 'gn' | 'bn' } = {}): DetectorConfig {
  return {
    kind: 'gfl',
    numClasses: C,
    backbone: { depth: 18, widthMultiplier: o.width ?? 0.125, norm: o.norm ?? 'gn' },
    channels: 16,
    numLevels: 3,
    stackedConvs: 1,
    ...o,
  };
}

function det(o: Parameters<typeof cfg>[0] = {}, seed = 1): DenseDetector {
  manualSeed(seed);
  return buildDetector(cfg(o));
}

/** Two 64x64 images; the second has no boxes when `empty`, one box when `one`. */
function batch(o: { empty?: boolean; one?: boolean } = {}): Batch {
  manualSeed(7);
  const meta = (id: number) => ({
    imageId: id,
    fileName: `img${id}.png`,
    oriShape: [64, 64] as [number, number],
    imgShape: [64, 64] as [number, number],
    padShape: [64, 64] as [number, number],
    scaleFactor: [1, 1] as [number, number],
    flipped: false,
  });
  const b0 = o.one
    ? [[8, 8, 40, 36]]
    : [
        [8, 8, 40, 36],
        [30, 20, 60, 50],
        [2, 40, 20, 62],
      ];
  const b1 = o.empty ? [] : [[10, 12, 50, 44]];
  const boxes = (bs: number[][]) => (bs.length === 0 ? tensor([], { shape: [0, 4] }) : tensor(bs));
  const labels = (bs: number[][]) =>
    tensor(
      bs.map((_, i) => i % C),
      { dtype: 'int64', shape: [bs.length] },
    );
  return {
    images: rand([2, 3, 64, 64]).mul(255),
    metas: [meta(1), meta(2)],
    gtBoxes: [boxes(b0), boxes(b1)],
    gtLabels: [labels(b0), labels(b1)],
    ignoreBoxes: [tensor([], { shape: [0, 4] }), tensor([], { shape: [0, 4] })],
  };
}

const ctx0 = { epoch: 0, step: 0, iter: 0 };

function values(l: Record<string, Tensor>): Record<string, number> {
  return Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.item()]));
}

test('the teacher is frozen by type: not in parameters or state dict, eval mode, no gradients, BN stats untouched', () =>
  tidy(() => {
    const student = det({ norm: 'bn' }, 1);
    const teacherModel = det({ norm: 'bn', width: 0.25, channels: 32 }, 2);
    const tParams = new Set(teacherModel.parameters());
    const rm = teacherModel.stateDict().get('backbone.bn1.running_mean')!.clone();
    const teacher = new Frozen(teacherModel);
    const p = { student, teacher };
    const d = new Distiller({ student, teacher, terms: [ld(p), kd(p), pkd(p)] });
    d.train();
    assert.equal(
      d.parameters().some((t) => tParams.has(t)),
      false,
      'no teacher parameter among the distiller parameters',
    );
    assert.ok([...d.stateDict().keys()].every((k) => k.startsWith('student.') || k.startsWith('distill.')));
    assert.ok(
      [...d.stateDict().keys()].some((k) => k.startsWith('distill.')),
      'the PKD adapter is saved',
    );
    assert.equal(
      teacher.peek((t) => t.training),
      false,
    );
    const l = d.losses(batch(), ctx0);
    assert.deepEqual(Object.keys(l).sort(), [
      'loss_bbox',
      'loss_cls',
      'loss_dfl',
      'loss_kd',
      'loss_ld_main',
      'loss_ld_vlr',
      'loss_pkd',
    ]);
    let total = l.loss_cls!;
    for (const [k, v] of Object.entries(l)) if (k !== 'loss_cls') total = total.add(v);
    total.backward();
    assert.ok(
      d.trainableParameters().every((t) => t.grad !== null),
      'every student and adapter parameter gets a gradient',
    );
    assert.ok(
      [...tParams].every((t) => t.grad === null && !t.requiresGrad),
      'no teacher parameter requires or gets a gradient',
    );
    // The teacher ran in eval mode: its BN running statistics did not move.
    const rm2 = teacher.peek((t) => t.stateDict().get('backbone.bn1.running_mean')!);
    assert.equal(rm2.sub(rm).abs().max().item(), 0);
    // train() on the distiller (as the trainer does) never reaches the teacher.
    d.train();
    assert.equal(
      teacher.peek((t) => t.training),
      false,
    );
    d.dispose();
  }));

test('term weights scale the loss; schedules switch a term on, ramp it and switch it off', () =>
  tidy(() => {
    const student = det({}, 1);
    const teacher = new Frozen(det({ width: 0.25 }, 2));
    const p = { student, teacher };
    const b = batch();
    const one = values(new Distiller({ student, teacher, terms: [kd({ ...p, weight: 1 })] }).losses(b, ctx0));
    const three = values(
      new Distiller({ student, teacher, terms: [kd({ ...p, weight: 3 })] }).losses(b, ctx0),
    );
    assert.ok(one.loss_kd! > 0);
    assert.ok(Math.abs(three.loss_kd! - 3 * one.loss_kd!) <= 1e-6 * three.loss_kd!);
    assert.equal(three.loss_cls, one.loss_cls);

    const s = { start: 10, warmupIters: 4, stop: 20 };
    assert.deepEqual(
      [0, 9, 10, 11, 13, 14, 19, 20, 100].map((i) => scheduleFactor(s, i)),
      [0, 0, 0.25, 0.5, 1, 1, 1, 0, 0],
    );
    const d = new Distiller({ student, teacher, terms: [kd({ ...p, weight: 1, schedule: s })] });
    assert.equal(d.losses(b, { ...ctx0, iter: 5 }).loss_kd!.item(), 0);
    const at11 = d.losses(b, { ...ctx0, iter: 11 }).loss_kd!.item();
    assert.ok(Math.abs(at11 - 0.5 * one.loss_kd!) <= 1e-6 * at11);
    assert.equal(d.losses(b, { ...ctx0, iter: 25 }).loss_kd!.item(), 0);
  }));

test('factories refuse unknown options and raw teachers; part weights sit on the term and the Distiller applies them', () =>
  tidy(() => {
    const student = det({}, 1);
    const raw = det({ width: 0.25 }, 2);
    const teacher = new Frozen(raw);
    const p = { student, teacher };
    const refused = (fn: () => unknown, message: string) =>
      assert.throws(fn, (e: unknown) => e instanceof DetkdError && e.message === message);
    refused(
      () => ld({ ...p, vlrWeigth: 0 } as Parameters<typeof ld>[0]),
      "ld(): unknown key 'vlrWeigth' (did you mean 'vlrWeight'?)",
    );
    refused(
      () => fgd({ ...p, teacher: raw } as unknown as Parameters<typeof fgd>[0]),
      "fgd(): 'teacher': must be the frozen teacher (the pair's teacher; wrap a detector in new Frozen(model))",
    );
    refused(() => pkd({ ...p, levels: [0, 1.5] }), "pkd(): 'levels[1]' must be int, got a number (1.5)");

    const l = ld(p);
    assert.deepEqual(l.parts, { main: 0.25, vlr: 0.25 });
    assert.equal(describeTerm(l), 'ld (main x0.25, vlr x0.25)');
    assert.equal(describeTerm(kd(p)), 'kd x10');
    const f = fgd(p);
    assert.deepEqual(f.parts, { fg: 1e-3, bg: 5e-4, at: 5e-4, global: 5e-6 });
    for (const m of f.modules) m.dispose();

    const b = batch();
    const base = values(new Distiller({ student, teacher, terms: [l] }).losses(b, ctx0));
    const heavier = values(
      new Distiller({ student, teacher, terms: [ld({ ...p, weight: 0.5, vlrWeight: 0 })] }).losses(b, ctx0),
    );
    assert.ok(base.loss_ld_main! > 0 && base.loss_ld_vlr! > 0);
    // Doubling a weight is exact in floating point: the Distiller multiplies by the part weight.
    assert.equal(heavier.loss_ld_main, 2 * base.loss_ld_main!);
    assert.equal(heavier.loss_ld_vlr, 0);
    // Switched off by its schedule, a term logs each of its parts as 0.
    const off = new Distiller({ student, teacher, terms: [ld({ ...p, schedule: { start: 5 } })] });
    const z = values(off.losses(b, ctx0));
    assert.deepEqual([z.loss_ld_main, z.loss_ld_vlr, 'loss_ld' in z], [0, 0, false]);
  }));

test('output-level methods refuse different prior layouts; feature methods work across detector families', () =>
  tidy(() => {
    const student = det({}, 1);
    const fcos = new Frozen(det({ kind: 'fcos', channels: 32 }, 2));
    for (const make of [kd, ld, cwdCls]) {
      assert.throws(
        () => make({ student, teacher: fcos }),
        (e: unknown) => e instanceof DetkdError && /identical prior layouts/.test(e.message),
      );
    }
    assert.throws(
      () => ladAssignment({ student, teacher: fcos }),
      (e: unknown) => e instanceof DetkdError && /identical prior layouts/.test(e.message),
    );
    // PKD from an FCOS teacher (32 channels) into a GFL student (16): through a 1x1 adapter.
    const p = { student, teacher: fcos };
    const d = new Distiller({ student, teacher: fcos, terms: [pkd(p), cwdFpn(p)] });
    const l = d.losses(batch(), ctx0);
    assert.ok(Number.isFinite(l.loss_pkd!.item()) && l.loss_pkd!.item() > 0);
    l.loss_pkd!.add(l.loss_cwd_fpn!).backward();
    const adapter = d.namedParameters().filter(([k]) => k.startsWith('distill.'));
    assert.equal(adapter.length, 2 * 2 * 3, 'two terms x three levels x (weight, bias)');
    assert.ok(adapter.every(([, t]) => t.grad !== null && t.grad.abs().sum().item() > 0));
  }));

test('inherit copies the neck and head when every shape matches, and copies nothing otherwise', () =>
  tidy(() => {
    const student = det({ width: 0.125 }, 1);
    const raw = det({ backbone: { depth: 34, widthMultiplier: 0.125, norm: 'gn' } }, 2); // deeper backbone, same neck/head shapes
    const teacher = new Frozen(raw);
    const n = inheritNeckAndHead(student, teacher);
    const sd = student.stateDict();
    const td = raw.stateDict();
    const copied = [...sd.keys()].filter((k) => k.startsWith('neck.') || k.startsWith('bbox_head.'));
    assert.equal(n, copied.length);
    for (const k of copied) assert.equal(sd.get(k)!.sub(td.get(k)!).abs().max().item(), 0, k);
    assert.ok(
      sd.get('backbone.conv1.weight')!.sub(td.get('backbone.conv1.weight')!).abs().max().item() > 0,
      'the backbone is not copied',
    );

    const narrow = det({ channels: 8 }, 3);
    const before = narrow.stateDict().get('bbox_head.gfl_cls.weight')!.clone();
    assert.throws(
      () => inheritNeckAndHead(narrow, teacher),
      (e: unknown) =>
        e instanceof DetkdError &&
        /do not fit the student/.test(e.message) &&
        e.message.includes(
          "'neck.lateral_convs.0.conv.weight' teacher [16, 16, 1, 1] vs student [8, 16, 1, 1]",
        ),
    );
    const after = narrow.stateDict().get('bbox_head.gfl_cls.weight')!;
    assert.equal(after.sub(before).abs().max().item(), 0, 'nothing was copied');
  }));

test('teacher and student normalise the raw batch each with their own mean and std', () =>
  tidy(() => {
    const student = det({}, 1);
    const teacher = new Frozen(det({ normalize: { mean: [0, 0, 0], std: [255, 255, 255] } }, 2));
    const seen: Tensor[] = [];
    const probe = defineTerm<Tensor, Tensor>({
      name: 'probe',
      student: (f) => f.input,
      teacher: (f) => f.input,
      weight: 1,
      loss: (s, t) => {
        seen.push(keep(s), keep(t));
        return s.sum().mul(0);
      },
    });
    const b = batch();
    new Distiller({ student, teacher, terms: [probe] }).losses(b, ctx0);
    const mean = tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1);
    const std = tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1);
    assert.ok(seen[0]!.sub(b.images.sub(mean).div(std)).abs().max().item() < 1e-5);
    assert.ok(seen[1]!.sub(b.images.div(255)).abs().max().item() < 1e-6);
  }));

test('LAD: the student trains on the PAA assignment made from the teacher outputs', () =>
  tidy(() => {
    const student = det({}, 1);
    const teacher = new Frozen(det({ width: 0.25 }, 2));
    const assign = ladAssignment({ student, teacher });
    const b = batch();
    const gts = DenseDetector.gts(b);
    const tf = teacher.run((t) => t.forward(b.images, b.metas));
    const sf = student.forward(b.images, b.metas);
    const got = assign(tf, gts, sf).assignments;
    // The same from first principles: the teacher's outputs flattened over levels, its boxes
    // decoded, and ladAssign per image.
    const cls = flattenLevels(tf.head.clsScores, C);
    const reg = flattenLevels(tf.head.bboxPreds, tf.head.bboxPreds[0]!.size(1));
    for (let i = 0; i < 2; i++) {
      const boxes = teacher.peek((t) => t.decode(tf.priors.boxes, reg.select(0, i)));
      const want = ladAssign(tf.priors, cls.select(0, i), boxes, gts[i]!, C);
      assert.deepEqual(got[i]!.gtIndex.toArray(), want.gtIndex.toArray());
      assert.deepEqual(got[i]!.labels.toArray(), want.labels.toArray());
    }
    assert.ok(got[0]!.labels.lt(C).sum().item() > 0, 'the teacher assignment has positives');
    // The student's head losses get this assignment, not its own ATSS one.
    const d = new Distiller({ student, teacher, terms: [], assignment: assign });
    const viaLad = values(d.losses(b, ctx0));
    const own = values(new Distiller({ student, teacher, terms: [] }).losses(b, ctx0));
    const byHand = values(student.headLosses(sf, gts, { assignments: got }));
    assert.deepEqual(viaLad, byHand);
    assert.notDeepEqual(viaLad, own);
  }));

test('with the teacher equal to the student, every distillation loss vanishes', () =>
  tidy(() => {
    const student = det({}, 1);
    const twin = det({}, 1); // same seed: same weights
    const teacher = new Frozen(twin);
    const p = { student, teacher };
    student.eval(); // GN only, but eval keeps the two passes identical in any case
    const d = new Distiller({
      student,
      teacher,
      terms: [kd(p), ld(p), pkd(p), cwdFpn(p), cwdCls(p), fgd(p)],
    });
    d.eval();
    const l = values(d.losses(batch(), ctx0));
    assert.ok(Math.abs(l.loss_kd!) < 1e-5, `kd ${l.loss_kd}`);
    assert.ok(Math.abs(l.loss_ld_main!) < 1e-5, `ld_main ${l.loss_ld_main}`);
    assert.ok(Math.abs(l.loss_ld_vlr!) < 1e-5, `ld_vlr ${l.loss_ld_vlr}`);
    assert.ok(Math.abs(l.loss_pkd!) < 1e-5, `pkd ${l.loss_pkd}`);
    assert.ok(Math.abs(l.loss_cwd_fpn!) < 1e-5, `cwd fpn ${l.loss_cwd_fpn}`);
    assert.ok(Math.abs(l.loss_cwd_cls!) < 1e-5, `cwd cls ${l.loss_cwd_cls}`);
    assert.ok(Math.abs(l.loss_fgd_fg!) < 1e-5, `fgd_fg ${l.loss_fgd_fg}`);
    assert.ok(Math.abs(l.loss_fgd_bg!) < 1e-5, `fgd_bg ${l.loss_fgd_bg}`);
    assert.ok(Math.abs(l.loss_fgd_at!) < 1e-5, `fgd_at ${l.loss_fgd_at}`);
  }));

test('no ground truth in the batch and a single box: every term stays finite', () =>
  tidy(() => {
    const student = det({}, 1);
    const teacher = new Frozen(det({ width: 0.25 }, 2));
    const p = { student, teacher };
    const d = new Distiller({
      student,
      teacher,
      terms: [kd(p), ld(p), pkd(p), cwdFpn(p), cwdCls(p), fgd(p)],
    });
    for (const b of [batch({ empty: true }), batch({ one: true, empty: true })]) {
      const l = d.losses(b, ctx0);
      for (const [k, v] of Object.entries(l)) assert.ok(Number.isFinite(v.item()), `${k} = ${v.item()}`);
    }
    const none = batch({ empty: true });
    none.gtBoxes[0] = tensor([], { shape: [0, 4] });
    none.gtLabels[0] = tensor([], { dtype: 'int64', shape: [0] });
    const l = values(d.losses(none, ctx0));
    assert.equal(l.loss_kd, 0, 'no positives: no KD');
    assert.equal(l.loss_ld_main, 0, 'no positives: no main LD');
    assert.equal(l.loss_ld_vlr, 0, 'no GT: no VLR');
    assert.ok(l.loss_pkd! > 0, 'feature imitation does not need boxes');
  }));
