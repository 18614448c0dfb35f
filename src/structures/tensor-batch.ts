// The batch the detectors consume, as engine tensors (the host version is HostBatch).
import type { DType } from '../core/dtype.ts';
import { type Tensor, tensor, tidy } from '../core/tensor.ts';
import type { HostBatch } from './batch.ts';
import type { ImageMeta } from './instances.ts';

export interface Batch {
  /** [B, 3, H, W] float32, RGB 0..255, NOT normalised (the detector normalises), zero-padded. */
  images: Tensor;
  /** Per image: ids, original/valid/padded sizes, scale factor, flip. metas[i].imgShape is the valid size. */
  metas: ImageMeta[];
  /** Per image [G_i, 4] xyxy float32 in input pixels. */
  gtBoxes: Tensor[];
  /** Per image [G_i] int64 contiguous labels 0..C-1. */
  gtLabels: Tensor[];
  /** Per image [I_i, 4] xyxy float32 crowd/ignore regions in input pixels. */
  ignoreBoxes: Tensor[];
}

function boxes(data: Float32Array, device: string): Tensor {
  return tensor(data, { shape: [data.length / 4, 4], device });
}

/**
 * Copies a host batch into tensors on `device` (labels widened to int64). The result owns its
 * tensors: dispose it with `disposeBatch` (or let an enclosing tidy free it).
 */
export function toTensorBatch(h: HostBatch, device = 'cpu'): Batch {
  const labelsDType: DType = 'int64';
  return {
    images: tensor(h.images, { shape: [...h.shape], device }),
    metas: h.metas,
    gtBoxes: h.gtBoxes.map((b) => boxes(b.data, device)),
    gtLabels: h.gtLabels.map((l) => tidy(() => tensor(l, { shape: [l.length], device }).to(labelsDType))),
    ignoreBoxes: h.ignoreBoxes.map((b) => boxes(b.data, device)),
  };
}

export function disposeBatch(b: Batch): void {
  b.images.dispose();
  for (const t of [...b.gtBoxes, ...b.gtLabels, ...b.ignoreBoxes]) t.dispose();
}
