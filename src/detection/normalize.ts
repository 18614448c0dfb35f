// Input normalisation shared by every detector kind: (x - mean) / std per RGB channel, with the
// padding outside each image's imgShape set back to zero afterwards, as mmdet's data
// preprocessor pads.
import { type Tensor, tensor, tidy, zeros } from '../core/tensor.ts';
import type { ImageMeta } from '../structures/instances.ts';

/** images [B, 3, H, W] -> normalised; without metas (or unpadded images) no mask is applied. */
export function normalizeImages(
  images: Tensor,
  mean: readonly [number, number, number],
  std: readonly [number, number, number],
  metas: readonly ImageMeta[] | null,
): Tensor {
  return tidy(() => {
    const dev = images.device;
    const m = tensor([...mean], { device: dev }).view(1, 3, 1, 1);
    const s = tensor([...std], { device: dev }).view(1, 3, 1, 1);
    const x = images.sub(m).div(s);
    const [B, , H, W] = images.shape as [number, number, number, number];
    if (metas === null || metas.every((t) => t.imgShape[0] === H && t.imgShape[1] === W)) return x;
    const mask = zeros([B, 1, H, W], { device: dev });
    metas.forEach((t, i) => {
      mask.select(0, i).narrow(1, 0, t.imgShape[0]).narrow(2, 0, t.imgShape[1]).fill_(1);
    });
    return x.mul(mask);
  });
}
