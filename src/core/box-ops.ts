// Box geometry as ATen composites, so losses get gradients from autograd. Boxes are xyxy.
// Pairwise functions follow torchvision.ops (box_iou, generalized_box_iou); the `eps` variants
// follow mmdetection's bbox_overlaps (union and enclosing area clamped to eps), which the
// detection losses use.
import { native } from './native.ts';
import { type Tensor, tidy, wrap } from './tensor.ts';

/** boxes [..., 4] xyxy -> [...] */
export function boxArea(boxes: Tensor): Tensor {
  return tidy(() => {
    const [x1, y1, x2, y2] = boxes.unbind(-1) as [Tensor, Tensor, Tensor, Tensor];
    return x2.sub(x1).mul(y2.sub(y1));
  });
}

/** a [N,4], b [M,4] xyxy -> IoU [N,M] (torchvision.ops.box_iou) */
export function boxIou(a: Tensor, b: Tensor): Tensor {
  return tidy(() => {
    const { inter, union } = interUnion(a, b);
    return inter.div(union);
  });
}

function interUnion(a: Tensor, b: Tensor): { inter: Tensor; union: Tensor } {
  const areaA = boxArea(a); // [N]
  const areaB = boxArea(b); // [M]
  const lt = a
    .slice(1, 0, 2)
    .unsqueeze(1)
    .maximum(b.slice(1, 0, 2).unsqueeze(0)); // [N,M,2]
  const rb = a
    .slice(1, 2, 4)
    .unsqueeze(1)
    .minimum(b.slice(1, 2, 4).unsqueeze(0)); // [N,M,2]
  const wh = rb.sub(lt).clampMin(0);
  const inter = wh.select(2, 0).mul(wh.select(2, 1)); // [N,M]
  const union = areaA.unsqueeze(1).add(areaB.unsqueeze(0)).sub(inter);
  return { inter, union };
}

/** a [N,4], b [M,4] xyxy -> GIoU [N,M] (torchvision.ops.generalized_box_iou) */
export function generalizedBoxIou(a: Tensor, b: Tensor): Tensor {
  return tidy(() => {
    const { inter, union } = interUnion(a, b);
    const iou = inter.div(union);
    const lt = a
      .slice(1, 0, 2)
      .unsqueeze(1)
      .minimum(b.slice(1, 0, 2).unsqueeze(0));
    const rb = a
      .slice(1, 2, 4)
      .unsqueeze(1)
      .maximum(b.slice(1, 2, 4).unsqueeze(0));
    const wh = rb.sub(lt).clampMin(0);
    const area = wh.select(2, 0).mul(wh.select(2, 1));
    return iou.sub(area.sub(union).div(area));
  });
}

export type OverlapMode = 'iou' | 'giou';

/**
 * mmdetection's bbox_overlaps. aligned: a [...,N,4], b [...,N,4] -> [...,N]; else
 * a [N,4], b [M,4] -> [N,M]. The union and the enclosing area are clamped to eps.
 */
export function bboxOverlaps(
  a: Tensor,
  b: Tensor,
  o: { mode?: OverlapMode; aligned?: boolean; eps?: number } = {},
): Tensor {
  const mode = o.mode ?? 'iou';
  const eps = o.eps ?? 1e-6;
  return tidy(() => {
    let A = a;
    let B = b;
    if (!o.aligned) {
      A = a.unsqueeze(-2); // [N,1,4]
      B = b.unsqueeze(-3); // [1,M,4]
    }
    const area1 = boxArea(A);
    const area2 = boxArea(B);
    const lt = A.slice(-1, 0, 2).maximum(B.slice(-1, 0, 2));
    const rb = A.slice(-1, 2, 4).minimum(B.slice(-1, 2, 4));
    const wh = rb.sub(lt).clampMin(0);
    const overlap = wh.select(-1, 0).mul(wh.select(-1, 1));
    const union = area1.add(area2).sub(overlap).clampMin(eps);
    const ious = overlap.div(union);
    if (mode === 'iou') return ious;
    const elt = A.slice(-1, 0, 2).minimum(B.slice(-1, 0, 2));
    const erb = A.slice(-1, 2, 4).maximum(B.slice(-1, 2, 4));
    const ewh = erb.sub(elt).clampMin(0);
    const enclose = ewh.select(-1, 0).mul(ewh.select(-1, 1)).clampMin(eps);
    return ious.sub(enclose.sub(union).div(enclose));
  });
}

/**
 * Class-aware NMS (torchvision.ops.batched_nms semantics): boxes [N,4] xyxy, scores [N],
 * idxs [N] int (class or group id). Returns kept indices [K] int64, by descending score (ties in
 * input order). CUDA inputs are copied to the host for the kernel.
 */
export function batchedNms(boxes: Tensor, scores: Tensor, idxs: Tensor, iouThreshold: number): Tensor {
  return wrap(native.batchedNms(boxes.h, scores.h, idxs.h, iouThreshold));
}

/** Single-class NMS. */
export function nms(boxes: Tensor, scores: Tensor, iouThreshold: number): Tensor {
  return tidy(() => {
    return batchedNms(boxes, scores, groupZeros(boxes.size(0)), iouThreshold);
  });
}

function groupZeros(n: number): Tensor {
  return wrap(native.fromBuffer(new BigInt64Array(n), 4, [n]));
}
