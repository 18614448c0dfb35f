// RoI sampling for a two-stage detector's box head, as a value: proposals (plus the GT boxes while
// training) are matched to the GT at one IoU threshold, a fixed number per image is drawn at a
// fixed positive fraction, and each drawn RoI gets its class label, matched GT box and encoded
// regression target. torchvision 0.14 (roi_heads.py select_training_samples) and mmdet 2.x
// (MaxIoUAssigner + RandomSampler) differ only in settings, all of them options here:
// - GT boxes appended after the proposals (torchvision) or put in front (mmdet);
// - the drawn RoIs kept in proposal order (torchvision) or positives first (mmdet);
// - background label 0 with classes 1..N (torchvision) or N with classes 0..N-1 (mmdet);
// - background RoIs' targets encoded against the GT their index clamps to (torchvision; a zero
//   box when the image has no GT) or zeros (mmdet). Neither loss reads them.
// The random draws are the shared randomSample (samplers/random-sampler.ts) from an IndexSource, so a
// test can replay another library's permutations.

import { cat, noGrad, type Tensor, tidy, where, zeros } from '../../core/tensor.ts';
import { MaxIoUAssigner } from '../assigners/max-iou.ts';
import { DeltaXYWHBBoxCoder, type Vec4 } from '../coders/delta-xywh.ts';
import { type IndexSource, randomSample } from '../samplers/random-sampler.ts';
import { BACKGROUND } from '../types.ts';

/** Where the background class sits: 'first' = 0 with classes 1..N; 'last' = N with classes 0..N-1. */
export type BackgroundIndex = 'first' | 'last';

/** The label index of background for numClasses foreground classes. */
export function backgroundLabel(bg: BackgroundIndex, numClasses: number): number {
  return bg === 'first' ? 0 : numClasses;
}

export interface RoiSamplerOptions {
  /** RoIs with max IoU >= this are foreground (default 0.5). */
  posIouThr?: number;
  /** RoIs with max IoU < this are background (default 0.5; between the two: ignored). */
  negIouThr?: number;
  /** RoIs drawn per image (default 512). */
  batchSizePerImage?: number;
  /** Largest share of positives (default 0.25; the rest are filled with negatives). */
  positiveFraction?: number;
  /** GT boxes as extra proposals: 'append' (torchvision), 'prepend' (mmdet) or 'none'. Default 'append'. */
  addGt?: 'append' | 'prepend' | 'none';
  /** 'index' (torchvision: ascending proposal index) or 'posFirst' (mmdet). Default 'index'. */
  order?: 'index' | 'posFirst';
  /** Default 'first' (torchvision). */
  background?: BackgroundIndex;
  /** Targets of background RoIs: 'matched' (torchvision) or 'zero' (mmdet). Default 'matched'. */
  backgroundTargets?: 'matched' | 'zero';
  /** Delta coder target stds (default 0.1, 0.1, 0.2, 0.2 = torchvision's weights 10, 10, 5, 5). */
  targetStds?: Vec4;
  /** Delta coder target means (default 0). */
  targetMeans?: Vec4;
}

export interface SampledRois {
  /** [S, 4] xyxy, the drawn RoIs (proposals or GT boxes). */
  rois: Tensor;
  /** [S] int64 class labels, background = backgroundLabel(...). */
  labels: Tensor;
  /** [S] int64 matched GT index, BACKGROUND (-1) for background RoIs. */
  gtIndex: Tensor;
  /** [S, 4] the matched GT box (as in `backgroundTargets` for background RoIs). */
  matchedGtBoxes: Tensor;
  /** [S, 4] regression targets of rois towards matchedGtBoxes. */
  targets: Tensor;
  numPos: number;
}

/**
 * One image: proposals [P, 4] xyxy, gtBoxes [G, 4], gtLabels [G] int64 contiguous 0..N-1,
 * numClasses N. No gradient.
 */
