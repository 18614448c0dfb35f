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

export const detectorConfigSchema = z.strictObject({
  kind: z.enum(['retina', 'atss', 'gfl', 'fcos']),
  numClasses: z.number().int().positive(),
  backbone: z.strictObject({
    depth: z.literal([18, 34, 50, 101]),
    widthMultiplier: z.number().positive().optional(),
    norm: normKind.optional(),
    frozenStages: z.number().int().optional(),
    normEval: z.boolean().optional(),
  }),
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
  normalize: z.strictObject({ mean: triple, std: triple }).optional(),
});

export type DetectorConfig = z.infer<typeof detectorConfigSchema>;
export type DetectorKind = DetectorConfig['kind'];

// Drift checks: each line stops compiling when the restated shape and the owner's type disagree.
true satisfies Same<z.infer<typeof paaConfigSchema>, PaaConfig>;
true satisfies Same<NonNullable<z.infer<typeof paaConfigSchema>['gmm']>, Gmm1dInit>;
true satisfies Same<z.infer<typeof postprocessSchema>, PostprocessConfig>;
true satisfies Same<z.infer<typeof normKind>, NormKind>;
true satisfies Same<DetectorConfig['backbone']['depth'], ResNetDepth>;
