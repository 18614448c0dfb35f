// Anchors and points against mmdetection's AnchorGenerator / MlvlPointGenerator formulas
// re-implemented in PyTorch 1.13 (scripts/fixtures/detection_models_oracle.py): base anchors,
// grid priors and valid flags bit for bit. Then properties: counts and offsets per level.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertBits,
  type DetectionOracleJson,
  loadOracle,
  readJsonFixture,
} from '../../../test/support/oracle.ts';
import { tensor, tidy } from '../../core/tensor.ts';
import { AnchorGenerator, atssAnchors, retinaAnchors } from './anchors.ts';
import { fcosPoints, PointGenerator } from './points.ts';

const oracle = loadOracle('detection-models');
const oracleJson = readJsonFixture<DetectionOracleJson>('detection-models/oracle.json');

function generator(name: string): AnchorGenerator {
  const c = oracleJson.priors.anchors[name];
  if (c === undefined) throw new Error(`no anchor config ${name}`);
  return new AnchorGenerator({
    strides: c.strides,
    ratios: c.ratios,
    ...(c.scales === undefined ? {} : { scales: c.scales }),
    ...(c.octave_base_scale === undefined ? {} : { octaveBaseScale: c.octave_base_scale }),
    ...(c.scales_per_octave === undefined ? {} : { scalesPerOctave: c.scales_per_octave }),
    ...(c.base_sizes === undefined ? {} : { baseSizes: c.base_sizes }),
    ...(c.scale_major === undefined ? {} : { scaleMajor: c.scale_major }),
    ...(c.center_offset === undefined ? {} : { centerOffset: c.center_offset }),
  });
}

for (const name of ['retina', 'atss', 'misc']) {
  test(`anchors '${name}': base anchors, grid priors and valid flags equal mmdet's bit for bit`, () => {
    const p = oracleJson.priors;
    const gen = generator(name);
    const sizes = p.feat_sizes.slice(0, gen.numLevels);
    tidy(() => {
      for (let l = 0; l < gen.numLevels; l++)
        assertBits(gen.baseAnchors(l), oracle.get(`anchors.${name}.base${l}`), `base ${l}`);
      const pri = gen.gridPriors(sizes);
      assertBits(pri.boxes, oracle.get(`anchors.${name}.grid`), 'grid');
      const valid = gen.validFlags(p.pad_feat_sizes.slice(0, gen.numLevels), p.image_shape);
      assertBits(valid, oracle.get(`anchors.${name}.valid`), 'valid flags');
    });
  });
}

test('retinaAnchors / atssAnchors are the mmdet configs: 9 and 1 per location, sizes 32..512 / 64..1024', () => {
  const p = oracleJson.priors;
  const r = retinaAnchors();
  const a = atssAnchors();
  assert.equal(r.numBaseAnchors, 9);
  assert.equal(a.numBaseAnchors, 1);
  tidy(() => {
    assertBits(r.gridPriors(p.feat_sizes).boxes, oracle.get('anchors.retina.grid'), 'retinaAnchors()');
    assertBits(a.gridPriors(p.feat_sizes).boxes, oracle.get('anchors.atss.grid'), 'atssAnchors()');
    // the square ratio-1 scale-1 anchor of P3 is 32 px wide; ATSS's is 8 * stride = 64
    assert.deepEqual(r.baseAnchors(0).select(0, 3).toArray(), [-16, -16, 16, 16]);
    assert.deepEqual(a.baseAnchors(4).toArray(), [-512, -512, 512, 512]);
  });
});

test('Priors: counts, offsets, strides and sizes per level; anchors of a location are contiguous', () => {
  const sizes: [number, number][] = [
    [13, 19],
    [7, 10],
    [4, 5],
    [2, 3],
    [1, 2],
  ];
  const pri = retinaAnchors().gridPriors(sizes);
  assert.deepEqual(
    pri.numPerLevel,
    sizes.map(([h, w]) => h * w * 9),
  );
  assert.deepEqual(pri.levelOffsets, [0, 2223, 2853, 3033, 3087]);
  assert.deepEqual(pri.strides, [8, 16, 32, 64, 128]);
  assert.deepEqual(pri.featSizes, sizes);
  assert.equal(pri.perLocation, 9);
  assert.equal(pri.kind, 'anchor');
  assert.deepEqual(pri.boxes.shape, [3105, 4]);
  tidy(() => {
    // location (y=1, x=2) of level 1 (stride 16): the 9 anchors are base + (32, 16, 32, 16)
    const loc = pri.boxes.narrow(0, 2223 + (1 * 10 + 2) * 9, 9);
    // (base + shift) - base is the shift up to float32 rounding of the sums
    const want = retinaAnchors()
      .baseAnchors(1)
      .add(tensor([32, 16, 32, 16]));
    assertBits(loc, want, 'location (1, 2) of level 1');
  });
  pri.boxes.dispose();
  assert.throws(() => retinaAnchors().gridPriors(sizes.slice(0, 3)), RangeError);
  assert.throws(() => new AnchorGenerator({ strides: [8], ratios: [1] }), TypeError);
  assert.throws(
    () =>
      new AnchorGenerator({ strides: [8], ratios: [1], scales: [1], octaveBaseScale: 4, scalesPerOctave: 1 }),
    TypeError,
  );
});

test('points: MlvlPointGenerator (x, y, stride, stride) bit for bit, offsets 0.5 and 0', () => {
  const p = oracleJson.priors;
  tidy(() => {
    const pts = fcosPoints().gridPriors(p.feat_sizes);
    assertBits(pts.boxes, oracle.get('points.fcos'), 'fcos points');
    assert.equal(pts.kind, 'point');
    assert.equal(pts.perLocation, 1);
    assert.deepEqual(
      pts.numPerLevel,
      p.feat_sizes.map(([h, w]) => h * w),
    );
    assert.deepEqual(pts.boxes.select(0, 0).toArray(), [4, 4, 8, 8]);
    assert.deepEqual(pts.boxes.select(0, 19).toArray(), [4, 12, 8, 8]); // row 1, column 0
    assertBits(
      new PointGenerator([8, 16, 32, 64, 128], 0).gridPriors(p.feat_sizes).boxes,
      oracle.get('points.offset0'),
      'offset 0',
    );
    const valid = fcosPoints().validFlags(p.pad_feat_sizes, p.image_shape);
    assert.deepEqual(valid.shape, [p.pad_feat_sizes.reduce((s, [h, w]) => s + h * w, 0)]);
    // level 0 of a 128x160 pad holding a 100x150 image: 13 valid rows, 19 valid columns
    assert.equal(valid.narrow(0, 0, 320).sum().item(), 13 * 19);
  });
});
