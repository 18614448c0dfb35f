// A two-stage detector (Faster R-CNN, Ren et al. 2015): backbone -> FPN -> RPN -> proposals ->
// MultiScaleRoIAlign -> box head -> per-class post-processing. Parts are typed and passed in
// (docs/architecture.md), like DenseDetector. `forward` returns the named intermediates (backbone
// and neck levels, RPN outputs, anchors, proposals) that distillation taps read, `roiHead(neck,
// rois)` the pooled RoI features and box head outputs, and `detect` the post-processed detections.
// Training (docs/two-stage.md): `assignRpn` and `sampleRoiTargets` compute the RPN assignment and
// the RoI sampling as values, `lossesFrom` takes them (so a teacher's can be handed in, as LAD does
// for dense detectors), and `losses` chains the three with torchvision's names. Defaults are
// torchvision 0.14's fasterrcnn_resnet50_fpn settings.
import { cat, noGrad, type Tensor, tidy, zeros } from '../core/tensor.ts';
import { Module } from '../nn/module.ts';
import type { ImageMeta } from '../structures/instances.ts';
import type { Batch } from '../structures/tensor-batch.ts';
import type { ResNet } from './backbones/resnet.ts';
import { dropDegenerateBoxes } from './detector.ts';
import type { FPN } from './necks/fpn.ts';
import { normalizeImages } from './normalize.ts';
import { type DetectionResult, toOriginal } from './postprocess.ts';
import type { AnchorGenerator } from './priors/anchors.ts';
import type { MultiScaleRoIAlign } from './roi/multi-scale-roi-align.ts';
import type { BoxHeadOutputs, Shared2FCBoxHead } from './roi-heads/bbox-head.ts';
import { type FastRcnnLossOptions, fastRcnnLoss } from './roi-heads/loss.ts';
import {
  postprocessDetections,
  type RoiDetections,
  type RoiPostprocessOptions,
} from './roi-heads/postprocess.ts';
import {
  type BackgroundIndex,
  type BatchSampledRois,
  backgroundLabel,
  type RoiSamplerOptions,
  sampleRoisBatch,
} from './roi-heads/sampling.ts';
import {
  type FilterProposalsOptions,
  filterProposals,
  flattenRpnOutputs,
  type RpnAssignment,
  type RpnAssignOptions,
  type RpnCoderKind,
  type RpnHead,
  type RpnLossOptions,
  rpnAssign,
  rpnEncode,
  rpnLoss,
  sampleRpnAnchors,
} from './rpn/rpn.ts';
import { type IndexSource, randpermSource } from './samplers/random-sampler.ts';
import type { LossDict } from './types.ts';

/** torchvision's GeneralizedRCNNTransform normalisation, on 0..1 images. */
export const TORCHVISION_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const TORCHVISION_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

export interface TwoStageDetectorOptions {
  backbone: ResNet;
  neck: FPN;
  rpnHead: RpnHead;
  /** The RPN's anchors, one generator level per neck level. */
  anchors: AnchorGenerator;
  roiAlign: MultiScaleRoIAlign;
  bboxHead: Shared2FCBoxHead;
  /** Foreground classes N. */
  numClasses: number;
  /** Neck levels the RoI head pools from, finest first (default all but the last: P2..P5 of P2..P6). */
  roiLevels?: number;
  /** Input normalisation (x - mean) / std per RGB channel (default torchvision's, on 0..1 images). */
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
  /** Test-time proposals (default torchvision's: 1000 before and after NMS at 0.7, min size 1e-3). */
  rpnTest?: FilterProposalsOptions;
  /** Test-time box post-processing (default score 0.05, NMS 0.5, 100 detections). */
  roiTest?: Omit<RoiPostprocessOptions, 'backgroundLabel'>;
  /** Background score column (default 'first', torchvision). */
  background?: BackgroundIndex;
  /** Training proposals (default torchvision's: 2000 before and after NMS at 0.7, min size 1e-3). */
  rpnTrain?: FilterProposalsOptions;
  /** RPN box coder for proposals and regression targets (default 'torchvision'; a proposal setting's `coder` wins). */
  rpnCoder?: RpnCoderKind;
  /** RPN anchor assignment (default MaxIoU 0.7 / 0.3 with torchvision's low-quality matches). */
  rpnAssign?: RpnAssignOptions;
  /** RPN sampler: anchors per image (256) and positive fraction (0.5). */
  rpnSampler?: { batchSizePerImage?: number; positiveFraction?: number };
  /** RPN loss (default smooth L1, beta 1/9). */
  rpnLoss?: RpnLossOptions;
  /** RoI sampling (default MaxIoU 0.5, 512 per image at 0.25 positive, GT appended). `background` is the detector's. */
  roiSampler?: Omit<RoiSamplerOptions, 'background'>;
  /** Fast R-CNN loss (default smooth L1, beta 1/9, divided by the sampled count). */
  roiLoss?: Omit<FastRcnnLossOptions, 'backgroundLabel'>;
}

