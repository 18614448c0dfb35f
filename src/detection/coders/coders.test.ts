// Box coders against mmdetection's bbox2delta / delta2bbox, distance2bbox / bbox2distance and
// GFL's Integral run in PyTorch 1.13 (scripts/fixtures/detection_models_oracle.py), one thread:
// values and gradients bit for bit. Then properties: round trips, clamps, integral limits.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  assertBits,
  assertClose,
  type DetectionOracleJson,
  loadOracle,
  readJsonFixture,
} from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { full, rand, randn, type Tensor, tensor, tidy, zeros } from '../../core/tensor.ts';
import { DeltaXYWHBBoxCoder, deltaXYWHDecode, deltaXYWHEncode } from './delta-xywh.ts';
import { bbox2distance, DistancePointBBoxCoder, distance2bbox } from './distance.ts';
import { integral } from './integral.ts';

const oracle = loadOracle('detection-models');
const oracleJson = readJsonFixture<DetectionOracleJson>('detection-models/oracle.json');

native.setNumThreads(1);

test('delta-xywh encode equals mmdet bbox2delta bit for bit (default and custom means/stds)', () => {
  const c = oracleJson.coders;
  tidy(() => {
    assertBits(
      deltaXYWHEncode(oracle.get('coder.proposals'), oracle.get('coder.gt')),
      oracle.get('coder.delta.enc_default'),
      'default',
    );
    assertBits(
      deltaXYWHEncode(oracle.get('coder.proposals'), oracle.get('coder.gt'), {
        means: c.delta_means,
        stds: c.delta_stds,
      }),
      oracle.get('coder.delta.enc_stds'),
      'means/stds',
    );
  });
});

test('delta-xywh decode equals mmdet delta2bbox bit for bit, with wh clamp, clipping and gradients', () => {
  const c = oracleJson.coders;
  const opts = {
    dec_default: {},
    dec_stds: { means: c.delta_means, stds: c.delta_stds },
    dec_clip: { means: c.delta_means, stds: c.delta_stds, maxShape: c.max_shape },
  } as const;
  for (const [name, o] of Object.entries(opts)) {
    tidy(() => {
      const d = oracle.get('coder.deltas').clone().requiresGrad_(true);
      const r = oracle.get('coder.proposals').clone().requiresGrad_(true);
      const boxes = deltaXYWHDecode(r, d, o);
      assertBits(boxes, oracle.get(`coder.delta.${name}`), name);
      boxes
        .mul(oracle.get(`coder.delta.${name}.go`))
        .sum()
        .backward();
      assertBits(d.grad as Tensor, oracle.get(`coder.delta.${name}.gdeltas`), `${name} grad deltas`);
      assertBits(r.grad as Tensor, oracle.get(`coder.delta.${name}.grois`), `${name} grad rois`);
    });
  }
});

test('distance coder equals mmdet distance2bbox / bbox2distance bit for bit, with gradients', () => {
  const c = oracleJson.coders;
  for (const [name, ms] of [
    ['dec', undefined],
    ['dec_clip', c.max_shape],
  ] as const) {
    tidy(() => {
      const d = oracle.get('coder.dist').clone().requiresGrad_(true);
      const boxes = distance2bbox(oracle.get('coder.points'), d, ms);
      assertBits(boxes, oracle.get(`coder.dist.${name}`), name);
      boxes
        .mul(oracle.get(`coder.dist.${name}.go`))
        .sum()
        .backward();
      assertBits(d.grad as Tensor, oracle.get(`coder.dist.${name}.gdist`), `${name} grad`);
    });
  }
  tidy(() => {
    const pts = oracle.get('coder.points');
    const gt = oracle.get('coder.gt');
    assertBits(bbox2distance(pts, gt), oracle.get('coder.dist.enc'), 'encode');
    assertBits(
      bbox2distance(pts.div(8), gt.div(8), { maxDis: 16 }),
      oracle.get('coder.dist.enc_gfl'),
      'encode, GFL clamp',
    );
    assertBits(
      bbox2distance(pts.div(8), gt.div(8), { maxDis: 16, eps: 0.01 }),
      oracle.get('coder.dist.enc_eps'),
      'encode, eps 0.01',
    );
    assert.ok(bbox2distance(pts.div(8), gt.div(8), { maxDis: 16 }).max().item() <= 15.9 + 1e-6);
  });
});

