// MultiScaleRoIAlign against torchvision 0.14's MultiScaleRoIAlign (scripts/fixtures/
// roi_align_oracle.py): 4 levels (strides 4..32 of a 128x160 image, two images), 29 RoIs from 2 to
// 448 pixels, output 7x7, sampling ratio 2, aligned false (torchvision's pooler has no aligned):
// the output, the gradients of all four levels, and the level of every RoI, exactly. The mmdet
// mapper is checked against its formula restated in the script (mmdet is not installed there).
// Measured max |got - want| / max |want|: about 4e-7 (float32) and 2.8e-15 (float64) at most;
// only the summation order differs from the kernel's. Then properties: RoI order over interleaved images, the empty set, stride checks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, compareBits, loadOracle, type Tolerance } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { randn, type Tensor, tensor, tidy } from '../../core/tensor.ts';
import { MultiScaleRoIAlign, mapRoiLevels } from './multi-scale-roi-align.ts';

native.setNumThreads(1);
const oracle = loadOracle('roi-align');
const ms = oracle.json<{
  featmapStrides: number[];
  outputSize: number;
  samplingRatio: number;
  finestScale: number;
}>('multi_scale');
const TOL: Record<'f32' | 'f64', Tolerance> = {
  f32: { rtol: 0, atolOfMax: 1.5e-6 },
  f64: { rtol: 0, atolOfMax: 2e-14 },
};

function assertNear(got: Tensor, want: Tensor, tol: Tolerance, what: string): void {
  const e = compareBits(got, want, tol);
  if (e !== null) assert.fail(`${what}: ${e} (tolerance ${JSON.stringify(tol)})`);
}

const pooler = (mapper: 'torchvision' | 'mmdet' = 'torchvision') =>
  new MultiScaleRoIAlign({
    featmapStrides: ms.featmapStrides,
    outputSize: ms.outputSize,
    samplingRatio: ms.samplingRatio,
    aligned: false,
    mapper,
  });

for (const d of ['f32', 'f64'] as const) {
  test(`MultiScaleRoIAlign ${d}: output and the gradients of all levels equal torchvision's`, () => {
    tidy(() => {
      const feats = [0, 1, 2, 3].map((l) => oracle.get(`ms.${d}.feat${l}`).clone().requiresGrad_(true)); // [2,4,H_l,W_l]
      const out = pooler().forward(feats, oracle.get(`ms.${d}.rois`)); // [29,4,7,7]
      assertNear(out, oracle.get(`ms.${d}.out`), TOL[d], 'output');
      out
        .mul(oracle.get(`ms.${d}.cotangent`))
        .sum()
        .backward();
      feats.forEach((f, l) => {
        assertNear(f.grad as Tensor, oracle.get(`ms.${d}.grad${l}`), TOL[d], `level ${l} gradient`);
      });
    });
  });

  test(`mapRoiLevels ${d}: torchvision's LevelMapper and mmdet's map_roi_levels, exactly`, () => {
    tidy(() => {
      const rois = oracle.get(`ms.${d}.rois`);
      const tv = mapRoiLevels(rois, { featmapStrides: ms.featmapStrides });
      const mm = mapRoiLevels(rois, {
        featmapStrides: ms.featmapStrides,
        mapper: 'mmdet',
        finestScale: ms.finestScale,
      });
      assertBits(tv, oracle.get(`ms.${d}.levels`), 'torchvision levels');
      assertBits(mm, oracle.get(`ms.${d}.mmdet_levels`), 'mmdet levels');
      // every level is used, and the eps placement separates the two mappers on one RoI
      assert.deepEqual([...new Set(tv.toArray())].sort(), [0, 1, 2, 3]);
      assert.equal(tv.ne(mm).sum().item(), 1);
    });
  });
}

test('torchvision mapper: canonical size 224 at level 4, clamped to the levels present', () => {
  tidy(() => {
    const boxes = (sides: number[]) => tensor(sides.map((s) => [0, 0, 0, s, s]));
    const sides = [1, 111, 112, 223, 224, 447, 448, 10000];
    assert.deepEqual(
      mapRoiLevels(boxes(sides), { featmapStrides: [4, 8, 16, 32] }).toArray(),
      [0, 0, 1, 1, 2, 2, 3, 3],
    );
    // P3..P5 (k 3..5): clamped at both ends
    assert.deepEqual(
      mapRoiLevels(boxes(sides), { featmapStrides: [8, 16, 32] }).toArray(),
      [0, 0, 0, 0, 1, 1, 2, 2],
    );
    assert.deepEqual(
      mapRoiLevels(boxes(sides), {
        featmapStrides: [4, 8, 16, 32],
        canonicalScale: 112,
        canonicalLevel: 3,
      }).toArray(),
      [0, 0, 1, 1, 2, 2, 3, 3],
    );
    assert.equal(mapRoiLevels(boxes([]).reshape(0, 5), { featmapStrides: [4, 8] }).shape[0], 0);
  });
});

test('results come back in RoI order, images interleaved, levels mixed', () => {
  tidy(() => {
    const rois = oracle.get('ms.f64.rois'); // image 0's RoIs, then image 1's
    const feats = [0, 1, 2, 3].map((l) => oracle.get(`ms.f64.feat${l}`));
    const p = pooler('mmdet');
    const all = p.forward(feats, rois);
    const K = rois.shape[0] as number;
    const perm = Array.from({ length: K }, (_, k) => (k * 7) % K); // 7 and 29 are coprime
    const idx = tensor(perm, { dtype: 'int64' });
    assertBits(p.forward(feats, rois.indexSelect(0, idx)), all.indexSelect(0, idx), 'permuted');
  });
});

test('an empty RoI set gives [0,C,oh,ow] and runs backward', () => {
  tidy(() => {
    const feats = [8, 4, 2].map((s) => randn([2, 3, s, s]).requiresGrad_(true));
    const p = new MultiScaleRoIAlign({
      featmapStrides: [4, 8, 16],
      outputSize: [2, 3],
      samplingRatio: 0,
      aligned: true,
    });
    const out = p.forward(feats, tensor([[0, 0, 0, 1, 1]]).narrow(0, 0, 0));
    assert.deepEqual(out.shape, [0, 3, 2, 3]);
    out.sum().backward();
    assert.equal((feats[0]?.grad as Tensor).abs().sum().item(), 0);
  });
});

test('strides: the torchvision mapper needs doubling powers of two; feature levels must match', () => {
  const o = { outputSize: 7, samplingRatio: 0, aligned: true };
  assert.throws(() => new MultiScaleRoIAlign({ ...o, featmapStrides: [4, 8, 32] }), /doubling/);
  assert.throws(() => new MultiScaleRoIAlign({ ...o, featmapStrides: [] }), /empty/);
  const mm = new MultiScaleRoIAlign({ ...o, featmapStrides: [4, 8, 32], mapper: 'mmdet' });
  tidy(() => {
    assert.throws(
      () => mm.forward([randn([1, 1, 4, 4])], tensor([[0, 0, 0, 1, 1]])),
      /1 feature levels for 3/,
    );
  });
});