/** One image's ground truth: boxes [G, 4] xyxy in input pixels, labels [G] int64 contiguous 0..N-1. */
export interface TwoStageGt {
  boxes: Tensor;
  labels: Tensor;
}

/** The random draws of a training step: the RPN's anchor sampler's and the RoI sampler's. */
export interface TwoStageSources {
  rpnSource: IndexSource;
  roiSource: IndexSource;
}

/** The RPN's training targets of a batch, a value: per image its assignment, regression targets and sample. */
export interface RpnTargets {
  assignments: RpnAssignment[];
  /** Per image [A, 4] regression targets of every anchor towards its matched box. */
  targets: Tensor[];
  /** Per image boolean masks [A] of the sampled positives and negatives. */
  samples: { pos: Tensor; neg: Tensor }[];
}

/** torchvision's loss names. */
export interface TwoStageLosses extends LossDict {
  loss_objectness: Tensor;
  loss_rpn_box_reg: Tensor;
  loss_classifier: Tensor;
  loss_box_reg: Tensor;
}

/** The named intermediates of the forward pass. */
export interface TwoStageForward {
  /** Which detector kind made it (the `Detector` union's discriminant). */
  kind: 'two-stage';
  /** Normalised input [B, 3, H, W]. */
  input: Tensor;
  /** Backbone maps, finest first. */
  backbone: Tensor[];
  /** FPN levels, finest first. */
  neck: Tensor[];
  /** RPN outputs per level: objectness [B, A, H, W], deltas [B, 4A, H, W]. */
  rpn: { objectness: Tensor[]; deltas: Tensor[] };
  /** Anchors [sum_l H_l W_l A, 4] of this input size, the same for every image. */
  anchors: Tensor;
  /** Per image: proposals [P_i, 4] xyxy and their sigmoid objectness [P_i], by descending score. */
  proposals: { boxes: Tensor; scores: Tensor }[];
}

/**
 * A training step's targets as one value: the RPN's assignment and the sampled RoIs, with the RoI
 * head's outputs on those RoIs (what the box losses and RoI-level distillation taps read).
 */
export interface TwoStageTargets {
  rpn: RpnTargets;
  rois: BatchSampledRois;
  /** The RoI head on `rois.rois`: pooled features [K, C, 7, 7], logits [K, N + 1], box deltas. */
  head: { feats: Tensor } & BoxHeadOutputs;
}

export class TwoStageDetector extends Module {
  /** The `Detector` union's discriminant. */
  readonly detectorKind = 'two-stage' as const;
  readonly backbone: ResNet;
  readonly neck: FPN;
  readonly rpnHead: RpnHead;
  readonly bboxHead: Shared2FCBoxHead;
  readonly anchors: AnchorGenerator;
  readonly roiAlign: MultiScaleRoIAlign;
  readonly numClasses: number;
  readonly roiLevels: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly rpnTest: FilterProposalsOptions;
  readonly roiTest: RoiPostprocessOptions;
  readonly rpnTrain: FilterProposalsOptions;
  readonly background: BackgroundIndex;
  readonly rpnCoder: RpnCoderKind;
  private readonly o: TwoStageDetectorOptions;

  constructor(o: TwoStageDetectorOptions) {
    super();
    this.backbone = this.register('backbone', o.backbone);
    this.neck = this.register('neck', o.neck);
    this.rpnHead = this.register('rpn_head', o.rpnHead);
    this.bboxHead = this.register('bbox_head', o.bboxHead);
    this.anchors = o.anchors;
    this.roiAlign = o.roiAlign;
    this.numClasses = o.numClasses;
    this.roiLevels = o.roiLevels ?? o.roiAlign.options.featmapStrides.length;
    this.mean = o.mean ?? TORCHVISION_MEAN;
    this.std = o.std ?? TORCHVISION_STD;
    this.rpnTest = o.rpnTest ?? { preNmsTopN: 1000, postNmsTopN: 1000 };
    this.roiTest = { ...o.roiTest, backgroundLabel: backgroundLabel(o.background ?? 'first', o.numClasses) };
    this.rpnTrain = o.rpnTrain ?? { preNmsTopN: 2000, postNmsTopN: 2000 };
    this.background = o.background ?? 'first';
    this.rpnCoder = o.rpnCoder ?? 'torchvision';
    this.o = o;
  }

  /** Stride of each neck level, finest first (the anchor generator's). */
  get neckStrides(): readonly number[] {
    return this.anchors.strides;
  }

