// Ground truth, detections and per-image metadata (host side).
import { Boxes, clipBoxes, flipBoxesHorizontal, scaleBoxes } from './boxes.ts';

/** Height and width in pixels, in that order (as tensors are [.., H, W]). */
export type HW = readonly [h: number, w: number];

/**
 * Where an input image came from and what was done to it, so predictions map back.
 * The transforms run in the order resize → flip → pad, and pad only adds zeros at the
 * bottom/right, so input pixel coordinates equal coordinates in the resized (and flipped) image.
 */
export interface ImageMeta {
  /** The COCO image id (the original id, as results files need it). */
  imageId: number;
  /** File the image was read from (for messages). */
  fileName: string;
  /** Size of the decoded file, [h, w]. */
  oriShape: HW;
  /** Size after resize, before padding, [h, w]: the valid region of the padded input. */
  imgShape: HW;
  /** Size after padding, [h, w] (the batch's H, W). */
  padShape: HW;
  /** imgShape / oriShape per axis: [sx, sy] = [imgW / oriW, imgH / oriH]. */
  scaleFactor: readonly [sx: number, sy: number];
  /** Mirrored left-right (after the resize). */
  flipped: boolean;
}

/** The targets of one image: gtBoxes [G, 4] xyxy, gtLabels [G] contiguous 0..C-1, ignoreBoxes [I, 4] xyxy. */
export interface GtInstances {
  boxes: Boxes<'xyxy'>; // [G, 4] xyxy, input pixels
  labels: Int32Array; // [G] contiguous labels 0..C-1
  ignore: Boxes<'xyxy'>; // [I, 4] xyxy crowd regions, input pixels
}

/** Detections of one image: boxes [D, 4] xyxy, scores [D], labels [D] contiguous. */
export interface Detections {
  boxes: Boxes<'xyxy'>; // [D, 4]
  scores: Float32Array; // [D]
  labels: Int32Array; // [D]
}

export function emptyGt(): GtInstances {
  return { boxes: Boxes.empty('xyxy'), labels: new Int32Array(0), ignore: Boxes.empty('xyxy') };
}

/**
 * Maps xyxy boxes in input pixels (of the transformed image) back to the original image:
 * un-flip in the resized frame, divide by the scale factor, clip to the original size.
 * The inverse of what the data pipeline did to the ground truth.
 */
export function boxesToOriginal(boxes: Boxes<'xyxy'>, meta: ImageMeta, clip = true): Boxes<'xyxy'> {
  let b = boxes;
  if (meta.flipped) b = flipBoxesHorizontal(b, meta.imgShape[1]);
  b = scaleBoxes(b, 1 / meta.scaleFactor[0], 1 / meta.scaleFactor[1]);
  return clip ? clipBoxes(b, meta.oriShape[0], meta.oriShape[1]) : b;
}

/** The forward mapping: original image boxes to input pixels (resize, then flip). */
export function boxesToInput(boxes: Boxes<'xyxy'>, meta: ImageMeta): Boxes<'xyxy'> {
  let b = scaleBoxes(boxes, meta.scaleFactor[0], meta.scaleFactor[1]);
  if (meta.flipped) b = flipBoxesHorizontal(b, meta.imgShape[1]);
  return b;
}
