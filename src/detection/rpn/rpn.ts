// The Region Proposal Network of Faster R-CNN (Ren et al. 2015), as torchvision 0.14's
// models/detection/rpn.py and mmdetection 2.x's RPNHead, with every setting where the two differ an
// explicit option (defaults are torchvision's):
//   RpnHead: shared 3x3 conv + ReLU, 1x1 objectness (A per location), 1x1 deltas (4A), weights
//     N(0, 0.01^2) and zero biases in both.
//   filterProposals: per image and level the pre-NMS top-n by objectness, decode, clip to the
//     image, drop small boxes and low scores, NMS per level, keep the post-NMS top-n by score.
//   rpnAssign: max-IoU matching (0.7 / 0.3) with low-quality matches, as a value.
//   sampleRpnAnchors: the shared random positive/negative sampler (samplers/), as masks.
//   rpnLoss: BCE with logits over the sampled anchors, box loss over the positives / #sampled.
import { batchedNms, boxIou } from '../../core/box-ops.ts';
import { binaryCrossEntropyWithLogits, l1Loss, relu, smoothL1Loss } from '../../core/functional.ts';
import { cat, full, noGrad, stack, type Tensor, tensor, tidy, where, zeros } from '../../core/tensor.ts';
import { Conv2d } from '../../nn/conv.ts';
import { normalInit } from '../../nn/init.ts';
import { Module } from '../../nn/module.ts';
import { deltaXYWHDecode, deltaXYWHEncode } from '../coders/delta-xywh.ts';
import { type IndexSource, randomSample } from '../samplers/random-sampler.ts';

// ------------------------------------------------------------------------------------------ head

export interface RpnHeadOptions {
  /** Std of the normal weight init of the three convs (torchvision and mmdet: 0.01); biases 0. */
  initStd?: number;
}

/** x per level [N, C, H, W] -> objectness [N, A, H, W] and deltas [N, 4A, H, W] per level. */
export class RpnHead extends Module {
  readonly conv: Conv2d;
  readonly clsLogits: Conv2d;
  readonly bboxPred: Conv2d;
  constructor(
    readonly inChannels: number,
    readonly numAnchors: number,
    o: RpnHeadOptions = {},
  ) {
    super();
    this.conv = this.register('conv', new Conv2d(inChannels, inChannels, 3, { padding: 1 }));
    this.clsLogits = this.register('cls_logits', new Conv2d(inChannels, numAnchors, 1));
    this.bboxPred = this.register('bbox_pred', new Conv2d(inChannels, 4 * numAnchors, 1));
    for (const m of [this.conv, this.clsLogits, this.bboxPred])
      normalInit(m, { std: o.initStd ?? 0.01, bias: 0 });
  }

  forward(feats: readonly Tensor[]): { objectness: Tensor[]; deltas: Tensor[] } {
    const objectness: Tensor[] = [];
    const deltas: Tensor[] = [];
    for (const f of feats) {
      const t = relu(this.conv.forward(f));
      objectness.push(this.clsLogits.forward(t));
      deltas.push(this.bboxPred.forward(t));
    }
    return { objectness, deltas };
  }
}

/**
 * The head's outputs in anchor order (level, y, x, anchor): objectness [N, sum H*W*A] and deltas
 * [N, sum H*W*A, 4] (torchvision's concat_box_prediction_layers, per image).
 */
export function flattenRpnOutputs(
  objectness: readonly Tensor[],
  deltas: readonly Tensor[],
): { objectness: Tensor; deltas: Tensor } {
  return tidy(() => {
    const flat = (t: Tensor, c: number): Tensor => {
      const [n, ac, h, w] = t.shape as [number, number, number, number];
      return t
        .view(n, ac / c, c, h, w)
        .permute(0, 3, 4, 1, 2)
        .reshape(n, -1, c);
    };
    return {
      objectness: cat(
        objectness.map((t) => flat(t, 1)),
        1,
      ).squeeze(2),
      deltas: cat(
        deltas.map((t) => flat(t, 4)),
        1,
      ),
    };
  });
}

// ----------------------------------------------------------------------------------------- coder

/**
 * Which delta coder: 'torchvision' (BoxCoder, weights (1,1,1,1): centres x1 + 0.5 w, dw and dh
 * clamped above only at log(1000/16)) or 'mmdet' (DeltaXYWHBBoxCoder: centres (x1 + x2) / 2,
 * dw and dh clamped to +-log(1000/16)). The two agree to rounding for |dw|, |dh| < 4.1.
 */
