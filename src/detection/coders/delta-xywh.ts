// mmdetection's DeltaXYWHBBoxCoder (mmdet/core/bbox/coder/delta_xywh_bbox_coder.py, 2.x) with
// add_ctr_clamp off: the R-CNN box parameterisation (Girshick et al. 2014)
//   dx = (gx - px) / pw, dy = (gy - py) / ph, dw = log(gw / pw), dh = log(gh / ph),
// normalised by (d - mean) / std. Widths are x2 - x1 (no +1). Decoding clamps dw, dh to
// +-|log(whRatioClip)| and optionally clips the boxes to the image. The float32 ops follow
// mmdet's order, so values and gradients are bit-identical to it.
import { cat, stack, type Tensor, tensor, tidy } from '../../core/tensor.ts';

export type Vec4 = readonly [number, number, number, number];

export interface DeltaXYWHOptions {
  /** Target means (default 0, 0, 0, 0). */
  means?: Vec4;
  /** Target stds (default 1, 1, 1, 1; ATSS/PAA/GFL-style heads use 0.1, 0.1, 0.2, 0.2). */
  stds?: Vec4;
}

export interface DeltaXYWHDecodeOptions extends DeltaXYWHOptions {
  /** Clip boxes to [0, w] x [0, h] of this [h, w] (default: no clipping). */
  maxShape?: readonly [number, number];
  /** Largest |dw|, |dh| is |log(whRatioClip)| (default 16 / 1000). */
  whRatioClip?: number;
}

function vec(v: Vec4, like: Tensor): Tensor {
  // deltas.new_tensor(means): float32 on the deltas' device, [1, 4]
  return tensor(Float32Array.from(v), { shape: [1, 4], dtype: like.dtype, device: like.device });
}

/**
 * mmdet's bbox2delta: proposals [..., 4] xyxy, gt [..., 4] xyxy (same shape) -> deltas [..., 4]
 * (dx, dy, dw, dh) normalised by means/stds. Degenerate proposals (zero width) give inf/nan, as
 * in mmdet.
 */
export function deltaXYWHEncode(proposals: Tensor, gt: Tensor, o: DeltaXYWHOptions = {}): Tensor {
  return tidy(() => {
    const p = proposals.float();
    const g = gt.float();
    const [p0, p1, p2, p3] = [0, 1, 2, 3].map((i) => p.select(-1, i)) as [Tensor, Tensor, Tensor, Tensor];
    const [g0, g1, g2, g3] = [0, 1, 2, 3].map((i) => g.select(-1, i)) as [Tensor, Tensor, Tensor, Tensor];
    const px = p0.add(p2).mul(0.5);
    const py = p1.add(p3).mul(0.5);
    const pw = p2.sub(p0);
    const ph = p3.sub(p1);
    const gx = g0.add(g2).mul(0.5);
    const gy = g1.add(g3).mul(0.5);
    const gw = g2.sub(g0);
    const gh = g3.sub(g1);
    const dx = gx.sub(px).div(pw);
    const dy = gy.sub(py).div(ph);
    const dw = gw.div(pw).log();
    const dh = gh.div(ph).log();
    const deltas = stack([dx, dy, dw, dh], -1);
    return deltas.sub(vec(o.means ?? [0, 0, 0, 0], deltas)).div(vec(o.stds ?? [1, 1, 1, 1], deltas));
  });
}

/**
 * mmdet's delta2bbox: rois [..., 4] xyxy, deltas [..., 4] (broadcastable to rois) -> boxes
 * [..., 4] xyxy. Differentiable in deltas (and rois).
 */
export function deltaXYWHDecode(rois: Tensor, deltas: Tensor, o: DeltaXYWHDecodeOptions = {}): Tensor {
  return tidy(() => {
    const denorm = deltas.mul(vec(o.stds ?? [1, 1, 1, 1], deltas)).add(vec(o.means ?? [0, 0, 0, 0], deltas));
    const dxy = denorm.slice(-1, 0, 2);
    let dwh = denorm.slice(-1, 2, 4);
    const pxy = rois
      .slice(-1, 0, 2)
      .add(rois.slice(-1, 2, 4))
      .mul(0.5);
    const pwh = rois.slice(-1, 2, 4).sub(rois.slice(-1, 0, 2));
    const dxyWh = pwh.mul(dxy);
    const maxRatio = Math.abs(Math.log(o.whRatioClip ?? 16 / 1000));
    dwh = dwh.clamp(-maxRatio, maxRatio);
    const gxy = pxy.add(dxyWh);
    const gwh = pwh.mul(dwh.exp());
    const half = gwh.mul(0.5);
    const x1y1 = gxy.sub(half);
    const x2y2 = gxy.add(half);
    if (o.maxShape === undefined) return cat([x1y1, x2y2], -1);
    const [h, w] = o.maxShape;
    const [x1, y1] = x1y1.unbind(-1) as [Tensor, Tensor];
    const [x2, y2] = x2y2.unbind(-1) as [Tensor, Tensor];
    return stack([x1.clamp(0, w), y1.clamp(0, h), x2.clamp(0, w), y2.clamp(0, h)], -1);
  });
}

/** The coder as a value a head holds: `new DeltaXYWHBBoxCoder({ stds: [0.1, 0.1, 0.2, 0.2] })`. */
export class DeltaXYWHBBoxCoder {
  readonly means: Vec4;
  readonly stds: Vec4;
  constructor(o: DeltaXYWHOptions = {}) {
    this.means = o.means ?? [0, 0, 0, 0];
    this.stds = o.stds ?? [1, 1, 1, 1];
  }
  /** proposals [..., 4] xyxy, gt [..., 4] xyxy -> deltas [..., 4] */
  encode(proposals: Tensor, gt: Tensor): Tensor {
    return deltaXYWHEncode(proposals, gt, { means: this.means, stds: this.stds });
  }
  /** rois [..., 4] xyxy, deltas [..., 4] -> boxes [..., 4] xyxy */
  decode(
    rois: Tensor,
    deltas: Tensor,
    o: { maxShape?: readonly [number, number]; whRatioClip?: number } = {},
  ): Tensor {
    return deltaXYWHDecode(rois, deltas, { ...o, means: this.means, stds: this.stds });
  }
}
