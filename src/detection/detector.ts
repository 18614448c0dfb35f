// A dense (single-stage) detector: backbone -> FPN -> head, with the head's priors, assigner,
// loss and decoder. Parts are typed and passed in (docs/architecture.md); the head kind is a
// closed union handled by exhaustive switches. `forward` returns the named intermediates
// (principle 4) that distillation taps read; `assign` computes the Assignment value (principle 3)
// that `losses` takes, so a distiller can hand in another one (LAD).
import { noGrad, type Tensor, tidy } from '../core/tensor.ts';
import { Module } from '../nn/module.ts';
import type { ImageMeta } from '../structures/instances.ts';
import type { Batch } from '../structures/tensor-batch.ts';
import { type FcosTargetConfig, fcosTargets } from './assigners/fcos.ts';
import type { Assigner, AssignerPreds, GtTargets } from './assigners/types.ts';
import type { ResNet } from './backbones/resnet.ts';
import { deltaXYWHDecode } from './coders/delta-xywh.ts';
import { distance2bbox } from './coders/distance.ts';
import { integral } from './coders/integral.ts';
import type { ATSSHead, FCOSHead, GFLHead, RetinaHead } from './heads/heads.ts';
import {
  ATSS_STDS,
  atssLoss,
  type FcosExtraTargets,
  fcosLoss,
  flattenLevels,
  gflLoss,
  type HeadLossInputs,
  retinaLoss,
} from './heads/losses.ts';
import type { FPN } from './necks/fpn.ts';
import { normalizeImages } from './normalize.ts';
import {
  DEFAULT_POSTPROCESS,
  type DetectionResult,
  type LevelPrediction,
  type PostprocessConfig,
  postprocessImage,
} from './postprocess.ts';
import type { AnchorGenerator } from './priors/anchors.ts';
import type { PointGenerator } from './priors/points.ts';
import type { Assignment, HeadOutputs, LossDict, Priors } from './types.ts';

/** The head and what goes with it. */
export type HeadSpec =
  | { kind: 'retina'; head: RetinaHead; priors: AnchorGenerator; assigner: Assigner }
  | { kind: 'atss'; head: ATSSHead; priors: AnchorGenerator; assigner: Assigner }
  | { kind: 'gfl'; head: GFLHead; priors: AnchorGenerator; assigner: Assigner }
  | { kind: 'fcos'; head: FCOSHead; priors: PointGenerator; targets: FcosTargetConfig };

export interface DenseDetectorOptions {
  backbone: ResNet;
  neck: FPN;
  head: HeadSpec;
  numClasses: number;
  /** Per-channel RGB mean and std of the input normalisation (mmdet's ImageNet values by default). */
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
  postprocess?: PostprocessConfig;
}

/** The named intermediates of one forward pass. */
export interface DetectorForward {
  /** Which detector kind made it (the `Detector` union's discriminant). */
  kind: 'dense';
  /** Normalised input [B, 3, H, W]. */
  input: Tensor;
  /** Backbone maps C3..C5, finest first. */
  backbone: Tensor[];
  /** FPN levels P3..P7, finest first. */
  neck: Tensor[];
  /** Raw head outputs per level. */
  head: HeadOutputs;
  /** The priors of this input size (same for every image of the batch). */
  priors: Priors;
}

/** Per-image assignments, with FCOS's extra regression targets when the head is FCOS. */
export interface BatchAssignment {
  assignments: Assignment[];
  fcos?: FcosExtraTargets;
}

export const IMAGENET_MEAN: readonly [number, number, number] = [123.675, 116.28, 103.53];
export const IMAGENET_STD: readonly [number, number, number] = [58.395, 57.12, 57.375];

export class DenseDetector extends Module {
  /** The `Detector` union's discriminant. */
  readonly detectorKind = 'dense' as const;
  readonly backbone: ResNet;
  readonly neck: FPN;
  readonly spec: HeadSpec;
  readonly numClasses: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  postprocessConfig: PostprocessConfig;

