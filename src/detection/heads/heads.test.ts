import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randn, tidy } from '../../core/tensor.ts';
import { ATSSHead, FCOSHead, GFLHead, RetinaHead } from './heads.ts';

const base = { inChannels: 16, featChannels: 16, stackedConvs: 2, numClasses: 5, numLevels: 2 };
const feats = () => [randn([2, 16, 8, 8]), randn([2, 16, 4, 4])];

test('heads: output shapes per level and mmdet parameter names', () => {
  tidy(() => {
    const r = new RetinaHead({ ...base, norm: null, priorsPerLocation: 9 });
    const o = r.forward(feats());
    assert.deepEqual(
      o.clsScores.map((t) => t.shape),
      [
        [2, 45, 8, 8],
        [2, 45, 4, 4],
      ],
    );
    assert.deepEqual(o.bboxPreds[1]!.shape, [2, 36, 4, 4]);
    const names = r.namedParameters().map(([n]) => n);
    assert.ok(names.includes('cls_convs.0.conv.weight') && names.includes('retina_cls.bias'));
    // focal-loss prior: sigmoid(bias) = 0.01
    const b = r.retinaCls.bias!.toArray()[0]!;
    assert.ok(Math.abs(1 / (1 + Math.exp(-b)) - 0.01) < 1e-7);

    const g = new GFLHead({ ...base, norm: 'gn', priorsPerLocation: 1 });
    const go = g.forward(feats());
    assert.deepEqual(go.bboxPreds[0]!.shape, [2, 68, 8, 8]);
    assert.ok(g.namedParameters().some(([n]) => n === 'reg_convs.1.gn.weight'));
    assert.ok(g.namedParameters().some(([n]) => n === 'scales.1.scale'));
    assert.ok(
      !g.namedParameters().some(([n]) => n === 'cls_convs.0.conv.bias'),
      'no conv bias before a norm',
    );

    const a = new ATSSHead({ ...base, norm: 'gn', priorsPerLocation: 1 });
    const ao = a.forward(feats());
    assert.deepEqual(ao.centerness![0]!.shape, [2, 1, 8, 8]);

    const f = new FCOSHead({ ...base, norm: 'gn', priorsPerLocation: 1 });
    const fo = f.forward(feats());
    assert.deepEqual(fo.bboxPreds[0]!.shape, [2, 4, 8, 8]);
    assert.ok(fo.bboxPreds[0]!.ge(0).all().item() === 1, 'relu keeps distances non-negative');
    for (const m of [r, g, a, f]) m.dispose();
  });
});
