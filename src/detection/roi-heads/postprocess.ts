// Faster R-CNN's box-head inference for one image (torchvision 0.14 roi_heads.py
// postprocess_detections): softmax over the N + 1 logits, class-specific decode of every RoI,
// clip to the image, drop the background column, keep (RoI, class) pairs with score above
// scoreThr, drop boxes with a side under minSize, class-wise NMS, keep the maxDetections best,
// by descending score. Labels are the score column of the class (1..N with background first,
// 0..N-1 with background last).
import { batchedNms } from '../../core/box-ops.ts';
import { noGrad, type Tensor, tensor, tidy } from '../../core/tensor.ts';
import { DeltaXYWHBBoxCoder, type Vec4 } from '../coders/delta-xywh.ts';

export interface RoiPostprocessOptions {
  /** Label (score column) of background: 0 (torchvision) or N (mmdet). */
  backgroundLabel: number;
  /** Default 0.05. */
  scoreThr?: number;
  /** Boxes with width or height below this are dropped (default 1e-2). */
  minSize?: number;
  /** Class-wise NMS IoU threshold (default 0.5). */
  nmsThr?: number;
  /** Default 100. */
  maxDetections?: number;
  /** Delta coder target stds (default 0.1, 0.1, 0.2, 0.2). */
  targetStds?: Vec4;
  targetMeans?: Vec4;
}

export interface RoiDetections {
  /** [D, 4] xyxy, clipped to the image. */
  boxes: Tensor;
  /** [D] descending. */
  scores: Tensor;
  /** [D] int64 score columns. */
  labels: Tensor;
}

/**
 * clsScore [K, N + 1], bboxPred [K, 4 (N + 1)] or [K, 4 N] (then only with background last),
 * rois [K, 4] xyxy, imageShape [h, w]. No gradient.
 */
export function postprocessDetections(
  clsScore: Tensor,
  bboxPred: Tensor,
  rois: Tensor,
  imageShape: readonly [number, number],
  o: RoiPostprocessOptions,
): RoiDetections {
  return noGrad(() =>
    tidy(() => {
      const K = clsScore.size(0);
      const C = clsScore.size(1); // N + 1
      const R = bboxPred.size(1) / 4;
      const bg = o.backgroundLabel;
      if (R !== C && !(R === C - 1 && bg === C - 1))
        throw new RangeError(
          `postprocessDetections: ${R} regression classes for ${C} scores with background ${bg}`,
        );
      const coder = new DeltaXYWHBBoxCoder({
        means: o.targetMeans ?? [0, 0, 0, 0],
        stds: o.targetStds ?? [0.1, 0.1, 0.2, 0.2],
      });
      const fg = Array.from({ length: C }, (_, c) => c).filter((c) => c !== bg);
      const fgIdx = tensor(fg, { dtype: 'int64', device: clsScore.device });
      const scores = clsScore.softmax(-1).indexSelect(1, fgIdx); // [K, N]
      const deltas = bboxPred.reshape(K, R, 4);
      const fgDeltas = R === C ? deltas.indexSelect(1, fgIdx) : deltas; // [K, N, 4]
      const boxes = coder.decode(rois.unsqueeze(1).expand(K, fg.length, 4), fgDeltas, {
        maxShape: imageShape,
      }); // [K, N, 4]
      const labels = fgIdx.unsqueeze(0).expand(K, fg.length); // [K, N]
      let b = boxes.reshape(-1, 4);
      let s = scores.reshape(-1);
      let l = labels.reshape(-1);
      const keepScore = s
        .gt(o.scoreThr ?? 0.05)
        .nonzero()
        .flatten();
      b = b.at(keepScore);
      s = s.at(keepScore);
      l = l.at(keepScore);
      const minSize = o.minSize ?? 1e-2;
      const ws = b.select(1, 2).sub(b.select(1, 0));
      const hs = b.select(1, 3).sub(b.select(1, 1));
      const big = ws.ge(minSize).logicalAnd(hs.ge(minSize)).nonzero().flatten();
      b = b.at(big);
      s = s.at(big);
      l = l.at(big);
      let keep = batchedNms(b, s, l, o.nmsThr ?? 0.5);
      const max = o.maxDetections ?? 100;
      if (keep.size(0) > max) keep = keep.slice(0, 0, max);
      return { boxes: b.at(keep), scores: s.at(keep), labels: l.at(keep) };
    }),
  );
}
