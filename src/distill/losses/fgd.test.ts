// FGD against scripts/fixtures/distill_fgd_oracle.py (a PyTorch 1.13 restatement of yzd-v/FGD's
// FeatureLoss / mmrazor's FGDLoss, float32, one thread): masks bit-exact, attentions, the four
// weighted terms and gradients w.r.t. the student feature, the align conv and both GcBlocks; the
// reference's initialisation under the same seed. Then properties: no GT, one box, the border
// and grid-aligned boxes, teacher == student, equal GcBlocks, the zero-initialised last conv,
// background masks summing to 1, temperature limits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertClose, assertBits as assertExact, loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { manualSeed } from '../../core/random.ts';
import { cat, noGrad, randn, type Tensor, tensor, tidy, zeros } from '../../core/tensor.ts';
import {
  FGD_FCOS,
  FGD_ONE_STAGE,
  type FgdConfig,
  FgdLevel,
  fgdAttention,
  fgdAttentionLoss,
  fgdFeatureLoss,
  fgdMasks,
} from './fgd.ts';

native.setNumThreads(1);

const oracle = loadOracle('distill-fgd');
const { tensors: fx, metadata, get } = oracle;

interface Case {
  cs: number;
  ct: number;
  cfg: { temp: number; alpha: number; beta: number; gamma: number; lam: number };
  feat: [number, number];
  pad: [number, number];
  img_shapes: [number, number][];
  num_gt: number[];
  params: string[];
}
const cases = oracle.cases<Case>();

function cfgOf(c: Case): FgdConfig {
  return {
    temp: c.cfg.temp,
    alphaFgd: c.cfg.alpha,
    betaFgd: c.cfg.beta,
    gammaFgd: c.cfg.gamma,
    lambdaFgd: c.cfg.lam,
  };
}

/** Relative tolerance, plus an absolute floor scaled to the largest expected magnitude. */
function close(got: Tensor, want: Tensor, what: string, rtol = 1e-5): void {
  const scale = Math.max(...want.toArray().map(Math.abs));
  assertClose(got, want, what, rtol, 1e-6 * scale);
}

const TERMS = ['fg', 'bg', 'at', 'global'] as const;

for (const [name, c] of Object.entries(cases)) {
  const gts = c.num_gt.map((_, i) => get(`${name}/gt/${i}`));

  test(`fgdMasks matches the reference bit for bit: ${name}`, () =>
    tidy(() => {
      const m = fgdMasks(gts, c.img_shapes, c.pad, c.feat);
      assertExact(m.fg, get(`${name}/fg`), 'fg');
      assertExact(m.bg, get(`${name}/bg`), 'bg');
      // the fixture has images with a box at the border and, in 'noalign', one without boxes
      const sums = m.bg.sum([1, 2]).toArray();
      for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-6, `bg sums to ${s}`);
    }));

  test(`FgdLevel matches the reference values and gradients: ${name}`, () =>
    tidy(() => {
      const level = new FgdLevel(c.cs, c.ct, cfgOf(c));
      level.loadStateDict(fx, { prefix: `${name}/w/`, strict: false });
      const names = level.namedParameters().map(([k]) => k);
      assert.deepEqual(names, c.params, 'parameter names and order as the reference');
      const student = get(`${name}/student`).clone().requiresGrad_(true);
      const teacher = get(`${name}/teacher`);
      assert.equal(teacher.requiresGrad, false);
      const masks = fgdMasks(gts, c.img_shapes, c.pad, c.feat);

      const attT = fgdAttention(teacher, c.cfg.temp);
      close(attT.spatial, get(`${name}/sp_t`), 'teacher spatial attention', 1e-6);
      close(attT.channel, get(`${name}/ch_t`), 'teacher channel attention', 1e-6);
      const aligned = level.align === null ? student : level.align.forward(student);
      const attS = fgdAttention(aligned, c.cfg.temp);
      close(attS.spatial, get(`${name}/sp_s`), 'student spatial attention');
      close(attS.channel, get(`${name}/ch_s`), 'student channel attention');

      const losses = level.loss(student, teacher, masks);
      for (const k of TERMS) {
        close(losses[k], get(`${name}/loss/${k}`), `loss ${k}`);
        assert.ok(losses[k].item() > 0, `${k} is non-trivial`);
      }
      // per term: d term / d student
      for (const k of TERMS) {
        student.grad = null;
        level.zeroGrad();
        losses[k].backward(null, { retainGraph: true });
        close(student.grad!, get(`${name}/grad/${k}/student`), `d ${k} / d student`);
      }
      // the sum: d / d student and every parameter (align conv, both GcBlocks)
      student.grad = null;
      level.zeroGrad();
      losses.fg.add(losses.bg).add(losses.at).add(losses.global).backward();
      close(student.grad!, get(`${name}/grad/total/student`), 'd total / d student');
      for (const [k, p] of level.namedParameters()) {
        const want = get(`${name}/grad/total/w/${k}`);
        const g = p.grad;
        assert.ok(g !== null, `${k} has a gradient`);
        close(g, want, `d total / d ${k}`);
        if (k.startsWith('conv_mask_t') || k.startsWith('channel_add_conv_t')) {
          assert.ok(g.abs().sum().item() > 0, `teacher-side ${k} trains`);
        }
      }
      level.dispose();
    }));
}