test('integral equals mmdet Integral (softmax, then linear with linspace(0, 16, 17)) bit for bit, with gradients', () => {
  tidy(() => {
    const x = oracle.get('coder.integral.x').clone().requiresGrad_(true);
    const y = integral(x, 16);
    assertBits(y, oracle.get('coder.integral.y'), 'integral');
    y.mul(oracle.get('coder.integral.go')).sum().backward();
    assertBits(x.grad as Tensor, oracle.get('coder.integral.gx'), 'integral grad');
  });
});

test('integral limits: uniform logits give regMax/2, a peaked bin gives its index; shapes', () => {
  tidy(() => {
    assertClose(integral(zeros([3, 68])), full([3, 4], 8), 'uniform', 1e-6, 1e-5);
    const peaked = zeros([2, 4, 17]).indexPut_(
      [
        tensor([0, 0, 0, 0, 1, 1, 1, 1], { dtype: 'int64' }),
        tensor([0, 1, 2, 3, 0, 1, 2, 3], { dtype: 'int64' }),
        tensor([0, 5, 16, 9, 1, 2, 3, 4], { dtype: 'int64' }),
      ],
      tensor([100, 100, 100, 100, 100, 100, 100, 100]),
    );
    assertClose(
      integral(peaked.reshape(2, 68)),
      tensor([
        [0, 5, 16, 9],
        [1, 2, 3, 4],
      ]),
      'peaked',
      0,
      1e-4,
    );
    assert.deepEqual(integral(randn([2, 5, 4 * 8]), 7).shape, [10, 4]);
    assert.throws(() => integral(randn([2, 67])), TypeError);
  });
});

test('round trips: decode(encode(x)) = x for delta-xywh and distance coders', () => {
  tidy(() => {
    const xy = rand([200, 2]).mul(500);
    const anchors = xy.repeat(1, 2).add(
      rand([200, 4])
        .mul(tensor([-60, -60, 60, 60]))
        .abs()
        .mul(tensor([-1, -1, 1, 1]))
        .add(tensor([-1, -1, 1, 1])),
    );
    const gxy = rand([200, 2]).mul(500);
    const gt = gxy.repeat(1, 2).add(
      rand([200, 4])
        .mul(100)
        .mul(tensor([-1, -1, 1, 1]))
        .add(tensor([-2, -2, 2, 2])),
    );
    for (const coder of [
      new DeltaXYWHBBoxCoder(),
      new DeltaXYWHBBoxCoder({ means: [0.1, 0, -0.2, 0], stds: [0.1, 0.1, 0.2, 0.2] }),
    ]) {
      const back = coder.decode(anchors, coder.encode(anchors, gt), { whRatioClip: 1e-6 });
      assertClose(back, gt, 'delta round trip', 1e-5, 1e-3);
    }
    // inside the box: distances are positive and decode back
    const pts = gt
      .slice(1, 0, 2)
      .add(gt.slice(1, 2, 4))
      .mul(0.5);
    const coder = new DistancePointBBoxCoder();
    const dist = coder.encode(pts, gt);
    assert.ok(dist.gt(0).all().item());
    assertClose(coder.decode(pts, dist), gt, 'distance round trip', 1e-6, 1e-4);
    // point priors (x, y, stride, stride) work as points; [B, N, .] batches broadcast
    const priors = pts.unsqueeze(0).expand(3, 200, 2);
    const boxes = distance2bbox(priors, dist.unsqueeze(0).expand(3, 200, 4), [600, 600]);
    assert.deepEqual(boxes.shape, [3, 200, 4]);
    assert.ok(boxes.ge(0).all().item() && boxes.le(600).all().item());
    const d3 = deltaXYWHDecode(anchors.unsqueeze(0).expand(2, 200, 4), randn([2, 200, 4]), {
      maxShape: [480, 640],
    });
    assert.deepEqual(d3.shape, [2, 200, 4]);
    assert.ok(d3.select(-1, 2).le(640).all().item() && d3.select(-1, 3).le(480).all().item());
  });
});

test('delta-xywh: the wh-ratio clamp bounds exp(dw) at 1/0.016 = 62.5', () => {
  tidy(() => {
    const box = tensor([[0, 0, 10, 10]]);
    const big = deltaXYWHDecode(box, tensor([[0, 0, 50, -50]]));
    const w = big.select(1, 2).sub(big.select(1, 0)).item();
    const h = big.select(1, 3).sub(big.select(1, 1)).item();
    assert.ok(Math.abs(w - 625) < 1e-3, `w ${w}`);
    assert.ok(Math.abs(h - 0.16) < 1e-5, `h ${h}`);
  });
});
