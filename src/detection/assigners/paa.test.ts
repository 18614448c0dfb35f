// PAA as a detector's own assigner (`model.assigner: 'paa'`): the detector hands its own detached
// predictions to paaAssign (whose values are checked against mmdet + sklearn in
// src/distill/lad.test.ts), a training step with it gives finite losses and gradients, and
// configurations that cannot take it are refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DetkdError } from '../../core/errors.ts';
import { manualSeed } from '../../core/random.ts';
import { enableGrad, rand, tensor, tidy } from '../../core/tensor.ts';
import type { Batch } from '../../structures/tensor-batch.ts';
import { DenseDetector } from '../detector.ts';
import { flattenLevels } from '../heads/losses.ts';
import { buildDetector } from '../models/build.ts';
import type { DenseDetectorConfig as DetectorConfig } from '../models/config.ts';
import { BACKGROUND } from '../types.ts';
import { AtssAssigner } from './atss.ts';
import { PaaAssigner, paaAssign } from './paa.ts';

const C = 3;

function cfg(o: Partial<DetectorConfig> = {}): DetectorConfig {
  return {
    kind: 'gfl',
    numClasses: C,
    backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' },
    channels: 16,
    numLevels: 3,
    stackedConvs: 1,
    ...o,
  };
}

function batch(): Batch {
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
  const b0 = [
    [8, 8, 40, 36],
    [30, 20, 60, 50],
  ];
  const b1 = [[10, 12, 50, 44]];
  return {
    images: rand([2, 3, 64, 64]).mul(255),
    metas: [meta(1), meta(2)],
    gtBoxes: [tensor(b0), tensor(b1)],
    gtLabels: [tensor([0, 2], { dtype: 'int64' }), tensor([1], { dtype: 'int64' })],
    ignoreBoxes: [tensor([], { shape: [0, 4] }), tensor([], { shape: [0, 4] })],
  };
}

test("assigner 'paa': the detector assigns from its own predictions, exactly as paaAssign", () =>
  tidy(() => {
    manualSeed(1);
    const d = buildDetector(cfg({ assigner: 'paa' }));
    assert.ok(d.spec.kind === 'gfl' && d.spec.assigner instanceof PaaAssigner);
    const b = batch();
    const gts = DenseDetector.gts(b);
    const fwd = d.forward(b.images, b.metas);
    const got = d.assign(fwd, gts).assignments;
    const cls = flattenLevels(fwd.head.clsScores, C);
    const reg = flattenLevels(fwd.head.bboxPreds, fwd.head.bboxPreds[0]!.size(1));
    for (let i = 0; i < 2; i++) {
      const want = paaAssign(
        fwd.priors,
        cls.select(0, i),
        d.decode(fwd.priors.boxes, reg.select(0, i)),
        gts[i]!,
        C,
      );
      assert.deepEqual(got[i]!.gtIndex.toArray(), want.gtIndex.toArray());
      assert.deepEqual(got[i]!.labels.toArray(), want.labels.toArray());
      // Every GT has positives, each labelled with its GT's class; the rest are background (C).
      const gi = got[i]!.gtIndex.toArray();
      const lab = got[i]!.labels.toArray();
      const gl = gts[i]!.labels.toArray();
      for (let g = 0; g < gl.length; g++) assert.ok(gi.includes(g), `image ${i} GT ${g} has a positive`);
      gi.forEach((g, a) => {
        assert.equal(lab[a], g >= 0 ? gl[g] : C);
        assert.ok(g >= 0 || g === BACKGROUND, 'no ignored priors without crowd boxes');
      });
    }
    // It is not ATSS's assignment (same priors, same boxes).
    const atss = gts.map((g) => new AtssAssigner({ topk: 9 }).assign(fwd.priors, g, C));
    assert.notDeepEqual(
      got.map((a) => a.gtIndex.toArray()),
      atss.map((a) => a.gtIndex.toArray()),
    );
  }));

test("assigner 'paa': a training step gives finite losses and gradients", () =>
  tidy(() => {
    manualSeed(1);
    const d = buildDetector(cfg({ assigner: 'paa' }));
    const losses = enableGrad(() => d.losses(batch()));
    const total = Object.values(losses).reduce((a, b) => a.add(b));
    for (const [k, v] of Object.entries(losses)) assert.ok(Number.isFinite(v.item()), `${k} finite`);
    assert.ok(losses.loss_bbox!.item() > 0, 'positives give a box loss');
    enableGrad(() => total.backward());
    const g = d.head.parameters().map((p) => p.grad?.abs().sum().item() ?? 0);
    assert.ok(g.every(Number.isFinite) && g.some((x) => x > 0));
  }));

test('PaaAssigner without predictions, and assigner options on detectors that cannot take them, are refused', () => {
  assert.throws(
    () => tidy(() => new PaaAssigner().assign({} as never, {} as never, C)),
    /needs the detector's class logits/,
  );
  assert.throws(() => buildDetector(cfg({ kind: 'fcos', assigner: 'paa' })), DetkdError);
  assert.throws(() => buildDetector(cfg({ kind: 'retina', assigner: 'atss' })), /only 'atss' and 'gfl'/);
  assert.throws(() => buildDetector(cfg({ paa: { topk: 5 } })), /model.paa is set/);
});