  /**
   * images [B, 3, H, W] -> (x - mean) / std per channel. With `metas`, the padding outside each
   * image's imgShape is set back to zero after normalising (as DenseDetector and mmdet pad).
   */
  normalize(images: Tensor, metas: readonly ImageMeta[] | null = null): Tensor {
    return normalizeImages(images, this.mean, this.std, metas);
  }

  /**
   * The forward pass up to the proposals, with the test proposal settings unless `settings` says
   * 'train' (the proposals are detached either way). Proposals are clipped to each image's
   * imgShape when `metas` are given, else to the batch's H x W.
   */
  forward(
    images: Tensor,
    metas: readonly ImageMeta[] | null = null,
    settings: 'train' | 'test' = 'test',
  ): TwoStageForward {
    return tidy(() => {
      const input = this.normalize(images, metas);
      const backbone = this.backbone.forward(input);
      const neck = this.neck.forward(backbone);
      const rpn = this.rpnHead.forward(neck);
      const featSizes = neck.map((t) => [t.size(2), t.size(3)] as [number, number]);
      const pri = this.anchors.gridPriors(featSizes, images.device);
      const flat = flattenRpnOutputs(rpn.objectness, rpn.deltas);
      const sizes = imageSizes(images, metas);
      const proposals = filterProposals(
        pri.boxes,
        flat.objectness.detach(),
        flat.deltas.detach(),
        pri.numPerLevel,
        sizes,
        { coder: this.rpnCoder, ...(settings === 'train' ? this.rpnTrain : this.rpnTest) },
      );
      return { kind: 'two-stage' as const, input, backbone, neck, rpn, anchors: pri.boxes, proposals };
    });
  }

  /** neck levels and rois [K, 5] (image index, x1, y1, x2, y2) -> pooled features and box head outputs. */
  roiHead(neck: readonly Tensor[], rois: Tensor): { feats: Tensor } & BoxHeadOutputs {
    return tidy(() => {
      const feats = this.roiAlign.forward(neck.slice(0, this.roiLevels), rois);
      return { feats, ...this.bboxHead.forward(feats) };
    });
  }

  /** The RPN's assignment, regression targets and sample per image (no gradient), a value for `lossesFrom`. */
  assignRpn(f: TwoStageForward, gts: readonly TwoStageGt[], source: IndexSource): RpnTargets {
    return noGrad(() =>
      tidy(() => {
        const assignments = gts.map((g) => rpnAssign(f.anchors, g.boxes, this.o.rpnAssign));
        return {
          assignments,
          targets: assignments.map((a) => rpnEncode(f.anchors, a.matchedBoxes, this.rpnCoder)),
          samples: assignments.map((a, i) =>
            sampleRpnAnchors(a.labels, { ...this.o.rpnSampler, source, image: i }),
          ),
        };
      }),
    );
  }

  /** The sampled RoIs of a batch from the proposals plus the GT boxes (no gradient), a value for `lossesFrom`. */
  sampleRoiTargets(f: TwoStageForward, gts: readonly TwoStageGt[], source: IndexSource): BatchSampledRois {
    return sampleRoisBatch(
      f.proposals.map((p) => p.boxes),
      gts,
      this.numClasses,
      source,
      { ...this.o.roiSampler, background: this.background },
    );
  }

  /**
   * The training targets of a batch as one value: RPN assignment and sample, the sampled RoIs and
   * the RoI head's outputs on them. The samplers draw from `sources` (default: the global
   * generator, whose state checkpoints keep, so a resumed run draws what an uninterrupted one would).
   */
  trainTargets(f: TwoStageForward, gts: readonly TwoStageGt[], sources?: TwoStageSources): TwoStageTargets {
    return tidy(() => {
      const src = sources ?? { rpnSource: randpermSource(null), roiSource: randpermSource(null) };
      const rpn = this.assignRpn(f, gts, src.rpnSource);
      const rois = this.sampleRoiTargets(f, gts, src.roiSource);
      return { rpn, rois, head: this.roiHead(f.neck, rois.rois) };
    });
  }

  /**
   * Ground truth of a detkd batch as the RPN and RoI head take it: boxes without area dropped (as
   * DenseDetector.gts); crowd boxes (the batch's ignore boxes) take no part, as mmdet's RPN and RoI
   * assigners with ignore_iof_thr -1 and torchvision (which drops them) do.
   */
  static gts(batch: Batch): TwoStageGt[] {
    return batch.gtBoxes.map((boxes, i) => {
      const g = dropDegenerateBoxes({ boxes, labels: batch.gtLabels[i]!, ignore: null });
      return { boxes: g.boxes, labels: g.labels };
    });
  }

  /** A detkd training batch -> the four losses (forward with training proposals, targets, losses). */
  batchLosses(batch: Batch, sources?: TwoStageSources): TwoStageLosses {
    return tidy(() => {
      const f = this.forward(batch.images, batch.metas, 'train');
      const gts = TwoStageDetector.gts(batch);
      const t = this.trainTargets(f, gts, sources);
      return this.lossesFrom(f, t.rpn, t.rois, t.head);
    });
  }

