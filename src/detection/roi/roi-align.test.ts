// roiAlign against torchvision 0.14's roi_align C++ kernel (scripts/fixtures/roi_align_oracle.py):
// outputs and feature gradients (of sum(out * cotangent)) for sampling ratio 0 (adaptive), 1, 2, 3,
// aligned true and false, float32 and float64, on 14 RoIs over two images (inside, partly and
// wholly off the map, tiny, zero-size, larger than the image). The composite sums each bin's
// weighted corners in embedding_bag's order, not the kernel's, so it agrees to rounding, not bit
// for bit: measured max |got - want| / max |want| about 6e-7 (float32) and under 5e-15 (float64);
// the tolerances below are about 3x that. Then properties: the empty set, zero-size RoIs, no gradient for
// the RoIs, RoI order over several images.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, compareBits, loadOracle, type Tolerance } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { randn, type Tensor, tensor, tidy } from '../../core/tensor.ts';
import { type RoiAlignOptions, roiAlign } from './roi-align.ts';

native.setNumThreads(1);
const oracle = loadOracle('roi-align');
const cfg = oracle.json<{ spatialScale: number; outputSize: [number, number] }>('roi_align');
interface Case {
  dtype: 'f32' | 'f64';
  samplingRatio: number;
  aligned: boolean;
}
const TOL: Record<Case['dtype'], Tolerance> = {
  f32: { rtol: 0, atolOfMax: 2e-6 },
  f64: { rtol: 0, atolOfMax: 1e-14 },
};
const ZERO_SIZE = 6; // the fixture's RoI [0, 5, 5, 5, 5]

function assertNear(got: Tensor, want: Tensor, tol: Tolerance, what: string): void {
  const e = compareBits(got, want, tol);
  if (e !== null) assert.fail(`${what}: ${e} (tolerance ${JSON.stringify(tol)})`);
}

function run(c: Case, rois?: Tensor): { out: Tensor; grad: Tensor } {
  const x = oracle.get(`ra.${c.dtype}.features`).clone().requiresGrad_(true); // [2,3,10,12]
  const out = roiAlign(x, rois ?? oracle.get(`ra.${c.dtype}.rois`), {
    ...cfg,
    samplingRatio: c.samplingRatio,
    aligned: c.aligned,
  }); // [14,3,2,3]
  out
    .mul(oracle.get(`ra.${c.dtype}.cotangent`))
    .sum()
    .backward();
  return { out, grad: x.grad as Tensor };
}

for (const [cid, c] of Object.entries(oracle.cases<Case>())) {
  test(`roiAlign ${cid}: output and feature gradient equal torchvision's roi_align`, () => {
    tidy(() => {
      const { out, grad } = run(c);
      assertNear(out, oracle.get(`ra.${cid}.out`), TOL[c.dtype], 'output');
      assertNear(grad, oracle.get(`ra.${cid}.grad`), TOL[c.dtype], 'feature gradient');
    });
  });
}

test('an empty RoI set gives [0,C,oh,ow], and a loss over it runs backward (zero gradient)', () => {
  tidy(() => {
    for (const d of ['f32', 'f64'] as const) {
      const x = oracle.get(`ra.${d}.features`).clone().requiresGrad_(true);
      const out = roiAlign(x, oracle.get(`ra.${d}.rois`).narrow(0, 0, 0), {
        ...cfg,
        samplingRatio: 0,
        aligned: true,
      });
      assertBits(out, oracle.get(`ra.${d}.empty.out`), 'empty output');
      out.sum().backward();
      assert.equal((x.grad as Tensor).abs().sum().item(), 0);
    }
  });
});

test('a zero-size RoI gives what torchvision gives: zeros with an adaptive aligned grid, else the point value', () => {
  tidy(() => {
    for (const d of ['f32', 'f64'] as const) {
      const zero = run({ dtype: d, samplingRatio: 0, aligned: true }).out.select(0, ZERO_SIZE);
      assert.equal(zero.abs().sum().item(), 0, 'empty adaptive grid: zeros');
      const sr2 = run({ dtype: d, samplingRatio: 2, aligned: true }).out.select(0, ZERO_SIZE); // [3,2,3]
      // every sample sits on the same point (2.0, 2.0) - 0.5: one value per channel
      assert.equal(
        sr2
          .sub(sr2.narrow(1, 0, 1).narrow(2, 0, 1))
          .abs()
          .max()
          .item(),
        0,
      );
      assertNear(sr2, oracle.get(`ra.${d}.sr2.aligned.out`).select(0, ZERO_SIZE), TOL[d], 'zero-size, sr 2');
    }
    // only zero-size RoIs: zeros that still run backward
    const x = randn([1, 2, 5, 5]).requiresGrad_(true);
    const out = roiAlign(
      x,
      tensor([
        [0, 1, 1, 1, 1],
        [0, 3, 2, 3, 2],
      ]),
      {
        outputSize: 2,
        spatialScale: 1,
        samplingRatio: 0,
        aligned: true,
      },
    );
    assert.deepEqual(out.shape, [2, 2, 2, 2]);
    assert.equal(out.abs().sum().item(), 0);
    out.sum().backward();
    assert.equal((x.grad as Tensor).abs().sum().item(), 0);
  });
});

test('no gradient reaches the RoIs (they are detached, as in torchvision)', () => {
  tidy(() => {
    const rois = oracle.get('ra.f64.rois').clone().requiresGrad_(true);
    const { out } = run({ dtype: 'f64', samplingRatio: 2, aligned: true }, rois);
    assert.ok(out.requiresGrad);
    assert.equal(rois.grad, null);
    const plain = roiAlign(oracle.get('ra.f64.features'), rois, { ...cfg, samplingRatio: 0, aligned: false });
    assert.equal(plain.requiresGrad, false);
  });
});

test('results come back in RoI order, RoIs of several images interleaved and regrouped', () => {
  tidy(() => {
    const rois = oracle.get('ra.f32.rois'); // [14,5], images 0 and 1 alternate
    const x = oracle.get('ra.f32.features');
    for (const samplingRatio of [0, 2]) {
      const o: RoiAlignOptions = { ...cfg, samplingRatio, aligned: true };
      const all = roiAlign(x, rois, o);
      const perm = [13, 2, 7, 0, 5, 11, 1, 9, 4, 12, 3, 8, 10, 6];
      const idx = tensor(perm, { dtype: 'int64' });
      assertBits(
        roiAlign(x, rois.indexSelect(0, idx), o),
        all.indexSelect(0, idx),
        `permuted, sr ${samplingRatio}`,
      );
      for (let k = 0; k < 14; k++)
        assertBits(
          roiAlign(x, rois.narrow(0, k, 1), o),
          all.narrow(0, k, 1),
          `RoI ${k} alone, sr ${samplingRatio}`,
        );
    }
  });
});

test('bad arguments are refused', () => {
  tidy(() => {
    const x = randn([2, 1, 4, 4]);
    const o: RoiAlignOptions = { outputSize: 2, spatialScale: 1, samplingRatio: 0, aligned: true };
    assert.throws(() => roiAlign(x, tensor([[2, 0, 0, 1, 1]]), o), /batch index 2/);
    assert.throws(() => roiAlign(x, tensor([[0, 0, 1, 1]]), o), /\[K,5\]/);
    assert.throws(() => roiAlign(x, tensor([[0, 0, 0, 1, 1]]), { ...o, outputSize: 0 }), /outputSize/);
    assert.throws(
      () => roiAlign(x, tensor([[0, 0, 0, 1, 1]]), { ...o, samplingRatio: 1.5 }),
      /samplingRatio/,
    );
  });
});
