// Post-processing of dense detector outputs, as mmdetection's BaseDenseHead.get_bboxes /
// _get_bboxes_single: per level, sigmoid scores, score threshold, top-k over (prior, class)
// pairs, decode; then boxes mapped back to the original image, class-aware NMS, and the
// highest-scoring `maxPerImg` kept.
import { batchedNms } from '../core/box-ops.ts';
import { cat, noGrad, type Tensor, tensor, tidy } from '../core/tensor.ts';
import type { ImageMeta } from '../structures/instances.ts';

export interface PostprocessConfig {
  /** Detections scoring below this are dropped before NMS (mmdet: 0.05). */
  scoreThr: number;
  /** Candidates kept per level before NMS (mmdet: nms_pre 1000). */
  nmsPre: number;
  /** IoU threshold of the class-aware NMS (RetinaNet/FCOS 0.5, ATSS/GFL 0.6). */
  iouThr: number;
  /** Detections kept per image (COCO: 100). */
  maxPerImg: number;
}

export const DEFAULT_POSTPROCESS: PostprocessConfig = {
  scoreThr: 0.05,
  nmsPre: 1000,
  iouThr: 0.6,
  maxPerImg: 100,
};

/** One image's detections, in original-image pixels. */
export interface DetectionResult {
  boxes: Tensor; // [D, 4] xyxy
  scores: Tensor; // [D]
  labels: Tensor; // [D] int64, contiguous 0..C-1
}

/** One level of one image, already in the head's flattened layout. */
export interface LevelPrediction {
  /** [K, C] class logits (sigmoid applied here). */
  clsLogits: Tensor;
  /** [K, R] raw box predictions, decoded by `decode`. */
  boxPreds: Tensor;
  /** [K, 4] the priors of this level. */
  priors: Tensor;
  /** [K] optional score factors (FCOS/ATSS centre-ness logits; sigmoid applied here). */
  centerness?: Tensor;
}

/**
 * Turns one image's per-level predictions into detections.
 * decode(priors [k,4], preds [k,R]) -> boxes [k,4] xyxy in input pixels.
 */
export function postprocessImage(
  levels: readonly LevelPrediction[],
  decode: (priors: Tensor, preds: Tensor) => Tensor,
  meta: ImageMeta,
  cfg: PostprocessConfig = DEFAULT_POSTPROCESS,
): DetectionResult {
  return noGrad(() =>
    tidy(() => {
      const allBoxes: Tensor[] = [];
      const allScores: Tensor[] = [];
      const allLabels: Tensor[] = [];
      for (const lv of levels) {
        const numClasses = lv.clsLogits.size(1);
        const scores = lv.clsLogits.sigmoid(); // [K, C]
        // mmdet's filter_scores_and_topk: threshold over all (prior, class) pairs, then top-k.
        const flat = scores.flatten();
        const keepMask = flat.gt(cfg.scoreThr);
        let idx = keepMask.nonzero().flatten(); // positions in [K*C]
        let kept = flat.at(idx);
        if (kept.size(0) > cfg.nmsPre) {
          const top = kept.topk(cfg.nmsPre);
          kept = top.values;
          idx = idx.at(top.indices);
        }
        if (kept.size(0) === 0) continue;
        const priorIdx = idx.div(numClasses, 'floor');
        const labels = idx.remainder(numClasses);
        let s = kept;
        if (lv.centerness) s = s.mul(lv.centerness.sigmoid().at(priorIdx));
        const boxes = decode(lv.priors.at(priorIdx), lv.boxPreds.at(priorIdx));
        allBoxes.push(boxes);
        allScores.push(s);
        allLabels.push(labels);
      }
      if (allBoxes.length === 0) {
        return {
          boxes: tensor(new Float32Array(0), { shape: [0, 4] }),
          scores: tensor(new Float32Array(0)),
          labels: tensor(new BigInt64Array(0)),
        };
      }
      const boxes = toOriginal(cat(allBoxes), meta);
      const scores = cat(allScores);
      const labels = cat(allLabels);
      let keep = batchedNms(boxes, scores, labels, cfg.iouThr); // by descending score
      if (keep.size(0) > cfg.maxPerImg) keep = keep.slice(0, 0, cfg.maxPerImg);
      return { boxes: boxes.at(keep), scores: scores.at(keep), labels: labels.at(keep) };
    }),
  );
}

/**
 * Boxes [N,4] xyxy in input pixels -> original image pixels: undo the flip (in the resized
 * frame), divide by the scale factor, clip to the original size.
 */
export function toOriginal(boxes: Tensor, meta: ImageMeta): Tensor {
  return tidy(() => {
    let b = boxes;
    if (meta.flipped) {
      const w = meta.imgShape[1];
      const [x1, y1, x2, y2] = b.unbind(1) as [Tensor, Tensor, Tensor, Tensor];
      b = cat([x2.rsub(w).unsqueeze(1), y1.unsqueeze(1), x1.rsub(w).unsqueeze(1), y2.unsqueeze(1)], 1);
    }
    const [sx, sy] = meta.scaleFactor;
    b = b.div(tensor([sx, sy, sx, sy]));
    const [h, w] = meta.oriShape;
    const [x1, y1, x2, y2] = b.unbind(1) as [Tensor, Tensor, Tensor, Tensor];
    return cat(
      [
        x1.clamp(0, w).unsqueeze(1),
        y1.clamp(0, h).unsqueeze(1),
        x2.clamp(0, w).unsqueeze(1),
        y2.clamp(0, h).unsqueeze(1),
      ],
      1,
    );
  });
}

export interface CocoResultEntry {
  image_id: number;
  category_id: number;
  bbox: [number, number, number, number];
  score: number;
}

/** COCO results entries (xywh, original category ids) for one image's detections. */
export function toCocoResults(
  det: DetectionResult,
  imageId: number,
  categoryIdOf: (label: number) => number,
): CocoResultEntry[] {
  const b = det.boxes.toArray();
  const s = det.scores.toArray();
  const l = det.labels.toArray();
  const out: CocoResultEntry[] = [];
  for (let i = 0; i < s.length; i++) {
    const x1 = b[4 * i]!;
    const y1 = b[4 * i + 1]!;
    out.push({
      image_id: imageId,
      category_id: categoryIdOf(l[i]!),
      bbox: [x1, y1, b[4 * i + 2]! - x1, b[4 * i + 3]! - y1],
      score: s[i]!,
    });
  }
  return out;
}
