// The RPN against torchvision 0.14's rpn.py and anchor_utils.py (scripts/fixtures/rpn_oracle.py):
// rounded anchors, RPNHead outputs and their flattening, filter_proposals (train, test, and a
// setting where nothing survives), assign_targets_to_anchors with its regression targets, the
// balanced sampler replaying the recorded torch.randperm draws, and compute_loss with gradients.
// Then properties: no GT, one GT (ties), the mmdet claiming rule and minPosIou, the mmdet coder and
// float anchors, minSize comparisons and top-n, the sampler with few positives, the L1 box loss.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertBits, assertGemmOracle, loadOracle } from '../../../test/support/oracle.ts';
import { native } from '../../core/native.ts';
import { type Tensor, tensor, tidy, zeros } from '../../core/tensor.ts';
import { AnchorGenerator, rpnAnchors } from '../priors/anchors.ts';
import type { IndexSource } from '../samplers/random-sampler.ts';
import {
  filterProposals,
  flattenRpnOutputs,
  RpnHead,
  rpnAssign,
  rpnDecode,
  rpnEncode,
  rpnLoss,
  sampleRpnAnchors,
} from './rpn.ts';

native.setNumThreads(1);
const oracle = loadOracle('rpn');
const cfg = oracle.json<{
  image: [number, number];
  imageSizes: [number, number][];
  strides: number[];
  sizes: number[];
  numPerLevel: number[];
  batchSizePerImage: number;
  positiveFraction: number;
}>('config');
const featSizes = cfg.strides.map((s) => [cfg.image[0] / s, cfg.image[1] / s] as [number, number]);

test('rpnAnchors (rounded) equal torchvision AnchorGenerator bit for bit', () => {
  tidy(() => {
    const pri = rpnAnchors({ strides: cfg.strides, sizes: cfg.sizes }).gridPriors(featSizes);
    assertBits(pri.boxes, oracle.get('anchors'), 'anchors');
    assert.deepEqual(pri.numPerLevel, cfg.numPerLevel);
  });
});

test('rpnAnchors rounded: false keeps the float base anchors (mmdet), within 0.5 of the rounded ones', () => {
  tidy(() => {
    const f = rpnAnchors({ strides: cfg.strides, sizes: cfg.sizes, rounded: false }).gridPriors(
      featSizes,
    ).boxes;
    const r = oracle.get('anchors');
    assert.ok(f.sub(r).abs().amax().item() <= 0.5);
    assert.ok(f.ne(r).any().item() === 1, 'sizes 23/45/90 make rounding visible');
    assert.ok(f.ne(f.round()).any().item() === 1);
  });
});

test('RpnHead with torchvision weights: per-level outputs; flattenRpnOutputs: anchor order', () => {
  tidy(() => {
    const head = new RpnHead(4, 3);
    const sd = new Map<string, Tensor>();
    for (const [k, t] of oracle.prefixed('head.')) {
      if (k.startsWith('obj') || k.startsWith('del')) continue;
      sd.set(k.replace('conv.0.0.', 'conv.'), t);
    }
    head.loadStateDict(sd);
    const feats = [0, 1, 2].map((l) => oracle.get(`feat${l}`));
    const out = head.forward(feats);
    for (let l = 0; l < 3; l++) {
      assertGemmOracle(out.objectness[l] as Tensor, oracle.get(`head.obj${l}`), `objectness ${l}`);
      assertGemmOracle(out.deltas[l] as Tensor, oracle.get(`head.del${l}`), `deltas ${l}`);
    }
    const flat = flattenRpnOutputs(
      [0, 1, 2].map((l) => oracle.get(`head.obj${l}`)),
      [0, 1, 2].map((l) => oracle.get(`head.del${l}`)),
    );
    assertBits(flat.objectness, oracle.get('objectness'), 'flattened objectness');
    assertBits(flat.deltas.mul(40).slice(1, 5), oracle.get('deltas').slice(1, 5), 'flattened deltas');
  });
});

test('RpnHead init: weights N(0, 0.01^2), biases 0', () => {
  tidy(() => {
    const head = new RpnHead(64, 3);
    for (const [k, p] of head.namedParameters()) {
      if (k.endsWith('bias')) assert.equal(p.abs().amax().item(), 0, k);
      else assert.ok(Math.abs(p.std().item() - 0.01) < 0.003, `${k} std ${p.std().item()}`);
    }
  });
});

test('rpnDecode (torchvision coder) equals BoxCoder.decode, clamp of dw/dh included', () => {
  tidy(() => {
    const a = oracle.get('anchors');
    const d = oracle.get('deltas');
    assertBits(rpnDecode(a.unsqueeze(0), d), oracle.get('decoded'), 'decoded');
  });
});

