// Samples → HostBatch: zero-pad every image to the batch's (H, W), rounded up to the pad divisor.
import type { HostBatch } from '../structures/batch.ts';
import { padTo, type Sample } from './transforms.ts';

/**
 * Collates samples into a HostBatch. H, W = max over the samples of the valid size, rounded up
 * to a multiple of padDivisor; each image sits at the top-left, zeros elsewhere.
 */
export function collate(
  samples: Sample[],
  padDivisor: number,
  where: { indices: number[]; epoch: number; step: number },
): HostBatch {
  const b = samples.length;
  let maxH = 0;
  let maxW = 0;
  for (const s of samples) {
    maxH = Math.max(maxH, s.image.height);
    maxW = Math.max(maxW, s.image.width);
  }
  const H = padTo(maxH, padDivisor);
  const W = padTo(maxW, padDivisor);
  const images = new Float32Array(b * 3 * H * W);
  samples.forEach((s, i) => {
    const { height: h, width: w, data } = s.image;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) {
        images.set(data.subarray((c * h + y) * w, (c * h + y + 1) * w), ((i * 3 + c) * H + y) * W);
      }
    }
  });
  return {
    images,
    shape: [b, 3, H, W],
    metas: samples.map((s) => ({ ...s.meta, padShape: [H, W] as const })),
    gtBoxes: samples.map((s) => s.boxes),
    gtLabels: samples.map((s) => s.labels),
    ignoreBoxes: samples.map((s) => s.ignore),
    indices: where.indices,
    epoch: where.epoch,
    step: where.step,
  };
}
