// The size of a recipe's detector (`detkd info`): parameters and multiply-accumulates per
// top-level part (backbone, neck, bbox_head; a two-stage one's rpn_head too), counted on a freshly
// built model without any data. For a two-stage detector also its FPN levels, anchors and proposal
// counts; its box head's MACs are counted over the test proposal count of RoIs per image.
import { noGrad, tensor, tidy, zeros } from '../core/tensor.ts';
import { padTo } from '../data/transforms.ts';
import type { Detector } from '../detection/any-detector.ts';
import { buildDetector } from '../detection/models/build.ts';
import type { TwoStageDetector } from '../detection/two-stage.ts';
import { countMacs, type MacCount, macsByPrefix } from '../nn/macs.ts';
import type { Module } from '../nn/module.ts';
import type { DetectionRecipe } from './recipe.ts';

export const MAC_CONVENTION =
  'MACs: one multiply-add = 1 (mmcv get_flops/fvcore "FLOPs"); conv2d and linear only, no bias, norms, activations or postprocessing';

export interface PartInfo {
  params: number;
  trainable: number;
  macs: number;
}

export interface ModelInfo {
  recipe: string;
  kind: string;
  numClasses: number;
  /** [1, 3, H, W]: the input the MACs were counted at. */
  inputShape: [number, number, number, number];
  convention: string;
  parts: Record<string, PartInfo>;
  total: PartInfo;
  /** Two-stage detectors only. */
  twoStage?: TwoStageInfo;
}

export interface TwoStageLevel {
  /** 'P2' for stride 4. */
  name: string;
  stride: number;
  /** Anchor sizes (sqrt of the area, input pixels) at this level, one per scale. */
  anchorSizes: number[];
  /** Whether RoIs are pooled from this level. */
  roi: boolean;
}

export interface TwoStageInfo {
  /** The recipe's preset ('mmdet' unless it says 'torchvision'). */
  preset: string;
  /** FPN levels, finest first. */
  levels: TwoStageLevel[];
  anchorRatios: number[];
  /** Anchors per feature-map location (ratios x scales): the RPN's outputs per location. */
  anchorsPerLocation: number;
  /** Proposals per image: top-n by objectness per level before NMS, kept after NMS. */
  proposals: { train: { preNms: number; postNms: number }; test: { preNms: number; postNms: number } };
  /** RoIs the box head's MACs were counted over (the test proposals per image). */
  macsRois: number;
}

/** The [H, W] MACs are counted at: the recipe's resize, padded to 32. */
export function recipeInputSize(r: DetectionRecipe): [number, number] {
  const rs = r.data.resize;
  const [h, w] = rs.kind === 'fixed' ? [rs.height, rs.width] : [rs.short, rs.max];
  return [padTo(h, 32), padTo(w, 32)];
}

function partInfo(m: Module, macs: number): PartInfo {
  return { params: m.numParameters(), trainable: m.numParameters(true), macs };
}

/** Builds the recipe's detector (random weights, on the CPU), counts, and frees it. */
export function modelInfo(recipe: DetectionRecipe, input?: [number, number]): ModelInfo {
  const [H, W] = input ?? recipeInputSize(recipe);
  const det = buildDetector(recipe.model);
  try {
    det.eval();
    const count = countDetectorMacs(det, [H, W]);
    const byPart = macsByPrefix(count);
    const parts: Record<string, PartInfo> = {};
    for (const [name, child] of det.namedChildren()) parts[name] = partInfo(child, byPart.get(name) ?? 0);
    return {
      recipe: recipe.name,
      kind: recipe.model.kind,
      numClasses: recipe.model.numClasses,
      inputShape: [1, 3, H, W],
      convention: MAC_CONVENTION,
      parts,
      total: partInfo(det, count.total),
      ...(det.detectorKind === 'two-stage'
        ? {
            twoStage: twoStageInfo(
              det,
              recipe.model.kind === 'faster-rcnn' ? (recipe.model.preset ?? 'mmdet') : '?',
            ),
          }
        : {}),
    };
  } finally {
    det.dispose();
  }
}

/**
 * MACs of one [1, 3, H, W] image through `det` (in eval mode): a dense detector's forward; a
 * two-stage one's forward to the proposals plus its box head over the test proposal count of RoIs
 * (the RPN of random weights may keep fewer after NMS, so a fixed count keeps the number stable).
 */
export function countDetectorMacs(det: Detector, hw: readonly [number, number], device = 'cpu'): MacCount {
  const [H, W] = hw;
  const meta = {
    imageId: 0,
    fileName: '(zeros)',
    oriShape: [H, W] as const,
    imgShape: [H, W] as const,
    padShape: [H, W] as const,
    scaleFactor: [1, 1] as const,
    flipped: false,
  };
  const { count } = countMacs(det, () =>
    noGrad(() =>
      tidy(() => {
        const x = zeros([1, 3, H, W], { device });
        switch (det.detectorKind) {
          case 'dense':
            det.forward(x, [meta]);
            break;
          case 'two-stage': {
            const f = det.forward(x, [meta]);
            const box = tensor(Float32Array.from([0, 0, 0, Math.min(W, 32), Math.min(H, 32)]))
              .reshape(1, 5)
              .to(device);
            det.roiHead(f.neck, box.expand(det.rpnTest.postNmsTopN, 5).contiguous());
            break;
          }
          default:
            throw new Error(
              `countDetectorMacs: unknown detector ${String((det as { detectorKind?: unknown }).detectorKind)}`,
            );
        }
      }),
    ),
  );
  return count;
}

function twoStageInfo(det: TwoStageDetector, preset: string): TwoStageInfo {
  const a = det.anchors;
  return {
    preset,
    levels: a.strides.map((stride, l) => ({
      name: `P${Math.round(Math.log2(stride))}`,
      stride,
      anchorSizes: a.scales.map((s) => a.baseSizes[l]! * s),
      roi: l < det.roiLevels,
    })),
    anchorRatios: [...a.ratios],
    anchorsPerLocation: a.numBaseAnchors,
    proposals: {
      train: { preNms: det.rpnTrain.preNmsTopN, postNms: det.rpnTrain.postNmsTopN },
      test: { preNms: det.rpnTest.preNmsTopN, postNms: det.rpnTest.postNmsTopN },
    },
    macsRois: det.rpnTest.postNmsTopN,
  };
}
