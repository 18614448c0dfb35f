// Reading and checking COCO ground truth and results into flat typed arrays for the evaluator.
// What pycocotools keeps and drops (PythonAPI/pycocotools/coco.py and cocoeval.py _prepare):
//   - images are evaluated in ascending id order; duplicate image ids count once;
//   - ground truth whose image or category is not listed is dropped;
//   - a detection on an unknown image is an error (loadRes asserts); one with an unknown category is dropped.

import { readFileSync } from 'node:fs';
import { DetkdError } from '../core/errors.ts';
import type { CocoDetectionColumns, CocoGroundTruth } from './coco-types.ts';

/**
 * Ground truth indexed once, reusable across evaluations (a trainer evaluating every epoch).
 * Annotations are grouped by (category, image) with the integer key k * numImages + i, in
 * ascending (category id, image id) order and file order inside a group.
 */
export interface CocoGtIndex {
  readonly kind: 'coco-gt-index';
  imageIds: Float64Array; // [I] ascending
  categoryIds: Float64Array; // [K] ascending
  categoryNames: string[]; // [K]
  imageIndex: Map<number, number>; // image id -> i
  categoryIndex: Map<number, number>; // category id -> k
  groupStart: Int32Array; // [K * I + 1] offsets into the arrays below
  box: Float64Array; // [G * 4] xywh
  area: Float64Array; // [G] the `area` field (w*h when absent)
  crowd: Uint8Array; // [G] 1 for iscrowd
  idZero: Uint8Array; // [G] 1 when the annotation id is 0 (see CocoAnnotation.id)
}

/** Detections flattened and checked; `categoryIndex` -1 marks a dropped (unknown category) detection. */
export interface DetectionArrays {
  count: number;
  imageIndex: Int32Array; // [N]
  categoryIndex: Int32Array; // [N]
  box: Float64Array; // [N * 4] xywh
  score: Float64Array; // [N]
  dropped: number; // detections whose category is not in the ground truth
}

function fail(source: string, msg: string): never {
  throw new DetkdError(`${source}: ${msg}`);
}