export function sampleRois(
  proposals: Tensor,
  gtBoxes: Tensor,
  gtLabels: Tensor,
  numClasses: number,
  source: IndexSource,
  image = 0,
  o: RoiSamplerOptions = {},
): SampledRois {
  const batch = o.batchSizePerImage ?? 512;
  const fraction = o.positiveFraction ?? 0.25;
  const addGt = o.addGt ?? 'append';
  const bg = backgroundLabel(o.background ?? 'first', numClasses);
  return noGrad(() =>
    tidy(() => {
      const dev = proposals.device;
      const gt = gtBoxes.to(proposals.dtype);
      const boxes =
        addGt === 'append'
          ? cat([proposals, gt], 0)
          : addGt === 'prepend'
            ? cat([gt, proposals], 0)
            : proposals; // [A, 4]
      const assigner = new MaxIoUAssigner({
        posIouThr: o.posIouThr ?? 0.5,
        negIouThr: o.negIouThr ?? 0.5,
        matchLowQuality: false,
      });
      const a = assigner.assign(
        {
          kind: 'anchor',
          boxes,
          numPerLevel: [boxes.size(0)],
          levelOffsets: [0],
          strides: [1],
          featSizes: [[1, boxes.size(0)]],
          perLocation: 1,
        },
        { boxes: gt, labels: gtLabels },
        numClasses,
      );
      const positive = a.gtIndex.ge(0).nonzero().flatten(); // [P+]
      const negative = a.gtIndex.eq(BACKGROUND).nonzero().flatten(); // [P-]
      const drawn = randomSample(positive, negative, {
        batchSize: batch,
        positiveFraction: fraction,
        source,
        image,
      });
      const nPos = drawn.pos.size(0);
      let picked = cat([drawn.pos, drawn.neg], 0); // [S]
      if ((o.order ?? 'index') === 'index') picked = picked.sort(0).values;
      const rois = boxes.at(picked);
      const gtIndex = a.gtIndex.at(picked);
      const isPos = gtIndex.ge(0);
      const G = gt.size(0);
      const labelOffset = (o.background ?? 'first') === 'first' ? 1 : 0;
      const labels =
        G === 0
          ? zeros([rois.size(0)], { dtype: 'int64', device: dev }).add(bg)
          : where(isPos, gtLabels.at(gtIndex.clampMin(0)).add(labelOffset), bg);
      const gtOrZero = G === 0 ? zeros([1, 4], { dtype: gt.dtype, device: dev }) : gt;
      let matched = gtOrZero.at(gtIndex.clampMin(0)); // [S, 4]
      const coder = new DeltaXYWHBBoxCoder({
        means: o.targetMeans ?? [0, 0, 0, 0],
        stds: o.targetStds ?? [0.1, 0.1, 0.2, 0.2],
      });
      let targets = coder.encode(rois, matched);
      if ((o.backgroundTargets ?? 'matched') === 'zero') {
        const m = isPos.unsqueeze(1);
        matched = where(m, matched, 0);
        targets = where(m, targets, 0);
      }
      return {
        rois,
        labels,
        gtIndex: where(isPos, gtIndex, BACKGROUND),
        matchedGtBoxes: matched,
        targets,
        numPos: nPos,
      };
    }),
  );
}

/** The sampled RoIs of a batch, images concatenated in order: what the box head and its loss take. */
export interface BatchSampledRois {
  /** [S, 5] (image index, x1, y1, x2, y2), as MultiScaleRoIAlign takes them. */
  rois: Tensor;
  /** [S] int64. */
  labels: Tensor;
  /** [S] int64, per image's GT (BACKGROUND for background RoIs). */
  gtIndex: Tensor;
  /** [S, 4]. */
  targets: Tensor;
  /** RoIs drawn per image. */
  numPerImage: number[];
  /** Positives drawn per image. */
  numPosPerImage: number[];
}

/**
 * sampleRois for every image of a batch (image i draws with `image = i`), concatenated.
 * proposals[i] [P_i, 4]; gt[i] boxes [G_i, 4], labels [G_i] int64 0..N-1. No gradient.
 */
export function sampleRoisBatch(
  proposals: readonly Tensor[],
  gt: readonly { boxes: Tensor; labels: Tensor }[],
  numClasses: number,
  source: IndexSource,
  o: RoiSamplerOptions = {},
): BatchSampledRois {
  if (proposals.length !== gt.length)
    throw new RangeError(`sampleRoisBatch: ${proposals.length} proposal sets for ${gt.length} images`);
  return noGrad(() =>
    tidy(() => {
      const per = proposals.map((p, i) => {
        const g = gt[i] as { boxes: Tensor; labels: Tensor };
        return sampleRois(p, g.boxes, g.labels, numClasses, source, i, o);
      });
      const rois = per.map((s, i) =>
        cat([zeros([s.rois.size(0), 1], { dtype: s.rois.dtype, device: s.rois.device }).add(i), s.rois], 1),
      );
      return {
        rois: cat(rois, 0),
        labels: cat(
          per.map((s) => s.labels),
          0,
        ),
        gtIndex: cat(
          per.map((s) => s.gtIndex),
          0,
        ),
        targets: cat(
          per.map((s) => s.targets),
          0,
        ),
        numPerImage: per.map((s) => s.rois.size(0)),
        numPosPerImage: per.map((s) => s.numPos),
      };
    }),
  );
}
