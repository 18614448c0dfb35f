// The detector configuration a recipe's `model` section holds, as a zod schema: the schema is the
// type (DetectorConfig is inferred from it) and the validator recipes are checked with at load.
// Plain data only, and no runtime import beyond zod, so a recipe is checked before libtorch loads.
// Nested shapes owned by other modules (PaaConfig, PostprocessConfig, NormKind, ResNetDepth) are
// restated here; the `Same` checks at the end fail to compile when either side drifts.
import { type Same, z } from '../../core/schema.ts';
import type { Gmm1dInit } from '../assigners/gmm.ts';
import type { PaaConfig } from '../assigners/paa.ts';
import type { NormKind } from '../backbones/norm.ts';
import type { ResNetDepth } from '../backbones/resnet.ts';
import type { PostprocessConfig } from '../postprocess.ts';

const pair = z.tuple([z.number(), z.number()]).readonly();
const triple = z.tuple([z.number(), z.number(), z.number()]);
const normKind = z.enum(['bn', 'gn', 'frozen-bn']);

export const postprocessSchema = z.strictObject({
  /** Detections scoring below this are dropped before NMS (mmdet: 0.05). */
  scoreThr: z.number(),
  /** Candidates kept per level before NMS (mmdet: nms_pre 1000). */
  nmsPre: z.number().int().positive(),
  /** IoU threshold of the class-aware NMS (RetinaNet/FCOS 0.5, ATSS/GFL 0.6). */
  iouThr: z.number(),
  /** Detections kept per image (COCO: 100). */
  maxPerImg: z.number().int().positive(),
});

export const paaConfigSchema = z.strictObject({
  topk: z.number().int().positive().optional(),
  candidateIou: z.number().optional(),
  alpha: z.number().optional(),
  gamma: z.number().optional(),
  giouWeight: z.number().optional(),
  ignoreIofThr: z.number().optional(),
  singleCandidate: z.enum(['keep', 'drop']).optional(),
  degenerateTol: z.number().optional(),
  gmm: z
    .strictObject({
      weights: pair.optional(),
      means: pair.optional(),
      precisions: pair.optional(),
      regCovar: z.number().optional(),
      tol: z.number().optional(),
      maxIter: z.number().int().positive().optional(),
    })
    .optional(),
});

const backboneSchema = z.strictObject({
  depth: z.literal([18, 34, 50, 101]),
  widthMultiplier: z.number().positive().optional(),
  norm: normKind.optional(),
  frozenStages: z.number().int().optional(),
  normEval: z.boolean().optional(),
  /**
   * A PyTorch checkpoint (.pth, e.g. torchvision's resnet18 ImageNet weights) the backbone starts
   * from, relative to the working directory; its classifier head is ignored. With it, frozenStages
   * defaults to 1 (stem and stage 1 frozen) and normEval to true (BN statistics kept).
   */
  pretrained: z.string().min(1).optional(),
  /** The parameter layout of `pretrained`: 'torchvision' or 'mmdet' (required with it). */
  format: z.enum(['torchvision', 'mmdet']).optional(),
});

const normalizeSchema = z.strictObject({ mean: triple, std: triple });

export const denseConfigSchema = z.strictObject({
  kind: z.enum(['retina', 'atss', 'gfl', 'fcos']),
  numClasses: z.number().int().positive(),
  backbone: backboneSchema,
  /** FPN and head channels (mmdet: 256). */
  channels: z.number().int().positive(),
  /** FPN levels from P3 (default 5: P3..P7). */
  numLevels: z.number().int().min(1).max(5).optional(),
  /** Convs per head tower (mmdet: 4). */
  stackedConvs: z.number().int().nonnegative().optional(),
  /** Norm in FPN and head towers: 'gn' for from-scratch training (default), or null. */
  neckNorm: normKind.nullable().optional(),
  headNorm: normKind.nullable().optional(),
  /** FCOS: regress ranges per level (default mmdet's, cut to numLevels), centre sampling. */
  fcos: z
    .strictObject({
      regressRanges: z.array(z.tuple([z.number(), z.number()])).optional(),
      centerSampling: z.boolean().optional(),
      centerSampleRadius: z.number().optional(),
    })
    .optional(),
  postprocess: postprocessSchema.optional(),
  /**
   * ATSS and GFL: how priors are assigned to ground truth in training. 'atss' (default, mmdet's
   * ATSSAssigner topk 9) or 'paa': PAA's probabilistic assignment from the detector's own detached
   * predictions (MaxIoU 0.1 candidates, focal + 1.3 GIoU scores, a 2-component GMM per GT),
   * options in `paa`. Only the assignment changes; the head and its losses stay the kind's own.
   */
  assigner: z.enum(['atss', 'paa']).optional(),
  paa: paaConfigSchema.optional(),
  /**
   * Input normalisation, RGB per channel (default mmdet's ImageNet mean/std). A teacher and a
   * student may differ here: each normalises the raw batch itself.
   */
  normalize: normalizeSchema.optional(),
});

