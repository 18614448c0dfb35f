// Point-to-box distances as mmdetection's DistancePointBBoxCoder (mmdet/core/bbox/transforms.py:
// distance2bbox, bbox2distance), used by FCOS (distances in pixels) and GFL (in stride units).
// Points may be [..., 2] (x, y) or point priors [..., 4] (x, y, stride, stride): only x, y are read.
import { stack, type Tensor, tidy } from '../../core/tensor.ts';

/**
 * points [..., >=2] (x, y), distance [..., 4] (left, top, right, bottom) -> boxes [..., 4] xyxy,
 * optionally clipped to [0, w] x [0, h] of maxShape [h, w]. Differentiable in distance.
 */
export function distance2bbox(
  points: Tensor,
  distance: Tensor,
  maxShape?: readonly [number, number],
): Tensor {
  return tidy(() => {
    const px = points.select(-1, 0);
    const py = points.select(-1, 1);
    // select per column as mmdet (not unbind): the gradient then accumulates four one-column
    // tensors, so a clipped coordinate's gradient is +0 as in PyTorch, not -0
    let x1 = px.sub(distance.select(-1, 0));
    let y1 = py.sub(distance.select(-1, 1));
    let x2 = px.add(distance.select(-1, 2));
    let y2 = py.add(distance.select(-1, 3));
    if (maxShape !== undefined) {
      const [h, w] = maxShape;
      x1 = x1.clamp(0, w);
      y1 = y1.clamp(0, h);
      x2 = x2.clamp(0, w);
      y2 = y2.clamp(0, h);
    }
    return stack([x1, y1, x2, y2], -1);
  });
}

export interface Bbox2DistanceOptions {
  /**
   * Clamp each distance to [0, maxDis - eps] (GFL passes reg_max = 16 so the target stays below
   * the last bin). Default: no clamp.
   */
  maxDis?: number;
  /** Default 0.1, mmdet's default in bbox2distance and DistancePointBBoxCoder.encode. */
  eps?: number;
}

/**
 * points [..., >=2] (x, y), bbox [..., 4] xyxy -> distances [..., 4] (left, top, right, bottom).
 * With maxDis, clamped to [0, maxDis - eps] (mmdet's default eps 0.1 gives 15.9 for reg_max 16).
 */
export function bbox2distance(points: Tensor, bbox: Tensor, o: Bbox2DistanceOptions = {}): Tensor {
  return tidy(() => {
    const px = points.select(-1, 0);
    const py = points.select(-1, 1);
    let d = [
      px.sub(bbox.select(-1, 0)),
      py.sub(bbox.select(-1, 1)),
      bbox.select(-1, 2).sub(px),
      bbox.select(-1, 3).sub(py),
    ];
    if (o.maxDis !== undefined) {
      const hi = o.maxDis - (o.eps ?? 0.1);
      d = d.map((v) => v.clamp(0, hi));
    }
    return stack(d, -1);
  });
}

/** The coder as a value a head holds (mmdet's DistancePointBBoxCoder, clip_border true). */
export class DistancePointBBoxCoder {
  /** points [..., >=2], gt [..., 4] xyxy -> [..., 4] ltrb */
  encode(points: Tensor, gt: Tensor, o: Bbox2DistanceOptions = {}): Tensor {
    return bbox2distance(points, gt, o);
  }
  /** points [..., >=2], distances [..., 4] ltrb -> [..., 4] xyxy */
  decode(points: Tensor, distances: Tensor, maxShape?: readonly [number, number]): Tensor {
    return distance2bbox(points, distances, maxShape);
  }
}
