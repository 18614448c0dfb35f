// LD against scripts/fixtures/distill_logit_oracle.py (HikariTJU/LD LDHead.loss_single's Main LD,
// VLR LD and Main KD, plus the dense-KD variant, re-stated in PyTorch 1.13, one thread): each term
// and its gradients w.r.t. the student's cls and reg logits bit-exact. Then properties: no
// positives, empty VLR, teacher == student, one box by hand, the teacher gets no gradient.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { manualSeed } from '../../core/random.ts';
import { full, ones, randn, type Tensor, tensor, tidy, zeros } from '../../core/tensor.ts';
import { klDivRows } from './kd.ts';
import { type LdLevelInputs, ldLevelLosses } from './ld.ts';

native.setNumThreads(1);
manualSeed(11);

const oracle = loadOracle('distill-logit');
const { get } = oracle;
interface LdCase {
  kind: string;
  num_classes: number;
  reg_max: number;
  dense: boolean;
  ld_tau: number;
  kd_tau: number;
}
const cases = oracle.cases<LdCase>();

const TERMS = ['ld', 'vlr', 'kd'] as const;

for (const [name, c] of Object.entries(cases)) {
  if (c.kind !== 'ld') continue;
  for (const term of TERMS) {
    test(`ldLevelLosses.${term} matches HikariTJU LDHead.loss_single (value, grads, 0 ULP): ${name}`, () =>
      tidy(() => {
        const studentCls = get(`${name}/student_cls`).clone().requiresGrad_(true);
        const studentReg = get(`${name}/student_reg`).clone().requiresGrad_(true);
        const out = ldLevelLosses(
          {
            studentCls,
            studentReg,
            teacherCls: get(`${name}/teacher_cls`),
            teacherReg: get(`${name}/teacher_reg`),
            labels: get(`${name}/labels`),
            labelWeights: get(`${name}/label_weights`),
            vlrWeight: get(`${name}/vlr_weight`),
          },
          {
            numClasses: c.num_classes,
            regMax: c.reg_max,
            ldTau: c.ld_tau,
            kdTau: c.kd_tau,
            denseKd: c.dense,
          },
        )[term];
        assertBits(out, get(`${name}/out/${term}`), 'value');
        out.backward();
        assertBits(studentCls.grad ?? zeros(studentCls.shape), get(`${name}/grad/${term}/cls`), 'd/dcls');
        assertBits(studentReg.grad ?? zeros(studentReg.shape), get(`${name}/grad/${term}/reg`), 'd/dreg');
      }));
  }
}

// ------------------------------------------------------------------------------ properties

const C = 3;
const REG_MAX = 7;
const R = REG_MAX + 1;

function inputs(M: number, labels: number[], vlr: number[], o: { same?: boolean } = {}): LdLevelInputs {
  const studentCls = randn([M, C]).requiresGrad_(true);
  const studentReg = randn([M, 4 * R])
    .mul(2)
    .requiresGrad_(true);
  return {
    studentCls,
    studentReg,
    teacherCls: o.same ? studentCls.detach().clone() : randn([M, C]),
    teacherReg: o.same ? studentReg.detach().clone() : randn([M, 4 * R]).mul(3),
    labels: tensor(labels, { dtype: 'int64' }),
    labelWeights: ones([M]),
    vlrWeight: tensor(vlr),
  };
}

test('no positives and an empty VLR: every term is exactly 0 with finite zero gradients', () =>
  tidy(() => {
    for (const denseKd of [false, true]) {
      const x = inputs(5, [C, C, C, C, C], [0, 0, 0, 0, 0]);
      if (denseKd) x.labelWeights = zeros([5]); // nothing to distil densely either
      const { ld, vlr, kd } = ldLevelLosses(x, { numClasses: C, regMax: REG_MAX, denseKd });
      for (const [n, l] of Object.entries({ ld, vlr, kd }))
        assert.ok(Object.is(l.item(), 0), `${n} = ${l.item()}`);
      ld.add(vlr).add(kd).backward();
      for (const g of [x.studentCls.grad, x.studentReg.grad]) {
        if (g === null) continue; // no path at all is a valid zero gradient too
        assert.ok(g.isfinite().all().item());
        assert.equal(g.abs().sum().item(), 0);
      }
    }
    // An empty level (M = 0) is fine as well.
    const e = ldLevelLosses(inputs(0, [], []), { numClasses: C, regMax: REG_MAX });
    assert.equal(e.ld.item() + e.vlr.item() + e.kd.item(), 0);
  }));

test('no positives but a VLR: LD and KD are 0, VLR is not (VLR needs no positive)', () =>
  tidy(() => {
    const { ld, vlr, kd } = ldLevelLosses(inputs(4, [C, C, C, C], [0, 0.3, 0, 0.5]), {
      numClasses: C,
      regMax: REG_MAX,
    });
    assert.equal(ld.item(), 0);
    assert.equal(kd.item(), 0);
    assert.ok(vlr.item() > 0);
  }));

