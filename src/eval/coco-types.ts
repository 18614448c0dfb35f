// The COCO json shapes the evaluator reads: a ground-truth file (instances_*.json) and a results
// file (a list of detections), as pycocotools' COCO() and COCO.loadRes() read them.

/** One image of a COCO ground-truth file. Only `id` is used by the evaluator. */
export interface CocoImage {
  id: number;
  width?: number;
  height?: number;
  file_name?: string;
}

/** One ground-truth box. `bbox` is [x, y, w, h] in pixels. */
export interface CocoAnnotation {
  /** Annotation id. pycocotools quirk, kept: a detection matched to an annotation with id 0 counts as a false positive. */
  id?: number;
  image_id: number;
  category_id: number;
  bbox: readonly number[]; // [4] xywh
  /**
   * Area used for the small/medium/large ranges (for polygons this is the mask area, not w*h).
   * When absent, w*h is used (pycocotools would fail on a missing area).
   */
  area?: number;
  /** A crowd region (non-zero / true): never counted as ground truth, absorbs any number of detections. Absent means 0. */
  iscrowd?: number | boolean;
}

export interface CocoCategory {
  id: number;
  name?: string;
  supercategory?: string;
}

/** A COCO ground-truth file. */
export interface CocoGroundTruth {
  images: readonly CocoImage[];
  annotations: readonly CocoAnnotation[];
  categories: readonly CocoCategory[];
}

/** One detection of a COCO results file. */
export interface CocoResult {
  image_id: number;
  category_id: number;
  bbox: readonly number[]; // [4] xywh
  score: number;
}

/**
 * Detections as columns, for callers that already hold typed arrays (a trainer's postprocess):
 * avoids building one object per detection.
 */
export interface CocoDetectionColumns {
  imageId: ArrayLike<number>; // [N]
  categoryId: ArrayLike<number>; // [N]
  bbox: ArrayLike<number>; // [N * 4] xywh, row-major
  score: ArrayLike<number>; // [N]
}
