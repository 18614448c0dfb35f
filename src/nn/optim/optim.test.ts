// Optimizers, clipping and lr schedules against PyTorch 1.13 (scripts/fixtures/nn_oracle.py),
// at one intra-op thread. Trajectories and clipping are compared bit for bit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, loadOracle, type NnOracleJson, readJsonFixture } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { dispose, keep, memoryInfo, noGrad, type Tensor, tidy } from '../../core/tensor.ts';
import { libmPow } from '../libm.ts';
import { AdamW } from './adamw.ts';
import { clipGradNorm } from './clip-grad.ts';
import { LrScheduler, lrAt } from './lr-schedule.ts';
import type { BaseHyper, Optimizer } from './optimizer.ts';
import { SGD } from './sgd.ts';

const oracle = loadOracle('nn');
const oracleJson = readJsonFixture<NnOracleJson>('nn/oracle.json');

native.setNumThreads(1);

const NP = 4;
const STEPS = 5;

function freshParams(): Tensor[] {
  return Array.from({ length: NP }, (_, i) =>
    keep(noGrad(() => tidy(() => oracle.get(`optim.p0.${i}`).clone())).requiresGrad_(true)),
  );
}

function setGrads(ps: Tensor[], step: number, skip: boolean): void {
  tidy(() => {
    ps.forEach((p, i) => {
      p.grad = skip && step === 2 && i === 1 ? null : oracle.get(`optim.grad.${step}.${i}`).clone();
    });
  });
}

type Build = (ps: Tensor[]) => Optimizer<BaseHyper>;

const CASES: [string, Build, Record<number, number[]>?][] = [
  [
    'sgd_groups',
    (ps) =>
      new SGD(
        [
          { params: ps.slice(0, 2), weightDecay: 1e-4 },
          { params: ps.slice(2), lr: 0.05, dampening: 0.1 },
        ],
        { lr: 0.1, momentum: 0.9 },
      ),
    { 3: [0.05, 0.025] },
  ],
  ['sgd_nesterov', (ps) => new SGD(ps, { lr: 0.02, momentum: 0.9, nesterov: true, weightDecay: 5e-4 })],
  ['sgd_plain', (ps) => new SGD(ps, { lr: 0.1, weightDecay: 1e-3 })],
  ['sgd_skip', (ps) => new SGD(ps, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 })],
  [
    'adamw_groups',
    (ps) =>
      new AdamW([{ params: ps.slice(0, 2) }, { params: ps.slice(2), weightDecay: 0.0, lr: 2e-3 }], {
        lr: 1e-3,
      }),
  ],
  [
    'adamw_amsgrad',
    (ps) => new AdamW(ps, { lr: 3e-3, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.05, amsgrad: true }),
  ],
  ['adamw_skip', (ps) => new AdamW(ps, { lr: 1e-2, weightDecay: 0.1 })],
];

for (const [name, build, lrChanges] of CASES) {
  test(`${name}: ${STEPS}-step trajectory equals PyTorch 1.13 bit for bit`, () => {
    const ps = freshParams();
    const opt = build(ps);
    for (let s = 0; s < STEPS; s++) {
      const change = lrChanges?.[s];
      if (change) for (const [gi, lr] of change.entries()) opt.paramGroups[gi]!.lr = lr;
      setGrads(ps, s, name.endsWith('skip'));
      opt.step();
      ps.forEach((p, i) => {
        assertBits(p, oracle.get(`optim.${name}.step${s}.${i}`), `${name} step ${s} param ${i}`);
      });
    }
    opt.dispose();
    dispose(ps);
  });

  test(`${name}: stateDict after 3 steps resumes into a new optimizer exactly`, () => {
    const ps = freshParams();
    const opt = build(ps);
    for (let s = 0; s < 3; s++) {
      const change = lrChanges?.[s];
      if (change) for (const [gi, lr] of change.entries()) opt.paramGroups[gi]!.lr = lr;
      setGrads(ps, s, name.endsWith('skip'));
      opt.step();
    }
    // Round-trip the JSON part through text, as a checkpoint would.
    const sd = opt.stateDict();
    const meta = JSON.parse(JSON.stringify(sd.meta));
    const opt2 = build(ps);
    opt2.loadStateDict({ tensors: sd.tensors, meta });
    dispose([...sd.tensors.values()]);
    opt.dispose();
    for (let s = 3; s < STEPS; s++) {
      const change = lrChanges?.[s];
      if (change) for (const [gi, lr] of change.entries()) opt2.paramGroups[gi]!.lr = lr;
      setGrads(ps, s, name.endsWith('skip'));
      opt2.step();
    }
    ps.forEach((p, i) => {
      assertBits(p, oracle.get(`optim.${name}.step${STEPS - 1}.${i}`), `${name} resumed param ${i}`);
    });
    opt2.dispose();
    dispose(ps);
  });
}