test('FgdLevel initialises like the reference under the same seed', () =>
  tidy(() => {
    for (const [cs, ct] of [
      [6, 8],
      [8, 8],
    ] as const) {
      manualSeed(Number(metadata.init_seed));
      const level = new FgdLevel(cs, ct, FGD_ONE_STAGE);
      const sd = level.stateDict();
      const keys = [...fx.keys()].filter((k) => k.startsWith(`init/${cs}-${ct}/`));
      assert.deepEqual(
        [...sd.keys()].sort(),
        keys.map((k) => k.slice(`init/${cs}-${ct}/`.length)).sort(),
        'state dict keys',
      );
      for (const [k, t] of sd) assertExact(t, get(`init/${cs}-${ct}/${k}`), `init ${cs}->${ct} ${k}`);
      // last conv of each channel-add branch zero; mask conv bias zero; LayerNorm weight 1
      for (const k of [
        'channel_add_conv_s.3.weight',
        'channel_add_conv_t.3.bias',
        'conv_mask_s.bias',
        'channel_add_conv_t.1.bias',
      ]) {
        assert.equal(sd.get(k)!.abs().max().item(), 0, `${k} is zero`);
      }
      assert.equal(sd.get('channel_add_conv_s.1.weight')!.sub(1).abs().max().item(), 0);
      assert.deepEqual(sd.get('channel_add_conv_s.1.weight')!.shape, [ct / 2, 1, 1]);
      assert.equal(level.align === null, cs === ct);
      level.dispose();
    }
  }));

test('fgdMasks: no GT box -> fg zero, bg 1/(H*W) everywhere, finite loss', () =>
  tidy(() => {
    const m = fgdMasks(
      [zeros([0, 4]), zeros([0, 4])],
      [
        [40, 48],
        [32, 40],
      ],
      [40, 48],
      [5, 6],
    );
    assert.equal(m.fg.abs().max().item(), 0);
    assert.deepEqual(m.bg.shape, [2, 5, 6]);
    for (const v of m.bg.toArray()) assert.equal(v, Math.fround(1 / 30));
    manualSeed(3);
    const level = new FgdLevel(4, 4, FGD_ONE_STAGE);
    const s = randn([2, 4, 5, 6]).requiresGrad_(true);
    const t = randn([2, 4, 5, 6]);
    const l = level.loss(s, t, m);
    assert.equal(l.fg.item(), 0);
    for (const k of TERMS) assert.ok(Number.isFinite(l[k].item()), `${k} finite`);
    assert.ok(l.bg.item() > 0);
    l.fg.add(l.bg).add(l.at).add(l.global).backward();
    assert.ok(s.grad!.isfinite().all().item());
    level.dispose();
  }));

test('fgdMasks: one box, grid-aligned and at the border (inclusive ceil, dropped overflow)', () =>
  tidy(() => {
    // 32x32 image, 4x4 map (stride 8). [8, 8, 16, 16] -> cells 1..2 (ceil(2) = 2 is included):
    // h_r = w_r = 2, area 1/4. The rest is background: 12 cells of 1/12.
    let m = fgdMasks([tensor([[8, 8, 16, 16]])], [[32, 32]], [32, 32], [4, 4]);
    const q = 0.25;
    assert.deepEqual(m.fg.toArray(), [0, 0, 0, 0, 0, q, q, 0, 0, q, q, 0, 0, 0, 0, 0]);
    const b = Math.fround(1 / 12);
    assert.deepEqual(m.bg.toArray(), [b, b, b, b, b, 0, 0, b, b, 0, 0, b, b, b, b, b]);
    // [16, 16, 32, 32]: 2..4, index 4 is past the map and dropped, but h_r = w_r = 3: 1/9.
    m = fgdMasks([tensor([[16, 16, 32, 32]])], [[32, 32]], [32, 32], [4, 4]);
    const n = Math.fround(1 / 9);
    assert.deepEqual(m.fg.toArray(), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n, n, 0, 0, n, n]);
    // overlap: the smaller box's larger weight wins where both cover
    m = fgdMasks(
      [
        tensor([
          [0, 0, 32, 32],
          [8, 8, 16, 16],
        ]),
      ],
      [[32, 32]],
      [32, 32],
      [4, 4],
    );
    const f = Math.fround(Math.fround(1 / 5) / 5);
    assert.deepEqual(m.fg.toArray(), [f, f, f, f, f, q, q, f, f, q, q, f, f, f, f, f]);
    assert.equal(m.bg.abs().max().item(), 0, 'no background cell: bg stays all zero');
  }));

