// Loading one training sample: decode → transforms, with randomness from a key. The same function
// runs in-process and inside loader workers, so batches do not depend on where it ran.
import { Boxes } from '../structures/boxes.ts';
import type { ImageMeta } from '../structures/instances.ts';
import { decodeImageFile, type RgbImage } from './decode.ts';
import { Rng } from './rng.ts';
import { applyTransforms, makeSample, type Sample, type TransformConfig } from './transforms.ts';

/** What the loader needs of a dataset record (CocoImageRecord satisfies it). */
export interface SampleRecord {
  imageId: number;
  fileName: string;
  filePath: string;
  boxes: Float32Array; // [G, 4] xyxy, original pixels
  labels: Int32Array; // [G]
  ignore: Float32Array; // [I, 4] xyxy
}

/** A dataset the loader can draw from. CocoDataset implements it. */
export interface DetectionSource {
  readonly length: number;
  get(index: number): SampleRecord;
}

/** A transformed sample as plain typed arrays (what crosses the worker boundary). */
export interface WireSample {
  image: Float32Array; // [3, h, w]
  height: number;
  width: number;
  boxes: Float32Array; // [G, 4]
  labels: Int32Array; // [G]
  ignore: Float32Array; // [I, 4]
  meta: ImageMeta;
}

/**
 * Decodes (unless `decoded` is given: a cached copy of the file's pixels) and transforms one
 * sample. The transforms' randomness comes from `key` alone, so a cached decode gives the same
 * sample as a fresh one. With `keepDecoded`, the decoded pixels come back too (for a cache).
 */
export async function loadSample(
  record: SampleRecord,
  cfg: TransformConfig,
  key: number,
  decoded?: RgbImage,
  keepDecoded = false,
): Promise<WireSample & { decoded?: RgbImage }> {
  const img = decoded ?? (await decodeImageFile(record.filePath));
  // makeSample converts to a new planar array, so the decoded pixels are never modified.
  const s = applyTransforms(makeSample(img, record), cfg, new Rng(key));
  const w = toWire(s);
  return keepDecoded && decoded === undefined ? { ...w, decoded: img } : w;
}

export function toWire(s: Sample): WireSample {
  return {
    image: s.image.data,
    height: s.image.height,
    width: s.image.width,
    boxes: s.boxes.data,
    labels: s.labels,
    ignore: s.ignore.data,
    meta: s.meta,
  };
}

export function fromWire(w: WireSample): Sample {
  return {
    image: { data: w.image, height: w.height, width: w.width },
    boxes: new Boxes('xyxy', w.boxes),
    labels: w.labels,
    ignore: new Boxes('xyxy', w.ignore),
    meta: w.meta,
  };
}

/** The buffers of a wire sample, for a transfer list. */
export function wireTransfer(w: WireSample): ArrayBuffer[] {
  return [w.image.buffer, w.boxes.buffer, w.labels.buffer, w.ignore.buffer] as ArrayBuffer[];
}