export type RpnCoderKind = 'torchvision' | 'mmdet';

const XFORM_CLIP = Math.log(1000 / 16);

/** anchors [..., 4], deltas [..., 4] -> boxes [..., 4] xyxy (no clipping). */
export function rpnDecode(anchors: Tensor, deltas: Tensor, kind: RpnCoderKind = 'torchvision'): Tensor {
  if (kind === 'mmdet') return deltaXYWHDecode(anchors, deltas);
  return tidy(() => {
    const a = anchors.to(deltas.dtype);
    const [x1, y1, x2, y2] = a.unbind(-1) as [Tensor, Tensor, Tensor, Tensor];
    const w = x2.sub(x1);
    const h = y2.sub(y1);
    const cx = w.mul(0.5).add(x1);
    const cy = h.mul(0.5).add(y1);
    const [dx, dy, dw, dh] = deltas.unbind(-1) as [Tensor, Tensor, Tensor, Tensor];
    const pcx = dx.mul(w).add(cx);
    const pcy = dy.mul(h).add(cy);
    const pw = dw.clampMax(XFORM_CLIP).exp().mul(w);
    const ph = dh.clampMax(XFORM_CLIP).exp().mul(h);
    const hw = pw.mul(0.5);
    const hh = ph.mul(0.5);
    return stack([pcx.sub(hw), pcy.sub(hh), pcx.add(hw), pcy.add(hh)], -1);
  });
}

/** anchors [A, 4], gt [A, 4] xyxy -> regression targets [A, 4]. */
export function rpnEncode(anchors: Tensor, gt: Tensor, kind: RpnCoderKind = 'torchvision'): Tensor {
  if (kind === 'mmdet') return deltaXYWHEncode(anchors, gt);
  return tidy(() => {
    const [ax1, ay1, ax2, ay2] = anchors.unbind(-1) as [Tensor, Tensor, Tensor, Tensor];
    const [gx1, gy1, gx2, gy2] = gt.unbind(-1) as [Tensor, Tensor, Tensor, Tensor];
    const aw = ax2.sub(ax1);
    const ah = ay2.sub(ay1);
    const acx = aw.mul(0.5).add(ax1);
    const acy = ah.mul(0.5).add(ay1);
    const gw = gx2.sub(gx1);
    const gh = gy2.sub(gy1);
    const gcx = gw.mul(0.5).add(gx1);
    const gcy = gh.mul(0.5).add(gy1);
    return stack([gcx.sub(acx).div(aw), gcy.sub(acy).div(ah), gw.div(aw).log(), gh.div(ah).log()], -1);
  });
}

// ------------------------------------------------------------------------------------- proposals

export interface FilterProposalsOptions {
  /** Top-n anchors per level by objectness before NMS (torchvision: 2000 train, 1000 test). */
  preNmsTopN: number;
  /** Proposals kept per image after NMS (torchvision: 2000 train, 1000 test). */
  postNmsTopN: number;
  /** NMS IoU threshold (0.7). */
  nmsThresh?: number;
  /** Boxes with a side below minSize are dropped (torchvision 1e-3, mmdet 0). */
  minSize?: number;
  /** Side comparison: keep side >= minSize ('ge', torchvision) or side > minSize ('gt', mmdet). */
  minSizeCmp?: 'ge' | 'gt';
  /** Sigmoid scores below this are dropped (torchvision 0). */
  scoreThresh?: number;
  coder?: RpnCoderKind;
}

/**
 * anchors [A, 4] (the same for every image), objectness [N, A] logits, deltas [N, A, 4], anchors
 * per level, image sizes [h, w] per image -> per image proposals [n, 4] xyxy and sigmoid scores
 * [n], by descending score. No gradient flows (the proposals are detached, as in both references).
 */