  constructor(o: DenseDetectorOptions) {
    super();
    this.backbone = this.register('backbone', o.backbone);
    this.neck = this.register('neck', o.neck);
    this.spec = o.head;
    this.register('bbox_head', o.head.head);
    this.numClasses = o.numClasses;
    this.mean = o.mean ?? IMAGENET_MEAN;
    this.std = o.std ?? IMAGENET_STD;
    this.postprocessConfig = o.postprocess ?? {
      ...DEFAULT_POSTPROCESS,
      iouThr: o.head.kind === 'gfl' || o.head.kind === 'atss' ? 0.6 : 0.5,
    };
  }

  get head(): RetinaHead | ATSSHead | GFLHead | FCOSHead {
    return this.spec.head;
  }

  /** Stride of each neck level, finest first (the prior generator's). */
  get neckStrides(): readonly number[] {
    return this.spec.priors.strides;
  }

  /**
   * images [B, 3, H, W] 0..255 -> (x - mean) / std, with the padding (outside each image's valid
   * imgShape) set back to zero after normalising, as mmdet's data preprocessor pads.
   */
  normalize(images: Tensor, metas: readonly ImageMeta[]): Tensor {
    return normalizeImages(images, this.mean, this.std, metas);
  }

  /** The full forward pass with its named intermediates. */
  forward(images: Tensor, metas: readonly ImageMeta[]): DetectorForward {
    return tidy(() => {
      const input = this.normalize(images, metas);
      const backbone = this.backbone.forward(input);
      const neck = this.neck.forward(backbone);
      const head = this.spec.head.forward(neck);
      const featSizes = neck.map((t) => [t.size(2), t.size(3)] as [number, number]);
      const priors = this.spec.priors.gridPriors(featSizes, images.device);
      return { kind: 'dense' as const, input, backbone, neck, head, priors };
    });
  }

  /**
   * Ground truth of a batch as the assigners take it. Boxes without area are dropped, as
   * mmdetection's pipeline drops them: under MaxIoU's low-quality matching a zero-area box
   * (best IoU 0) would claim every anchor.
   */
  static gts(batch: Batch): GtTargets[] {
    return batch.gtBoxes.map((boxes, i) =>
      dropDegenerateBoxes({ boxes, labels: batch.gtLabels[i]!, ignore: batch.ignoreBoxes[i]! }),
    );
  }

  /** Assigns priors to ground truth for every image (no gradients). */
  assign(fwd: DetectorForward, gts: readonly GtTargets[]): BatchAssignment {
    return noGrad(() =>
      tidy(() => {
        const s = this.spec;
        if (s.kind === 'fcos') {
          const t = gts.map((g) => fcosTargets(fwd.priors, g, this.numClasses, s.targets));
          return {
            assignments: t.map((x) => x.assignment),
            fcos: { bboxTargets: t.map((x) => x.bboxTargets), centerness: t.map((x) => x.centerness) },
          };
        }
        if (!s.assigner.usesPredictions) {
          return { assignments: gts.map((g) => s.assigner.assign(fwd.priors, g, this.numClasses)) };
        }
        // PAA: the assigner scores candidates with this detector's own (detached) predictions.
        const preds = this.assignerPreds(fwd);
        return {
          assignments: gts.map((g, i) => s.assigner.assign(fwd.priors, g, this.numClasses, preds[i])),
        };
      }),
    );
  }

  /**
   * Per image, the predictions prediction-based assigners score candidates with (PAA, LAD): class
   * logits [A, C] flattened over levels in prior order and decoded boxes [A, 4], detached.
   */
  assignerPreds(fwd: DetectorForward): Required<AssignerPreds>[] {
    return noGrad(() =>
      tidy(() => {
        const cls = flattenLevels(fwd.head.clsScores, this.numClasses); // [B, A, C]
        const reg = flattenLevels(fwd.head.bboxPreds, fwd.head.bboxPreds[0]!.size(1)); // [B, A, R]
        return Array.from({ length: cls.size(0) }, (_, i) => ({
          clsScores: cls.select(0, i).detach(),
          bboxes: this.decode(fwd.priors.boxes, reg.select(0, i).detach()),
        }));
      }),
    );
  }