const proposalCounts = z.strictObject({
  /** Top proposals per level before NMS. */
  preNms: z.number().int().positive().optional(),
  /** Proposals per image after NMS. */
  postNms: z.number().int().positive().optional(),
});

/**
 * Faster R-CNN: ResNet + FPN + RPN + Shared2FC RoI head (docs/two-stage.md). Every setting not
 * given comes from the preset ('mmdet' by default, or 'torchvision'); the knobs here are the ones a
 * dataset calls for (levels and anchor sizes for small objects, widths, sample and proposal counts).
 */
export const fasterRcnnConfigSchema = z.strictObject({
  kind: z.literal('faster-rcnn'),
  /** Which library's defaults (default 'mmdet'). */
  preset: z.enum(['mmdet', 'torchvision']).optional(),
  numClasses: z.number().int().positive(),
  backbone: backboneSchema,
  /** FPN width (the RPN and RoIAlign run on it). */
  channels: z.number().int().positive(),
  /** FPN levels: the first (2 = P2, stride 4; 3 = P3, stride 8) and how many (default P2..P6). */
  levels: z
    .strictObject({
      first: z.literal([2, 3]),
      count: z.number().int().min(1).max(5),
    })
    .optional(),
  /** Levels RoIs are pooled from, finest first (default those from the backbone: P2..P5 of P2..P6). */
  roiLevels: z.number().int().positive().optional(),
  /** Anchor size per level in input pixels (default 8 x stride: 32..512 on P2..P6). */
  anchorSizes: z.array(z.number().positive()).optional(),
  /** Norm in the FPN: 'gn' for from-scratch training (default), or null (the references). */
  neckNorm: normKind.nullable().optional(),
  /** Width of the box head's two fully connected layers (default 1024). */
  fcChannels: z.number().int().positive().optional(),
  rpn: z
    .strictObject({
      train: proposalCounts.optional(),
      test: proposalCounts.optional(),
      /** Anchors sampled per image for the RPN loss (256) and their positive share (0.5). */
      samples: z.number().int().positive().optional(),
      positiveFraction: z.number().positive().max(1).optional(),
    })
    .optional(),
  roi: z
    .strictObject({
      /** RoIs sampled per image for the box head (512) and their positive share (0.25). */
      samples: z.number().int().positive().optional(),
      positiveFraction: z.number().positive().max(1).optional(),
    })
    .optional(),
  /** Test-time detections: score threshold (0.05), class-wise NMS IoU (0.5), per image (100). */
  postprocess: z
    .strictObject({
      scoreThr: z.number().optional(),
      iouThr: z.number().optional(),
      maxPerImg: z.number().int().positive().optional(),
    })
    .optional(),
  /** Input normalisation on 0..255 RGB (default ImageNet mean / std, as both presets). */
  normalize: normalizeSchema.optional(),
});

export const detectorConfigSchema = z.discriminatedUnion('kind', [denseConfigSchema, fasterRcnnConfigSchema]);

export type DenseDetectorConfig = z.infer<typeof denseConfigSchema>;
export type FasterRcnnConfig = z.infer<typeof fasterRcnnConfigSchema>;
export type DetectorConfig = z.infer<typeof detectorConfigSchema>;
export type DetectorKind = DetectorConfig['kind'];

// Drift checks: each line stops compiling when the restated shape and the owner's type disagree.
true satisfies Same<z.infer<typeof paaConfigSchema>, PaaConfig>;
true satisfies Same<NonNullable<z.infer<typeof paaConfigSchema>['gmm']>, Gmm1dInit>;
true satisfies Same<z.infer<typeof postprocessSchema>, PostprocessConfig>;
true satisfies Same<z.infer<typeof normKind>, NormKind>;
true satisfies Same<DetectorConfig['backbone']['depth'], ResNetDepth>;