test('fgdMasks: padded image projects with img_shape (reference) or pad_shape (option)', () =>
  tidy(() => {
    // valid 24x32 inside a 32x32 pad, 4x4 map. y2 = 16: 16/24*4 = 2.67 -> 3 (img_shape) or
    // 16/32*4 = 2 (pad_shape).
    const boxes = [tensor([[0, 0, 16, 16]])];
    const ref = fgdMasks(boxes, [[24, 32]], [32, 32], [4, 4]);
    const rows = (t: Tensor): number[] => t.gt(0).any(2).squeeze(0).long().toArray();
    assert.deepEqual(rows(ref.fg), [1, 1, 1, 1]);
    assert.equal(ref.fg.max().item(), Math.fround(1 / 12));
    const pad = fgdMasks(boxes, [[24, 32]], [32, 32], [4, 4], { projection: 'pad_shape' });
    assert.deepEqual(rows(pad.fg), [1, 1, 1, 0]);
    assert.equal(pad.fg.max().item(), Math.fround(1 / 9));
    const d = fgdMasks(boxes, [[24, 32]], [32, 32], [4, 4], { dtype: 'float64' });
    assert.equal(d.fg.dtype, 'float64');
    assert.equal(d.bg.sum().item(), 1);
  }));

test('background mask sums to 1 per image for random boxes', () =>
  tidy(() => {
    manualSeed(5);
    const boxes = [0, 1, 2].map((i) => {
      const xy = randn([3 + i, 2])
        .abs()
        .mul(20);
      const wh = randn([3 + i, 2])
        .abs()
        .mul(15)
        .add(1);
      return cat([xy, xy.add(wh)], 1).clampMax(63);
    });
    const m = fgdMasks(
      boxes,
      [
        [64, 64],
        [56, 64],
        [64, 48],
      ],
      [64, 64],
      [8, 8],
    );
    for (const s of m.bg.sum([1, 2]).toArray()) assert.ok(Math.abs(s - 1) < 1e-6, `${s}`);
    // fg and bg never overlap
    assert.equal(m.fg.mul(m.bg).abs().max().item(), 0);
  }));

test('teacher == student without align: fg, bg, at vanish; global only when GcBlocks differ', () =>
  tidy(() => {
    manualSeed(9);
    const f = randn([2, 8, 6, 5]);
    const masks = fgdMasks(
      [tensor([[3, 4, 20, 30]]), zeros([0, 4])],
      [
        [48, 40],
        [40, 40],
      ],
      [48, 40],
      [6, 5],
    );
    const level = new FgdLevel(8, 8, FGD_FCOS);
    // randomise every GcBlock weight (also the zero-initialised last convs)
    noGrad(() => {
      for (const p of level.parameters()) p.copy_(randn(p.shape).mul(0.5));
    });
    const s = f.clone().requiresGrad_(true);
    const l = level.loss(s, f, masks);
    assert.equal(l.fg.item(), 0);
    assert.equal(l.bg.item(), 0);
    assert.equal(l.at.item(), 0);
    assert.ok(l.global.item() > 1e-6, 'different GcBlocks: global > 0');
    // copy the student-side GcBlock into the teacher side: the global loss vanishes too
    noGrad(() => {
      const sd = level.stateDict();
      for (const [k, t] of level.namedParameters()) {
        if (k.includes('_t')) t.copy_(sd.get(k.replace('_t', '_s'))!);
      }
    });
    const l2 = level.loss(s, f, masks);
    assert.equal(l2.global.item(), 0);
    level.dispose();
  }));

test('zero-initialised last conv: initial global loss = lambda * sum((F_S - F_T)^2) / N', () =>
  tidy(() => {
    manualSeed(10);
    const n = 3;
    const s = randn([n, 8, 4, 6]).requiresGrad_(true);
    const t = randn([n, 8, 4, 6]);
    const masks = fgdMasks(
      [0, 1, 2].map(() => zeros([0, 4])),
      [
        [32, 48],
        [32, 48],
        [32, 48],
      ],
      [32, 48],
      [4, 6],
    );
    const level = new FgdLevel(8, 8, FGD_ONE_STAGE);
    const l = level.loss(s, t, masks);
    const want = s.sub(t).square().sum().div(n).mul(FGD_ONE_STAGE.lambdaFgd);
    close(l.global, want, 'global at init', 1e-6);
    // At init only the zeroed last convs get a gradient from L_global, on both sides (the
    // teacher side although the teacher feature carries none); everything before them gets zero.
    l.global.backward();
    const grads = new Map(level.namedParameters().map(([k, p]) => [k, p.grad!.abs().sum().item()]));
    for (const side of ['s', 't']) {
      assert.ok(grads.get(`channel_add_conv_${side}.3.weight`)! > 0);
      assert.ok(grads.get(`channel_add_conv_${side}.3.bias`)! > 0);
      assert.equal(grads.get(`channel_add_conv_${side}.0.weight`), 0);
      assert.equal(grads.get(`conv_mask_${side}.weight`), 0);
    }
    close(
      s.grad!,
      s
        .sub(t)
        .mul((2 * FGD_ONE_STAGE.lambdaFgd) / n)
        .detach(),
      'd global / d student at init',
      1e-5,
    );
    level.dispose();
  }));