  /**
   * The four losses from a forward pass and the two assignment values (either may be a teacher's).
   * `head`, the RoI head's outputs on `rois.rois`, is computed here unless given.
   */
  lossesFrom(
    f: TwoStageForward,
    rpn: RpnTargets,
    rois: BatchSampledRois,
    head?: BoxHeadOutputs,
  ): TwoStageLosses {
    return tidy(() => {
      const flat = flattenRpnOutputs(f.rpn.objectness, f.rpn.deltas);
      const r = rpnLoss(
        flat.objectness,
        flat.deltas,
        rpn.assignments.map((a) => a.labels),
        rpn.targets,
        rpn.samples,
        this.o.rpnLoss,
      );
      const h = head ?? this.roiHead(f.neck, rois.rois);
      const b = fastRcnnLoss(h.clsScore, h.bboxPred, rois.labels, rois.targets, {
        ...this.o.roiLoss,
        backgroundLabel: this.roiTest.backgroundLabel,
      });
      return {
        loss_objectness: r.objectness,
        loss_rpn_box_reg: r.box,
        loss_classifier: b.lossCls,
        loss_box_reg: b.lossBox,
      };
    });
  }

  /**
   * images [B, 3, H, W] (0..1) and per image GT -> torchvision's four training losses: forward with
   * the training proposal settings, assignRpn, sampleRoiTargets, lossesFrom.
   */
  losses(images: Tensor, gts: readonly TwoStageGt[], sources: TwoStageSources): TwoStageLosses {
    if (gts.length !== images.size(0))
      throw new RangeError(`TwoStageDetector.losses: ${gts.length} GT sets for ${images.size(0)} images`);
    return tidy(() => {
      const f = this.forward(images, null, 'train');
      const rpn = this.assignRpn(f, gts, sources.rpnSource);
      const rois = this.sampleRoiTargets(f, gts, sources.roiSource);
      return this.lossesFrom(f, rpn, rois);
    });
  }

  /**
   * images [B, 3, H, W] -> per image detections in input pixels, clipped to each image's imgShape
   * (or H x W without metas). Labels are score columns; background excluded.
   */
  detect(images: Tensor, metas: readonly ImageMeta[] | null = null): RoiDetections[] {
    return noGrad(() => tidy(() => this.detectFrom(this.forward(images, metas), imageSizes(images, metas))));
  }

  /** A test forward pass's proposals through the RoI head and post-processing, clipped to `sizes` [h, w] per image. */
  detectFrom(f: TwoStageForward, sizes: readonly (readonly [number, number])[]): RoiDetections[] {
    return noGrad(() =>
      tidy(() => {
        const rois = cat(
          f.proposals.map((p, i) =>
            cat(
              [zeros([p.boxes.size(0), 1], { dtype: p.boxes.dtype, device: p.boxes.device }).add(i), p.boxes],
              1,
            ),
          ),
          0,
        );
        const out = this.roiHead(f.neck, rois);
        let start = 0;
        return f.proposals.map((p, i) => {
          const n = p.boxes.size(0);
          const r = postprocessDetections(
            out.clsScore.narrow(0, start, n),
            out.bboxPred.narrow(0, start, n),
            p.boxes,
            sizes[i]!,
            this.roiTest,
          );
          start += n;
          return r;
        });
      }),
    );
  }

  /** Detections per image in original-image pixels, labels 0..N-1 (as DenseDetector.predict). */
  predict(images: Tensor, metas: readonly ImageMeta[]): DetectionResult[] {
    return noGrad(() => tidy(() => this.predictFrom(this.forward(images, metas), metas)));
  }

  /** `predict` from a test forward pass made with these `metas` (evaluation reuses it for the proposals). */
  predictFrom(f: TwoStageForward, metas: readonly ImageMeta[]): DetectionResult[] {
    return noGrad(() =>
      tidy(() => {
        const shift = this.background === 'first' ? 1 : 0;
        const sizes = metas.map((m) => [m.imgShape[0], m.imgShape[1]] as const);
        return this.detectFrom(f, sizes).map((d, i) => ({
          boxes: toOriginal(d.boxes, metas[i]!),
          scores: d.scores,
          labels: shift === 0 ? d.labels : d.labels.sub(shift),
        }));
      }),
    );
  }
}

/** [h, w] per image: each meta's imgShape, or the batch's H x W for every image. */
function imageSizes(images: Tensor, metas: readonly ImageMeta[] | null): [number, number][] {
  const [B, , H, W] = images.shape as [number, number, number, number];
  if (metas !== null) return metas.map((m) => [m.imgShape[0], m.imgShape[1]]);
  return Array.from({ length: B }, () => [H, W]);
}