function show(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function checkBox(source: string, where: string, v: unknown, out: Float64Array, at: number): void {
  if (!Array.isArray(v) || v.length !== 4 || !v.every(isFiniteNumber)) {
    fail(source, `${where}.bbox must be 4 finite numbers [x, y, w, h], got ${show(v)}`);
  }
  const w = v[2] as number;
  const h = v[3] as number;
  if (w < 0 || h < 0) fail(source, `${where}.bbox has a negative width or height: ${show(v)}`);
  out[at] = v[0] as number;
  out[at + 1] = v[1] as number;
  out[at + 2] = w;
  out[at + 3] = h;
}

function idList(source: string, field: string, list: unknown): { ids: number[]; items: unknown[] } {
  if (!Array.isArray(list)) fail(source, `'${field}' must be an array, got ${show(list)}`);
  const ids: number[] = [];
  for (let j = 0; j < list.length; j++) {
    const item: unknown = list[j];
    if (!isObject(item)) fail(source, `${field}[${j}] must be an object, got ${show(item)}`);
    if (!isFiniteNumber(item['id']))
      fail(source, `${field}[${j}].id must be a number, got ${show(item['id'])}`);
    ids.push(item['id']);
  }
  return { ids, items: list };
}

function sortedUnique(ids: number[]): Float64Array {
  const a = Float64Array.from(new Set(ids));
  a.sort();
  return a;
}

/**
 * Checks a COCO ground-truth object and indexes it. `source` names it in error messages (a file name).
 * Throws DetkdError naming the entry index and field for: non-array sections, non-numeric ids,
 * a bbox that is not 4 finite numbers or has negative w/h, a non-numeric `area` or `iscrowd`.
 */
export function indexGroundTruth(gt: CocoGroundTruth | unknown, source = 'ground truth'): CocoGtIndex {
  if (!isObject(gt)) fail(source, `expected a COCO ground-truth object, got ${show(gt)}`);
  const images = idList(source, 'images', gt['images']);
  const cats = idList(source, 'categories', gt['categories']);
  const anns: unknown = gt['annotations'];
  if (!Array.isArray(anns)) fail(source, `'annotations' must be an array, got ${show(anns)}`);

  const imageIds = sortedUnique(images.ids);
  const categoryIds = sortedUnique(cats.ids);
  const imageIndex = new Map<number, number>();
  for (let i = 0; i < imageIds.length; i++) imageIndex.set(imageIds[i]!, i);
  const categoryIndex = new Map<number, number>();
  for (let k = 0; k < categoryIds.length; k++) categoryIndex.set(categoryIds[k]!, k);
  const categoryNames = new Array<string>(categoryIds.length).fill('');
  // Like pycocotools' cats dict, a later duplicate category id wins.
  cats.items.forEach((c, j) => {
    const name = (c as Record<string, unknown>)['name'];
    categoryNames[categoryIndex.get(cats.ids[j]!)!] = typeof name === 'string' ? name : '';
  });

  const I = imageIds.length;
  const n = anns.length;
  const key = new Int32Array(n);
  const rawBox = new Float64Array(n * 4);
  const rawArea = new Float64Array(n);
  const rawCrowd = new Uint8Array(n);
  const rawIdZero = new Uint8Array(n);
  const groupStart = new Int32Array(categoryIds.length * I + 1);
  let kept = 0;
  for (let j = 0; j < n; j++) {
    const a: unknown = anns[j];
    const where = `annotations[${j}]`;
    if (!isObject(a)) fail(source, `${where} must be an object, got ${show(a)}`);
    const imageId = a['image_id'];
    const catId = a['category_id'];
    if (!isFiniteNumber(imageId)) fail(source, `${where}.image_id must be a number, got ${show(imageId)}`);
    if (!isFiniteNumber(catId)) fail(source, `${where}.category_id must be a number, got ${show(catId)}`);
    checkBox(source, where, a['bbox'], rawBox, j * 4);
    const area = a['area'];
    if (area === undefined) rawArea[j] = rawBox[j * 4 + 2]! * rawBox[j * 4 + 3]!;
    else if (isFiniteNumber(area)) rawArea[j] = area;
    else fail(source, `${where}.area must be a finite number, got ${show(area)}`);
    const crowd = a['iscrowd'];
    if (crowd === undefined || crowd === false || crowd === 0) rawCrowd[j] = 0;
    else if (crowd === true || isFiniteNumber(crowd)) rawCrowd[j] = 1;
    else fail(source, `${where}.iscrowd must be 0 or 1, got ${show(crowd)}`);
    const id = a['id'];
    if (id !== undefined && !isFiniteNumber(id))
      fail(source, `${where}.id must be a number, got ${show(id)}`);
    rawIdZero[j] = id === 0 ? 1 : 0;
    const i = imageIndex.get(imageId);
    const k = categoryIndex.get(catId);
    if (i === undefined || k === undefined) {
      key[j] = -1;
      continue;
    }
    key[j] = k * I + i;
    groupStart[key[j]! + 1]!++;
    kept++;
  }
  for (let g = 1; g < groupStart.length; g++) groupStart[g]! += groupStart[g - 1];

  const box = new Float64Array(kept * 4);
  const areaOut = new Float64Array(kept);
  const crowdOut = new Uint8Array(kept);
  const idZero = new Uint8Array(kept);
  const fill = groupStart.slice(0, groupStart.length - 1);
  for (let j = 0; j < n; j++) {
    const kk = key[j]!;
    if (kk < 0) continue;
    const p = fill[kk]!++;
    box.set(rawBox.subarray(j * 4, j * 4 + 4), p * 4);
    areaOut[p] = rawArea[j]!;
    crowdOut[p] = rawCrowd[j]!;
    idZero[p] = rawIdZero[j]!;
  }
  return {
    kind: 'coco-gt-index',
    imageIds,
    categoryIds,
    categoryNames,
    imageIndex,
    categoryIndex,
    groupStart,
    box,
    area: areaOut,
    crowd: crowdOut,
    idZero,
  };
}

/**
 * Checks a results list (COCO results json: objects with image_id, category_id, bbox, score) and
 * flattens it. Errors name the entry index and field; an empty list is valid.
 */
export function flattenResults(gt: CocoGtIndex, results: unknown, source = 'results'): DetectionArrays {
  if (!Array.isArray(results)) fail(source, `expected a list of detections, got ${show(results)}`);
  const n = results.length;
  const out = allocDetections(n);
  for (let j = 0; j < n; j++) {
    const r: unknown = results[j];
    const where = `results[${j}]`;
    if (!isObject(r)) fail(source, `${where} must be an object, got ${show(r)}`);
    putDetection(gt, source, where, out, j, r['image_id'], r['category_id'], r['score']);
    checkBox(source, where, r['bbox'], out.box, j * 4);
  }
  return out;
}

/** Like flattenResults, for detections already held as columns. */
export function flattenColumns(
  gt: CocoGtIndex,
  cols: CocoDetectionColumns,
  source = 'detections',
): DetectionArrays {
  const n = cols.score.length;
  if (cols.imageId.length !== n || cols.categoryId.length !== n || cols.bbox.length !== n * 4) {
    fail(
      source,
      `column lengths disagree: imageId ${cols.imageId.length}, categoryId ${cols.categoryId.length}, ` +
        `bbox ${cols.bbox.length} (want ${n * 4}), score ${n}`,
    );
  }
  const out = allocDetections(n);
  const b = [0, 0, 0, 0];
  for (let j = 0; j < n; j++) {
    const where = `detections[${j}]`;
    putDetection(gt, source, where, out, j, cols.imageId[j], cols.categoryId[j], cols.score[j]);
    for (let c = 0; c < 4; c++) b[c] = cols.bbox[j * 4 + c]!;
    checkBox(source, where, b, out.box, j * 4);
  }
  return out;
}

function allocDetections(n: number): DetectionArrays {
  return {
    count: n,
    imageIndex: new Int32Array(n),
    categoryIndex: new Int32Array(n),
    box: new Float64Array(n * 4),
    score: new Float64Array(n),
    dropped: 0,
  };
}

function putDetection(
  gt: CocoGtIndex,
  source: string,
  where: string,
  out: DetectionArrays,
  j: number,
  imageId: unknown,
  catId: unknown,
  score: unknown,
): void {
  if (!isFiniteNumber(imageId)) fail(source, `${where}.image_id must be a number, got ${show(imageId)}`);
  const i = gt.imageIndex.get(imageId);
  if (i === undefined) fail(source, `${where}.image_id ${imageId} is not an image of the ground truth`);
  if (!isFiniteNumber(catId)) fail(source, `${where}.category_id must be a number, got ${show(catId)}`);
  if (!isFiniteNumber(score)) fail(source, `${where}.score must be a finite number, got ${show(score)}`);
  const k = gt.categoryIndex.get(catId);
  out.imageIndex[j] = i;
  out.categoryIndex[j] = k ?? -1;
  if (k === undefined) out.dropped++;
  out.score[j] = score;
}

/** Reads and parses a json file; errors name the file. */
export function loadJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DetkdError(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new DetkdError(`${path}: invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}