test('optimizer loadStateDict reports layout and shape problems together', () => {
  const ps = freshParams();
  const a = new SGD(ps, { lr: 0.1, momentum: 0.9 });
  setGrads(ps, 0, false);
  a.step();
  const sd = a.stateDict();
  const b = new SGD([{ params: ps.slice(0, 2) }, { params: ps.slice(2) }], { lr: 0.1, momentum: 0.9 });
  assert.throws(() => b.loadStateDict(sd), /1 param groups in the checkpoint, 2 here/);
  const c = new AdamW(ps, { lr: 1e-3 });
  assert.throws(() => c.loadStateDict(sd), /optimizer kind 'sgd'/);
  const bad = new Map(sd.tensors);
  bad.set(
    'state.0.momentum_buffer',
    tidy(() => oracle.get('optim.p0.1').clone()),
  );
  const d = new SGD(ps, { lr: 0.1, momentum: 0.9 });
  assert.throws(
    () => d.loadStateDict({ tensors: bad, meta: sd.meta }),
    /size mismatch for 'state\.0\.momentum_buffer': checkpoint \[3\], parameter \[4, 3\]/,
  );
  dispose([...sd.tensors.values(), ...bad.values()]);
  a.dispose();
  dispose(ps);
});

const CLIP: [string, number, number][] = [
  ['l2_clip', 1.0, 2],
  ['l2_noclip', 1e4, 2],
  ['inf', 0.5, Number.POSITIVE_INFINITY],
  ['l1', 3.0, 1],
];

for (const [name, maxNorm, normType] of CLIP) {
  test(`clipGradNorm ${name}: total norm and clipped grads equal clip_grad_norm_ bit for bit`, () => {
    for (let s = 0; s < 3; s++) {
      tidy(() => {
        const ps = Array.from({ length: NP }, (_, i) => {
          const p = oracle.get(`optim.p0.${i}`).clone().requiresGrad_(true);
          p.grad = oracle.get(`clip.grad.${s}.${i}`).clone();
          return p;
        });
        const total = clipGradNorm(ps, maxNorm, normType);
        assertBits(total, oracle.get(`clip.${name}.${s}.total`), `${name} step ${s} total`);
        ps.forEach((p, i) => {
          assertBits(p.grad as Tensor, oracle.get(`clip.${name}.${s}.${i}`), `${name} ${s} grad ${i}`);
        });
      });
    }
  });
}

test('clipGradNorm with no gradients returns 0', () => {
  tidy(() => {
    const p = oracle.get('optim.p0.0').clone().requiresGrad_(true);
    assert.equal(clipGradNorm([p], 1).item(), 0);
  });
});

test('libmPow equals Python float ** float (libm pow) on beta ** step tables', () => {
  for (const b of [0.9, 0.999, 0.8, 0.99]) {
    const want = oracle.get(`pow.${b}`).data('float64');
    want.forEach((w, i) => {
      assert.equal(libmPow(b, i + 1), w, `${b} ** ${i + 1}`);
    });
  }
});

