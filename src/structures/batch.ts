// The batch the detectors consume, host version. Maps 1:1 onto the tensor batch:
//   images      Float32Array  → Tensor float32 [B, 3, H, W]
//   gtBoxes[i]  Boxes<'xyxy'> → Tensor float32 [G_i, 4]
//   gtLabels[i] Int32Array    → Tensor int64   [G_i]   (widen on conversion: BigInt64Array.from or a cast op)
//   ignoreBoxes[i]            → Tensor float32 [I_i, 4]
// Labels are Int32Array on the host because they are small, transferable and JS-number friendly;
// libtorch wants int64 for class indices, so the converter widens them.
import type { Boxes } from './boxes.ts';
import type { ImageMeta } from './instances.ts';

export interface HostBatch {
  /** [B, 3, H, W] float32, RGB, 0..255, NOT normalised; zero-padded bottom/right to H, W. */
  images: Float32Array;
  /** [B, 3, H, W]; H and W are multiples of the pad divisor (32 by default). */
  shape: readonly [b: number, c: 3, h: number, w: number];
  /** Per image: ids, original/valid/padded sizes, scale factor, flip. metas[i].imgShape is the valid size. */
  metas: ImageMeta[];
  /** Per image [G_i, 4] xyxy in input pixels. */
  gtBoxes: Boxes<'xyxy'>[];
  /** Per image [G_i] contiguous labels 0..C-1. */
  gtLabels: Int32Array[];
  /** Per image [I_i, 4] xyxy crowd/ignore regions in input pixels. */
  ignoreBoxes: Boxes<'xyxy'>[];
  /** Dataset indices of the samples, in batch order. */
  indices: number[];
  /** Epoch and step this batch was drawn for (the loader's position). */
  epoch: number;
  step: number;
}

/** The valid (unpadded) size [h, w] of image i: the region detectors may look at. */
export function validSize(batch: HostBatch, i: number): readonly [number, number] {
  return batch.metas[i]!.imgShape;
}