export function filterProposals(
  anchors: Tensor,
  objectness: Tensor,
  deltas: Tensor,
  numPerLevel: readonly number[],
  imageSizes: readonly (readonly [number, number])[],
  o: FilterProposalsOptions,
): { boxes: Tensor; scores: Tensor }[] {
  const nmsThresh = o.nmsThresh ?? 0.7;
  const minSize = o.minSize ?? 1e-3;
  const scoreThresh = o.scoreThresh ?? 0;
  return noGrad(() =>
    imageSizes.map(([h, w], i) =>
      tidy(() => {
        const ob = objectness.select(0, i);
        const idx: Tensor[] = [];
        const lvl: Tensor[] = [];
        let off = 0;
        numPerLevel.forEach((n, l) => {
          const k = Math.min(o.preNmsTopN, n);
          const top = ob
            .slice(0, off, off + n)
            .topk(k, 0)
            .indices.add(off);
          idx.push(top);
          lvl.push(full([k], l, { dtype: 'int64', device: ob.device }));
          off += n;
        });
        const keepIdx = cat(idx, 0);
        let levels = cat(lvl, 0);
        let scores = ob.at(keepIdx).sigmoid();
        let boxes = rpnDecode(anchors.at(keepIdx), deltas.select(0, i).at(keepIdx), o.coder);
        const [x1, y1, x2, y2] = boxes.unbind(-1) as [Tensor, Tensor, Tensor, Tensor];
        boxes = stack([x1.clamp(0, w), y1.clamp(0, h), x2.clamp(0, w), y2.clamp(0, h)], -1);
        const bw = boxes.select(1, 2).sub(boxes.select(1, 0));
        const bh = boxes.select(1, 3).sub(boxes.select(1, 1));
        let keep =
          (o.minSizeCmp ?? 'ge') === 'ge'
            ? bw.ge(minSize).logicalAnd(bh.ge(minSize))
            : bw.gt(minSize).logicalAnd(bh.gt(minSize));
        keep = keep.logicalAnd(scores.ge(scoreThresh));
        boxes = boxes.at(keep);
        scores = scores.at(keep);
        levels = levels.at(keep);
        const kept = batchedNms(boxes, scores, levels, nmsThresh).slice(0, 0, o.postNmsTopN);
        return { boxes: boxes.at(kept), scores: scores.at(kept) };
      }),
    ),
  );
}

// ------------------------------------------------------------------------------------ assignment

export interface RpnAssignOptions {
  /** IoU >= this is positive (0.7). */
  posIouThr?: number;
  /** IoU < this is negative (0.3); between the two is ignored. */
  negIouThr?: number;
  /** Low-quality matches: each GT's best anchors become positive (true in both references). */
  matchLowQuality?: boolean;
  /**
   * Which GT a low-quality anchor gets: 'argmax' (torchvision's Matcher: the anchor's own best GT)
   * or 'claiming' (mmdet's MaxIoUAssigner: the last GT in index order whose best IoU it ties).
   */
  lowQualityGt?: 'argmax' | 'claiming';
  /** A GT claims its best anchors only when its best IoU >= this (torchvision 0: none; mmdet 0.3). */
  minPosIou?: number;
}

/** The RPN's assignment of one image, a value. */
export interface RpnAssignment {
  /** [A] float32: 1 positive, 0 negative, -1 ignored (torchvision's labels). */
  labels: Tensor;
  /** [A] int64: the matched GT of positives, -1 elsewhere. */
  gtIndex: Tensor;
  /** [A, 4]: the matched GT box of positives, GT 0's elsewhere (zeros without GT), as torchvision's. */
  matchedBoxes: Tensor;
}

/** anchors [A, 4], gtBoxes [G, 4] xyxy -> RpnAssignment. IoU is torchvision's box_iou. */
export function rpnAssign(anchors: Tensor, gtBoxes: Tensor, o: RpnAssignOptions = {}): RpnAssignment {
  return noGrad(() =>
    tidy(() => {
      const numA = anchors.size(0);
      const numG = gtBoxes.size(0);
      const dev = anchors.device;
      if (numG === 0) {
        return {
          labels: zeros([numA], { device: dev }),
          gtIndex: full([numA], -1, { dtype: 'int64', device: dev }),
          matchedBoxes: zeros([numA, 4], { device: dev }),
        };
      }
      const iou = boxIou(gtBoxes, anchors); // [G, A]
      const { values: best, indices: arg } = iou.maxDim(0); // [A]
      let labels = where(best.ge(o.posIouThr ?? 0.7), 1, where(best.lt(o.negIouThr ?? 0.3), 0, -1)).float();
      let gtIndex = arg;
      if (o.matchLowQuality ?? true) {
        const gtBest = iou.amax(1, true); // [G, 1]
        const claims = iou.eq(gtBest).logicalAnd(gtBest.ge(o.minPosIou ?? 0)); // [G, A]
        const claimed = claims.any(0); // [A]
        if ((o.lowQualityGt ?? 'argmax') === 'claiming') {
          const ids = tensor(
            BigInt64Array.from({ length: numG }, (_, g) => BigInt(g + 1)),
            { shape: [numG, 1], device: dev },
          );
          const last = where(claims, ids, 0).amax(0).sub(1); // [A]
          gtIndex = where(claimed, last, arg);
        }
        labels = where(claimed, 1, labels);
      }
      const pos = labels.eq(1);
      return {
        labels,
        gtIndex: where(pos, gtIndex, -1),
        matchedBoxes: gtBoxes.at(where(pos, gtIndex, 0)),
      };
    }),
  );
}

