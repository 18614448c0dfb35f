// The size of a recipe's detector (`detkd info`): parameters and multiply-accumulates per
// top-level part (backbone, neck, bbox_head), counted on a freshly built model without any data.
import { noGrad, tidy, zeros } from '../core/tensor.ts';
import { padTo } from '../data/transforms.ts';
import { buildDetector } from '../detection/models/build.ts';
import { countMacs, macsByPrefix } from '../nn/macs.ts';
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
          det.forward(zeros([1, 3, H, W]), [meta]);
        }),
      ),
    );
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
    };
  } finally {
    det.dispose();
  }
}