interface PropCase {
  preNmsTopN: number;
  postNmsTopN: number;
  scoreThresh: number;
  minSize: number;
  nmsThresh: number;
}
for (const [name, c] of Object.entries(oracle.cases<PropCase>())) {
  test(`filterProposals ${name}: boxes and scores equal torchvision's filter_proposals`, () => {
    tidy(() => {
      const res = filterProposals(
        oracle.get('anchors'),
        oracle.get('objectness'),
        oracle.get('deltas'),
        cfg.numPerLevel,
        cfg.imageSizes,
        c,
      );
      res.forEach((r, i) => {
        assertBits(r.boxes, oracle.get(`prop.${name}.${i}.boxes`), `image ${i} boxes`);
        assertBits(r.scores, oracle.get(`prop.${name}.${i}.scores`), `image ${i} scores`);
      });
      if (name === 'none') assert.ok(res.every((r) => r.boxes.size(0) === 0));
    });
  });
}

test('rpnAssign equals assign_targets_to_anchors (labels, matched boxes), rpnEncode the targets', () => {
  tidy(() => {
    const a = oracle.get('anchors');
    for (let i = 0; i < 2; i++) {
      const r = rpnAssign(a, oracle.get(`gt${i}`));
      assertBits(r.labels, oracle.get(`assign.${i}.labels`), `labels ${i}`);
      assertBits(r.matchedBoxes, oracle.get(`assign.${i}.matched`), `matched ${i}`);
      assertBits(rpnEncode(a, r.matchedBoxes), oracle.get(`assign.${i}.targets`), `targets ${i}`);
    }
  });
});

function replay(): IndexSource {
  let k = 0;
  return (n) => {
    const p = oracle.get(`perm${k++}`);
    assert.equal(p.size(0), n, 'the permutation drawn for the same candidate count');
    return p;
  };
}

test('sampleRpnAnchors + rpnLoss with the recorded permutations equal compute_loss and its gradients', () => {
  tidy(() => {
    const a = oracle.get('anchors');
    const perm = replay();
    const labels: Tensor[] = [];
    const targets: Tensor[] = [];
    const samples = [0, 1].map((i) => {
      const r = rpnAssign(a, oracle.get(`gt${i}`));
      labels.push(r.labels);
      targets.push(rpnEncode(a, r.matchedBoxes));
      const s = sampleRpnAnchors(r.labels, {
        batchSizePerImage: cfg.batchSizePerImage,
        positiveFraction: cfg.positiveFraction,
        source: perm,
        image: i,
      });
      assert.ok(s.pos.sum().item() <= 16 && s.pos.sum().item() + s.neg.sum().item() === 32);
      return s;
    });
    const ob = oracle.get('objectness').clone().requiresGrad_(true);
    const de = oracle.get('deltas').clone().requiresGrad_(true);
    const loss = rpnLoss(ob, de, labels, targets, samples);
    assertBits(loss.objectness, oracle.get('loss.objectness'), 'objectness loss');
    assertBits(loss.box, oracle.get('loss.box'), 'box loss');
    loss.objectness.add(loss.box.mul(2)).backward();
    assertBits(ob.grad as Tensor, oracle.get('loss.grad_objectness'), 'objectness gradient');
    assertBits(de.grad as Tensor, oracle.get('loss.grad_deltas'), 'delta gradient');
  });
});

test('no GT: every anchor negative, matched boxes zero, the box loss 0 with a gradient path', () => {
  tidy(() => {
    const a = oracle.get('anchors');
    const r = rpnAssign(a, zeros([0, 4]));
    assert.equal(r.labels.abs().sum().item(), 0);
    assert.equal(r.matchedBoxes.abs().sum().item(), 0);
    assert.equal(r.gtIndex.ge(0).sum().item(), 0);
    const s = sampleRpnAnchors(r.labels, {
      batchSizePerImage: 8,
      source: (n) => tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(i))),
    });
    assert.equal(s.pos.sum().item(), 0);
    assert.equal(s.neg.sum().item(), 8);
    const ob = oracle.get('objectness').slice(0, 0, 1).clone().requiresGrad_(true);
    const de = oracle.get('deltas').slice(0, 0, 1).clone().requiresGrad_(true);
    const loss = rpnLoss(ob, de, [r.labels], [rpnEncode(a, r.matchedBoxes)], [s]);
    assert.equal(loss.box.item(), 0);
    assert.ok(Number.isFinite(loss.objectness.item()));
    loss.objectness.add(loss.box).backward();
    assert.equal((ob.grad as Tensor).ne(0).sum().item(), 8);
    assert.equal((de.grad as Tensor).abs().sum().item(), 0);
  });
});

test('one GT: all its tied best anchors are positive; the claiming rule agrees; minPosIou can drop them', () => {
  tidy(() => {
    const a = oracle.get('anchors');
    const gt = oracle.get('gt1'); // 10x10: no anchor reaches 0.7, only low-quality matches
    const tv = rpnAssign(a, gt);
    const npos = tv.labels.eq(1).sum().item();
    assert.ok(npos > 1, 'tied best anchors are all positive');
    assert.equal(tv.gtIndex.eq(0).sum().item(), npos);
    const mm = rpnAssign(a, gt, { lowQualityGt: 'claiming' });
    assertBits(mm.labels, tv.labels, 'one GT: the two rules agree');
    assertBits(mm.gtIndex, tv.gtIndex, 'one GT: the same GT index');
    // its best IoU is about 0.19: mmdet's minPosIou 0.3 leaves it without an anchor
    const none = rpnAssign(a, gt, { lowQualityGt: 'claiming', minPosIou: 0.3 });
    assert.equal(none.labels.eq(1).sum().item(), 0);
    const off = rpnAssign(a, gt, { matchLowQuality: false });
    assert.equal(off.labels.eq(1).sum().item(), 0);
  });
});