test('teacher == student: LD, VLR and KD are 0 (to float rounding)', () =>
  tidy(() => {
    const x = inputs(6, [0, C, 2, C, 1, C], [0.4, 0.2, 0, 0.7, 0, 0], { same: true });
    const l = ldLevelLosses(x, { numClasses: C, regMax: REG_MAX, ldTau: 10, kdTau: 2 });
    for (const v of [l.ld, l.vlr, l.kd]) assert.ok(Math.abs(v.item()) < 1e-6, `${v.item()}`);
  }));

test('one box: the terms equal their formulas written out by hand', () =>
  tidy(() => {
    // Prior 1 is the only positive (class 2) and also in the VLR with IoU 0.35; prior 0 only in VLR.
    const x = inputs(3, [C, 2, C], [0.6, 0.35, 0]);
    const { ld, vlr, kd } = ldLevelLosses(x, { numClasses: C, regMax: REG_MAX, ldTau: 10, kdTau: 2 });
    const edges = (i: number, t: Tensor): Tensor => t.select(0, i).reshape(4, R);
    const edgeKl = (i: number): number =>
      klDivRows(edges(i, x.studentReg), edges(i, x.teacherReg), 10).sum().item();
    const w = x.studentCls.select(0, 1).sigmoid().max().item();
    const eps = 2 ** -23;
    close(ld.item(), (w * edgeKl(1)) / (4 + eps));
    close(vlr.item(), (0.6 * edgeKl(0) + 0.35 * edgeKl(1)) / (16 + eps));
    const kdRow = klDivRows(x.studentCls.slice(0, 1, 2), x.teacherCls.slice(0, 1, 2), 2).item();
    close(kd.item(), kdRow / (1 + eps));
  }));

test('ignored priors: label weight 0 removes a positive from KD but not from LD; denseKd counts weight > 0', () =>
  tidy(() => {
    const x = inputs(4, [0, 1, C, C], [0, 0, 0, 0]);
    x.labelWeights = tensor([1, 0, 1, 0]);
    const cfg = { numClasses: C, regMax: REG_MAX };
    const kdRow = (i: number): number =>
      klDivRows(x.studentCls.slice(0, i, i + 1), x.teacherCls.slice(0, i, i + 1), 2).item();
    const eps = 2 ** -23;
    // Main KD: weight 1·row0 + 0·row1, divided by #pos = 2 (mmdet counts positives, not weights).
    close(ldLevelLosses(x, cfg).kd.item(), kdRow(0) / (2 + eps));
    // Dense KD: priors 0 and 2 (weight > 0), divided by 2.
    close(ldLevelLosses(x, { ...cfg, denseKd: true }).kd.item(), (kdRow(0) + kdRow(2)) / (2 + eps));
    const w0 = x.studentCls.select(0, 0).sigmoid().max().item();
    const w1 = x.studentCls.select(0, 1).sigmoid().max().item();
    assert.ok(w0 > 0 && w1 > 0);
    assert.ok(ldLevelLosses(x, cfg).ld.item() > 0);
  }));

test('teacher tensors get no gradient; the LD weight is detached', () =>
  tidy(() => {
    const x = inputs(3, [1, C, 0], [0.5, 0, 0]);
    const tc = x.teacherCls.clone().requiresGrad_(true);
    const tr = x.teacherReg.clone().requiresGrad_(true);
    const { ld, vlr, kd } = ldLevelLosses(
      { ...x, teacherCls: tc, teacherReg: tr },
      { numClasses: C, regMax: REG_MAX },
    );
    ld.backward();
    // LD's weight max σ(cls) is detached: no cls gradient from LD.
    assert.equal(x.studentCls.grad, null);
    vlr.add(kd).backward();
    assert.equal(tc.grad, null);
    assert.equal(tr.grad, null);
    assert.ok(x.studentCls.grad!.abs().sum().item() > 0);
  }));

test('shape errors are reported', () =>
  tidy(() => {
    const x = inputs(2, [0, C], [0, 0]);
    assert.throws(
      () => ldLevelLosses({ ...x, studentReg: zeros([2, 4 * R + 1]) }, { numClasses: C, regMax: REG_MAX }),
      /studentReg/,
    );
    assert.throws(
      () => ldLevelLosses({ ...x, vlrWeight: full([3], 0) }, { numClasses: C, regMax: REG_MAX }),
      /vlrWeight/,
    );
  }));

function close(a: number, e: number): void {
  assert.ok(Math.abs(a - e) <= 2e-6 * Math.abs(e) + 1e-9, `${a} vs ${e}`);
}