// --------------------------------------------------------------------------------------- sampler

export interface RpnSamplerOptions {
  /** Anchors sampled per image (256). */
  batchSizePerImage?: number;
  /** Largest fraction of positives (0.5). */
  positiveFraction?: number;
  /** The random draws: positives, then negatives, of each image in turn (randpermSource() to train). */
  source: IndexSource;
  /** The image's index in its batch, passed to the source (default 0). */
  image?: number;
}

/**
 * torchvision's BalancedPositiveNegativeSampler on one image's labels [A] (1 / 0 / -1): up to
 * batch * fraction positives, the rest negatives (the shared randomSample). Returns boolean masks [A].
 */
export function sampleRpnAnchors(labels: Tensor, o: RpnSamplerOptions): { pos: Tensor; neg: Tensor } {
  return noGrad(() =>
    tidy(() => {
      const s = randomSample(labels.ge(1).nonzero().view(-1), labels.eq(0).nonzero().view(-1), {
        batchSize: o.batchSizePerImage ?? 256,
        positiveFraction: o.positiveFraction ?? 0.5,
        source: o.source,
        image: o.image ?? 0,
      });
      const mask = (picked: Tensor): Tensor =>
        zeros([labels.size(0)], { dtype: 'bool', device: labels.device }).indexPut(
          [picked],
          tensor(true, { device: labels.device }),
        );
      return { pos: mask(s.pos), neg: mask(s.neg) };
    }),
  );
}

// ------------------------------------------------------------------------------------------ loss

export interface RpnLossOptions {
  /** 'smoothL1' (torchvision, beta 1/9) or 'l1' (mmdet). */
  boxLoss?: 'smoothL1' | 'l1';
  /** Smooth-L1 beta (1/9). */
  beta?: number;
}

/**
 * objectness [N, A] logits, deltas [N, A, 4], and per image labels [A], regression targets
 * [A, 4] and sampled masks -> { objectness: BCE mean over the sampled anchors, box: loss summed
 * over the positives / number sampled }. The sampled anchors are taken positives first, in anchor
 * order over the images (torchvision's order).
 */
export function rpnLoss(
  objectness: Tensor,
  deltas: Tensor,
  labels: readonly Tensor[],
  targets: readonly Tensor[],
  samples: readonly { pos: Tensor; neg: Tensor }[],
  o: RpnLossOptions = {},
): { objectness: Tensor; box: Tensor } {
  return tidy(() => {
    const pos = cat(
      samples.map((s) => s.pos),
      0,
    )
      .nonzero()
      .view(-1);
    const neg = cat(
      samples.map((s) => s.neg),
      0,
    )
      .nonzero()
      .view(-1);
    const sampled = cat([pos, neg], 0);
    const ob = objectness.reshape(-1);
    const d = deltas.reshape(-1, 4);
    const lab = cat([...labels], 0);
    const tgt = cat([...targets], 0);
    const pd = d.at(pos);
    const pt = tgt.at(pos);
    const sum =
      (o.boxLoss ?? 'smoothL1') === 'smoothL1'
        ? smoothL1Loss(pd, pt, { beta: o.beta ?? 1 / 9, reduction: 'sum' })
        : l1Loss(pd, pt, { reduction: 'sum' });
    return {
      objectness: binaryCrossEntropyWithLogits(ob.at(sampled), lab.at(sampled)),
      box: sum.div(sampled.size(0)),
    };
  });
}
