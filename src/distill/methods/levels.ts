// Per-level views in mmdetection's layout: the per-level loss functions of LD/KD (ld_head.py's
// loss_single) take one pyramid level with rows flattened over (batch, H, W).
import { cat, type Tensor } from '../../core/tensor.ts';
import { type Assignment, IGNORE, type Priors } from '../../detection/types.ts';

/** [B, A_l*K, H, W] -> [B*H*W*A_l, K] rows (batch, then location, then anchor). */
export function levelRows(level: Tensor, k: number): Tensor {
  return level.permute(0, 2, 3, 1).reshape(-1, k);
}

/** Per-image [A] values (labels, weights) -> the rows of level l over the batch [B*A_l]. */
export function levelSlice(perImage: readonly Tensor[], priors: Priors, l: number): Tensor {
  const off = priors.levelOffsets[l]!;
  const n = priors.numPerLevel[l]!;
  return cat(perImage.map((t) => t.narrow(0, off, n)));
}

/** Per-image label weights: 0 on ignored priors, 1 elsewhere. */
export function labelWeights(assignments: readonly Assignment[]): Tensor[] {
  return assignments.map((a) => a.gtIndex.ne(IGNORE).float());
}
