// Shared detection types: priors, assignments, head outputs. See docs/architecture.md:
// an assignment is a value computed without gradients, and detectors return named intermediates.
import type { Tensor } from '../core/tensor.ts';

/** Sentinels in Assignment.gtIndex. */
export const BACKGROUND = -1;
export const IGNORE = -2;

/**
 * The priors of one image, flattened over pyramid levels (level 0 first, row-major within a
 * level, then anchors-per-location fastest, as mmdetection lays them out).
 */
export interface Priors {
  /** [A, 4] xyxy anchors in input pixels, or for point priors [A, 4] = (x, y, stride, stride). */
  boxes: Tensor;
  /** Number of priors on each level; levelOffsets[l] = sum of counts before level l. */
  numPerLevel: number[];
  levelOffsets: number[];
  /** Stride of each level. */
  strides: number[];
  /** Feature map size [h, w] of each level. */
  featSizes: [number, number][];
  /** Priors per location (9 for RetinaNet, 1 for ATSS/GFL/FCOS). */
  perLocation: number;
  kind: 'anchor' | 'point';
}

/**
 * Which ground truth each prior learns from. Computed under no-grad; heads take it as an
 * argument, so a student can train on an assignment computed elsewhere (LAD).
 */
export interface Assignment {
  /** [A] int64: index of the assigned GT (0..G-1), BACKGROUND (-1) or IGNORE (-2). */
  gtIndex: Tensor;
  /** [A] int64: class label of positives, numClasses for background and ignored priors. */
  labels: Tensor;
  /** [A] float32: IoU of each prior with its assigned GT (0 for negatives); assigner-specific. */
  overlaps: Tensor;
  /** Number of ground-truth boxes G. */
  numGts: number;
  /** ATSS: per-GT IoU threshold (mean + std of the candidates) [G], and the IoU matrix [A, G]. */
  atssThreshold?: Tensor;
  iouMatrix?: Tensor;
}

/** Per-level head outputs: cls [B, A_l*C, H_l, W_l], reg [B, A_l*R, H_l, W_l], optional extras. */
export interface HeadOutputs {
  clsScores: Tensor[];
  bboxPreds: Tensor[];
  /** FCOS/ATSS centre-ness [B, A_l, H_l, W_l] per level. */
  centerness?: Tensor[];
  /** Last feature of each tower per level (for distillation taps): [B, C, H_l, W_l]. */
  clsFeats?: Tensor[];
  regFeats?: Tensor[];
}

/** Named losses of one step: each a scalar tensor. */
export type LossDict = Record<string, Tensor>;