test('lr schedules equal mmcv LrUpdaterHook (multistep exact, cosine within 1 ulp)', () => {
  const { schedules } = oracleJson;
  for (const [name, c] of Object.entries(schedules)) {
    const groups = c.base.map((lr) => ({ lr, initialLr: lr }));
    const sched = new LrScheduler({ paramGroups: groups }, c.spec);
    for (let e = 0; e < c.epochs; e++) {
      for (let i = 0; i < c.itersPerEpoch; i++) {
        const iter = e * c.itersPerEpoch + i;
        const got = sched.step({ iter, epoch: e });
        const want = c.lrs[iter] as number[];
        got.forEach((g, gi) => {
          const w = want[gi] as number;
          if (c.spec.rule.kind === 'cosine') {
            // V8's Math.cos vs glibc's cos (Python's math.cos) differ by 1 ulp on ~2% of inputs.
            assert.ok(
              Math.abs(g - w) <= 2 * Number.EPSILON * Math.abs(w),
              `${name} iter ${iter} group ${gi}: ${g} vs ${w}`,
            );
          } else {
            assert.equal(g, w, `${name} iter ${iter} group ${gi}`);
          }
        });
        assert.deepEqual(sched.lrs, got);
      }
    }
    // Resume: a fresh scheduler restored from the state lands on the same lrs.
    const groups2 = c.base.map((lr) => ({ lr: 123, initialLr: lr }));
    const s2 = new LrScheduler({ paramGroups: groups2 }, c.spec);
    s2.loadStateDict(JSON.parse(JSON.stringify(sched.stateDict())));
    assert.deepEqual(s2.lrs, sched.lrs);
  }
});

test('lrAt: warm-up then multistep, by epoch, pure function of the position', () => {
  const spec = {
    rule: { kind: 'multistep' as const, milestones: [2, 4] },
    byEpoch: true,
    warmup: { iters: 3, ratio: 0.5 },
  };
  assert.equal(lrAt(spec, 1, { iter: 0, epoch: 0 }), 0.5);
  assert.equal(lrAt(spec, 1, { iter: 3, epoch: 0 }), 1);
  assert.equal(lrAt(spec, 1, { iter: 30, epoch: 2 }), 0.1);
  assert.equal(lrAt(spec, 1, { iter: 60, epoch: 4 }), libmPow(0.1, 2));
});

test('optimizer state survives tidy; 200 steps inside tidy keep live handles flat', () => {
  const ps = tidy(() => {
    const out = Array.from({ length: NP }, (_, i) =>
      keep(oracle.get(`optim.p0.${i}`).clone().requiresGrad_(true)),
    );
    return out;
  });
  for (const make of [
    () => new SGD(ps, { lr: 1e-3, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
    () => new AdamW(ps, { lr: 1e-4, amsgrad: true }),
  ]) {
    const opt = make();
    const loop = (n: number): void => {
      for (let k = 0; k < n; k++) {
        tidy(() => {
          const loss = ps.reduce((acc: Tensor | null, p) => {
            const t = p.square().sum();
            return acc === null ? t : acc.add(t);
          }, null) as Tensor;
          opt.zeroGrad();
          loss.backward();
          clipGradNorm(ps, 10);
          opt.step();
        });
      }
    };
    loop(5);
    const before = memoryInfo().handles;
    loop(200);
    // <= rather than ===: GC finalizers may free unrelated handles from earlier tests meanwhile.
    assert.ok(
      memoryInfo().handles <= before,
      `live handles grew over 200 steps: ${before} -> ${memoryInfo().handles}`,
    );
    assert.ok(ps.every((p) => !p.isDisposed));
    const sd = opt.stateDict();
    assert.ok(sd.tensors.size >= NP, 'optimizer state tensors survived');
    for (const t of sd.tensors.values()) assert.ok(Number.isFinite(t.sum().item()));
    dispose([...sd.tensors.values()]);
    opt.zeroGrad();
    opt.dispose();
  }
  dispose(ps);
});