  /** The head's losses given a forward pass and an assignment. */
  headLosses(fwd: DetectorForward, gts: readonly GtTargets[], a: BatchAssignment): LossDict {
    const inp: HeadLossInputs = { outputs: fwd.head, priors: fwd.priors, gts, assignments: a.assignments };
    const C = this.numClasses;
    const s = this.spec;
    switch (s.kind) {
      case 'retina':
        return retinaLoss(inp, { numClasses: C });
      case 'atss':
        return atssLoss(inp, { numClasses: C });
      case 'gfl':
        return gflLoss(inp, { numClasses: C, regMax: s.head.regMax });
      case 'fcos': {
        if (a.fcos === undefined) throw new Error('fcos losses need the FCOS regression targets');
        return fcosLoss(inp, a.fcos, { numClasses: C, normOnBbox: s.head.normOnBbox });
      }
    }
  }

  /** Forward, assign and losses for a training batch. */
  losses(batch: Batch): LossDict {
    return tidy(() => {
      const fwd = this.forward(batch.images, batch.metas);
      const gts = DenseDetector.gts(batch);
      return this.headLosses(fwd, gts, this.assign(fwd, gts));
    });
  }

  /** Detections per image in original-image pixels. */
  predict(images: Tensor, metas: readonly ImageMeta[]): DetectionResult[] {
    return noGrad(() =>
      tidy(() => {
        const fwd = this.forward(images, metas);
        return metas.map((meta, i) => this.postprocess(fwd, i, meta));
      }),
    );
  }

  private postprocess(fwd: DetectorForward, i: number, meta: ImageMeta): DetectionResult {
    const C = this.numClasses;
    const h = fwd.head;
    const levels: LevelPrediction[] = h.clsScores.map((cls, l) => {
      const off = fwd.priors.levelOffsets[l]!;
      const n = fwd.priors.numPerLevel[l]!;
      const reg = h.bboxPreds[l]!.select(0, i).permute(1, 2, 0);
      const lv: LevelPrediction = {
        clsLogits: cls.select(0, i).permute(1, 2, 0).reshape(-1, C),
        boxPreds: reg.reshape(n, -1),
        priors: fwd.priors.boxes.narrow(0, off, n),
      };
      if (h.centerness) lv.centerness = h.centerness[l]!.select(0, i).reshape(-1);
      return lv;
    });
    const maxShape = meta.imgShape;
    return postprocessImage(
      levels,
      (priors, preds) => this.decode(priors, preds, maxShape),
      meta,
      this.postprocessConfig,
    );
  }

  /**
   * Decodes raw box-branch outputs into boxes: priors [N, 4] (anchors xyxy, or points (x, y,
   * stride, stride)), preds [N, R] -> [N, 4] xyxy input pixels, clipped to maxShape [h, w] if given.
   */
  decode(priors: Tensor, preds: Tensor, maxShape?: readonly [number, number]): Tensor {
    const s = this.spec;
    const clip = maxShape ? { maxShape } : {};
    switch (s.kind) {
      case 'retina':
        return deltaXYWHDecode(priors, preds, clip);
      case 'atss':
        return deltaXYWHDecode(priors, preds, { stds: ATSS_STDS, ...clip });
      case 'gfl':
        return tidy(() => {
          // Single square anchor of side octave_base_scale * stride: stride = side / 8.
          const side = priors.select(1, 2).sub(priors.select(1, 0)).unsqueeze(1);
          const stride = side.div(s.priors.scales[0]!);
          const c = priors
            .slice(1, 0, 2)
            .add(priors.slice(1, 2, 4))
            .div(2);
          return distance2bbox(c, integral(preds, s.head.regMax).mul(stride), maxShape);
        });
      case 'fcos':
        return tidy(() => {
          const d = s.head.normOnBbox ? preds.mul(priors.select(1, 2).unsqueeze(1)) : preds;
          return distance2bbox(priors, d, maxShape);
        });
    }
  }
}

/** The ground truth without boxes of zero width or height (returns `gt` itself when none). */
export function dropDegenerateBoxes(gt: GtTargets): GtTargets {
  const boxes = gt.boxes;
  if (boxes.size(0) === 0) return gt;
  return tidy(() => {
    const keep = boxes
      .select(1, 2)
      .gt(boxes.select(1, 0))
      .logicalAnd(boxes.select(1, 3).gt(boxes.select(1, 1)));
    if (keep.all().item() === 1) return gt;
    return { boxes: boxes.at(keep), labels: gt.labels.at(keep), ignore: gt.ignore ?? null };
  });
}