test("claiming: an anchor tied at two GTs' best goes to the later GT; argmax: to its best GT", () => {
  tidy(() => {
    const a = tensor([
      [0, 0, 10, 10],
      [20, 0, 30, 10],
    ]).float();
    // both GTs have their best IoU at anchor 0 (0.5 and 0.25); anchor 1 overlaps neither
    const gt = tensor([
      [0, 0, 10, 5],
      [5, 0, 10, 5],
    ]).float();
    assert.deepEqual(rpnAssign(a, gt).gtIndex.toArray(), [0, -1]);
    assert.deepEqual(rpnAssign(a, gt, { lowQualityGt: 'claiming' }).gtIndex.toArray(), [1, -1]);
  });
});

test("rpnLoss boxLoss 'l1' is sum |d - t| over positives / #sampled", () => {
  tidy(() => {
    const ob = zeros([1, 4]);
    const de = tensor([
      [
        [1, 2, 3, 4],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
        [0, 0, 0, 0],
      ],
    ]).float();
    const t = zeros([4, 4]);
    const lab = tensor([1, 0, 0, -1]).float();
    const s = { pos: tensor([1, 0, 0, 0]).bool(), neg: tensor([0, 1, 1, 0]).bool() };
    const l = rpnLoss(ob, de, [lab], [t], [s], { boxLoss: 'l1' });
    assert.equal(l.box.item(), Math.fround(10 / 3));
    assert.ok(Math.abs(l.objectness.item() - Math.log(2)) < 1e-6);
  });
});

test("rpnDecode 'mmdet' agrees with the torchvision coder to rounding where no clamp acts", () => {
  tidy(() => {
    const a = oracle.get('anchors');
    const d = oracle.get('deltas').select(0, 1).clamp(-4, 4); // |dw|, |dh| < log(1000/16)
    const tv = rpnDecode(a, d);
    const mm = rpnDecode(a, d, 'mmdet');
    assert.ok(tv.sub(mm).abs().amax().item() <= 1e-4 * tv.abs().amax().item());
    const back = rpnEncode(a, tv, 'mmdet');
    assert.ok(back.sub(d).abs().amax().item() < 1e-3);
  });
});

test("rpnAnchors({ rounded: false }) equals mmdet's RPN anchors (scales [8], base size = stride)", () => {
  tidy(() => {
    const mine = rpnAnchors({ strides: [4, 8, 16], rounded: false }).gridPriors(featSizes).boxes;
    const mm = new AnchorGenerator({ strides: [4, 8, 16], ratios: [0.5, 1, 2], scales: [8] }).gridPriors(
      featSizes,
    );
    assert.ok(mine.sub(mm.boxes).abs().amax().item() <= 1e-5);
  });
});

test("filterProposals: minSizeCmp 'gt' with minSize 0 drops zero-width boxes that 'ge' keeps", () => {
  tidy(() => {
    const anchors = tensor([
      [0, 0, 10, 10],
      [-30, 0, -20, 10],
      [40, 40, 60, 60],
    ]).float();
    const ob = tensor([[3, 2, 1]]).float();
    const de = zeros([1, 3, 4]);
    const o = { preNmsTopN: 10, postNmsTopN: 10, minSize: 0 };
    // anchor 1 lies left of the image: clipped to zero width
    const ge = filterProposals(anchors, ob, de, [3], [[50, 50]], o)[0];
    const gt = filterProposals(anchors, ob, de, [3], [[50, 50]], { ...o, minSizeCmp: 'gt' })[0];
    assert.equal(ge?.boxes.size(0), 3);
    assert.equal(gt?.boxes.size(0), 2);
    assert.deepEqual(gt?.boxes.toArray(), [0, 0, 10, 10, 40, 40, 50, 50]);
    const top1 = filterProposals(anchors, ob, de, [3], [[50, 50]], { ...o, postNmsTopN: 1 })[0];
    assert.deepEqual(top1?.boxes.toArray(), [0, 0, 10, 10]);
  });
});

test('sampleRpnAnchors: fewer positives than half the batch are all taken, negatives fill the rest', () => {
  tidy(() => {
    const labels = tensor([1, 0, -1, 0, 1, 0, 0, 0, 0, 0]).float();
    const rev = (n: number): Tensor => tensor(BigInt64Array.from({ length: n }, (_, i) => BigInt(n - 1 - i)));
    const s = sampleRpnAnchors(labels, { batchSizePerImage: 6, positiveFraction: 0.5, source: rev });
    assert.deepEqual(s.pos.toArray(), [1, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    // 4 negatives: the last 4 of the 7 candidates (reversed permutation)
    assert.deepEqual(s.neg.toArray(), [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
  });
});