test('align conv: student channels mapped to the teacher before every term, and trained by all', () =>
  tidy(() => {
    manualSeed(12);
    const level = new FgdLevel(4, 6, FGD_ONE_STAGE);
    assert.ok(level.align !== null);
    assert.deepEqual(level.align.weight.shape, [6, 4, 1, 1]);
    const s = randn([2, 4, 5, 5]).requiresGrad_(true);
    const t = noGrad(() => randn([2, 6, 5, 5]));
    const masks = fgdMasks(
      [tensor([[0, 0, 20, 20]]), tensor([[10, 5, 40, 30]])],
      [
        [40, 40],
        [40, 40],
      ],
      [40, 40],
      [5, 5],
    );
    const l = level.loss(s, t, masks);
    for (const k of TERMS) {
      level.zeroGrad();
      s.grad = null;
      l[k].backward(null, { retainGraph: true });
      assert.ok(level.align.weight.grad!.abs().sum().item() > 0, `${k} trains the align conv`);
      assert.ok(s.grad!.abs().sum().item() > 0, `${k} reaches the student`);
    }
    assert.throws(() => level.loss(randn([2, 6, 5, 5]), t, masks), /does not match/);
    level.dispose();
  }));

test('mask shape mismatch is an error', () =>
  tidy(() => {
    const level = new FgdLevel(4, 4, FGD_ONE_STAGE);
    const masks = fgdMasks([zeros([0, 4])], [[32, 32]], [32, 32], [4, 4]);
    assert.throws(() => level.loss(randn([1, 4, 5, 5]), randn([1, 4, 5, 5]), masks), /mask/);
    level.dispose();
  }));

test('attention: averages 1; temperature limits (uniform for large T, one-hot for small T)', () =>
  tidy(() => {
    manualSeed(4);
    const f = randn([2, 5, 3, 4]);
    const a = fgdAttention(f, 0.5);
    close(a.spatial.mean([1, 2]), tensor([1, 1]), 'spatial mean', 1e-6);
    close(a.channel.mean(1), tensor([1, 1]), 'channel mean', 1e-6);
    const hot = fgdAttention(f, 1e6);
    assert.ok(hot.spatial.sub(1).abs().max().item() < 1e-5);
    assert.ok(hot.channel.sub(1).abs().max().item() < 1e-5);
    const cold = fgdAttention(f, 1e-4);
    // all the mass on the cell with the largest mean |F|
    const peak = f.abs().mean(1).view(2, -1).argmax(1).toArray();
    const flat = cold.spatial.view(2, -1);
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(flat.select(0, i).select(0, peak[i]!).item() - 12) < 1e-4);
  }));

test('fgdFeatureLoss / fgdAttentionLoss: the formulas of docs/methods/fgd.md', () =>
  tidy(() => {
    manualSeed(6);
    const s = randn([2, 3, 4, 4]);
    const t = randn([2, 3, 4, 4]);
    const masks = fgdMasks(
      [tensor([[0, 0, 8, 8]]), tensor([[4, 4, 16, 12]])],
      [
        [16, 16],
        [16, 16],
      ],
      [16, 16],
      [4, 4],
    );
    const at = fgdAttention(t, 0.5);
    const as = fgdAttention(s, 0.5);
    const w = at.spatial.unsqueeze(1).mul(at.channel.unsqueeze(-1).unsqueeze(-1)); // [N, C, H, W]
    const d2 = s.sub(t).square().mul(w);
    const got = fgdFeatureLoss(s, t, masks, at);
    close(got.fg, d2.mul(masks.fg.unsqueeze(1)).sum().div(2), 'L_fg', 1e-5);
    close(got.bg, d2.mul(masks.bg.unsqueeze(1)).sum().div(2), 'L_bg', 1e-5);
    const wantAt = as.channel.sub(at.channel).abs().sum().add(as.spatial.sub(at.spatial).abs().sum()).div(2);
    close(fgdAttentionLoss(as, at), wantAt, 'L_at', 1e-6);
  }));
