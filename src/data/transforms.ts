// Transforms on host arrays. Images are planar float32 [3, H, W], RGB 0..255 (the layout of the
// batch tensor), boxes are xyxy in pixels. The order is fixed: resize → flip → photometric → pad;
// boxes follow each geometric step, and ImageMeta records what was done so predictions map back
// (see boxesToOriginal in structures/instances.ts).
import { Boxes, clipBoxes, flipBoxesHorizontal, scaleBoxes } from '../structures/boxes.ts';
import type { ImageMeta } from '../structures/instances.ts';
import type { RgbImage } from './decode.ts';
import type { Rng } from './rng.ts';

/** A planar RGB float image: data is [3, H, W], values 0..255. */
export interface HostImage {
  data: Float32Array; // [3, H, W]
  height: number;
  width: number;
}

/** Resize target: keep aspect ratio within (short side, long side max), or a fixed size. */
export type ResizeSpec =
  | { kind: 'keepRatio'; short: number; max: number }
  | { kind: 'fixed'; height: number; width: number };

export interface PhotometricConfig {
  /** Brightness factor drawn from [1 - b, 1 + b] (torchvision ColorJitter semantics). */
  brightness: number;
  /** Contrast factor from [1 - c, 1 + c], blending with the mean grey level. */
  contrast: number;
  /** Saturation factor from [1 - s, 1 + s], blending with the per-pixel grey. */
  saturation: number;
}

/** A plain-data description of the pipeline (it is sent to loader workers). */
export interface TransformConfig {
  resize: ResizeSpec | null;
  /** Probability of a horizontal flip (0 for eval). */
  flipProb: number;
  photometric: PhotometricConfig | null;
  /** Batches are zero-padded bottom/right to a multiple of this (default 32). */
  padDivisor: number;
}

export const evalTransforms = (resize: ResizeSpec | null, padDivisor = 32): TransformConfig => ({
  resize,
  flipProb: 0,
  photometric: null,
  padDivisor,
});

export const trainTransforms = (resize: ResizeSpec | null, padDivisor = 32): TransformConfig => ({
  resize,
  flipProb: 0.5,
  photometric: { brightness: 0.2, contrast: 0.2, saturation: 0.2 },
  padDivisor,
});

/** One image with its targets and metadata, as it moves through the pipeline. */
export interface Sample {
  image: HostImage;
  boxes: Boxes<'xyxy'>; // [G, 4]
  labels: Int32Array; // [G]
  ignore: Boxes<'xyxy'>; // [I, 4]
  meta: ImageMeta;
}

/** Interleaved uint8 [H, W, 3] → planar float32 [3, H, W]. */
export function rgbToPlanar(img: RgbImage): HostImage {
  const { height, width, data } = img;
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    out[i] = data[j]!;
    out[plane + i] = data[j + 1]!;
    out[2 * plane + i] = data[j + 2]!;
  }
  return { data: out, height, width };
}

/** Planar float → interleaved uint8 (rounded, clamped), e.g. to save a transformed image. */
export function planarToRgb(img: HostImage): RgbImage {
  const { height, width, data } = img;
  const plane = height * width;
  const out = new Uint8Array(3 * plane);
  for (let i = 0, j = 0; i < plane; i++, j += 3) {
    for (let c = 0; c < 3; c++) out[j + c] = Math.min(255, Math.max(0, Math.round(data[c * plane + i]!)));
  }
  return { data: out, height, width };
}

/**
 * The output size [h, w] of a resize. keepRatio uses scale = min(short / min(h, w), max / max(h, w))
 * and rounds each side as int(x * scale + 0.5) (mmcv's rescale_size).
 */
export function resizeShape(height: number, width: number, spec: ResizeSpec): [number, number] {
  if (spec.kind === 'fixed') return [spec.height, spec.width];
  const scale = Math.min(spec.short / Math.min(height, width), spec.max / Math.max(height, width));
  return [Math.max(1, Math.floor(height * scale + 0.5)), Math.max(1, Math.floor(width * scale + 0.5))];
}

function axisTable(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; w: Float32Array } {
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    // Half-pixel centres (OpenCV INTER_LINEAR, torch align_corners=False), clamped at the border.
    let s = (o + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    let a = Math.floor(s);
    if (a > inSize - 1) a = inSize - 1;
    i0[o] = a;
    i1[o] = Math.min(a + 1, inSize - 1);
    w[o] = s - a;
  }
  return { i0, i1, w };
}

/** Bilinear resize of a planar image (no antialiasing, like cv2.resize INTER_LINEAR). */
export function resizeBilinear(img: HostImage, outH: number, outW: number): HostImage {
  const { height: h, width: w, data } = img;
  if (outH === h && outW === w) return { data: data.slice(), height: h, width: w };
  const ty = axisTable(h, outH);
  const tx = axisTable(w, outW);
  const out = new Float32Array(3 * outH * outW);
  for (let c = 0; c < 3; c++) {
    const src = c * h * w;
    const dst = c * outH * outW;
    for (let y = 0; y < outH; y++) {
      const r0 = src + ty.i0[y]! * w;
      const r1 = src + ty.i1[y]! * w;
      const wy = ty.w[y]!;
      const row = dst + y * outW;
      for (let x = 0; x < outW; x++) {
        const x0 = tx.i0[x]!;
        const x1 = tx.i1[x]!;
        const wx = tx.w[x]!;
        const top = data[r0 + x0]! + (data[r0 + x1]! - data[r0 + x0]!) * wx;
        const bot = data[r1 + x0]! + (data[r1 + x1]! - data[r1 + x0]!) * wx;
        out[row + x] = top + (bot - top) * wy;
      }
    }
  }
  return { data: out, height: outH, width: outW };
}

/** Mirrors a planar image left-right. */
export function flipImage(img: HostImage): HostImage {
  const { height: h, width: w, data } = img;
  const out = new Float32Array(data.length);
  for (let r = 0; r < 3 * h; r++) {
    const o = r * w;
    for (let x = 0; x < w; x++) out[o + x] = data[o + w - 1 - x]!;
  }
  return { data: out, height: h, width: w };
}

/** Zero-pads bottom/right to (padH, padW). */
export function padImage(img: HostImage, padH: number, padW: number): HostImage {
  const { height: h, width: w, data } = img;
  if (padH < h || padW < w) throw new RangeError(`padImage: ${h}x${w} does not fit in ${padH}x${padW}`);
  const out = new Float32Array(3 * padH * padW);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < h; y++)
      out.set(data.subarray((c * h + y) * w, (c * h + y + 1) * w), (c * padH + y) * padW);
  }
  return { data: out, height: padH, width: padW };
}

/** Rounds a size up to a multiple of divisor. */
export function padTo(size: number, divisor: number): number {
  return Math.ceil(size / divisor) * divisor;
}

/**
 * Photometric jitter in place with given factors: brightness (multiply), contrast (blend with the
 * image's mean grey), saturation (blend with the per-pixel grey), clamped to 0..255 after each
 * step, as torchvision's ColorJitter does in this fixed order. Grey = 0.299 R + 0.587 G + 0.114 B.
 */
export function adjustColours(
  img: HostImage,
  brightness: number,
  contrast: number,
  saturation: number,
): void {
  const d = img.data;
  const plane = img.height * img.width;
  // Pass 1: brightness, and the grey mean the contrast step blends towards.
  let sum = 0;
  for (let i = 0; i < plane; i++) {
    let r = d[i]! * brightness;
    let g = d[plane + i]! * brightness;
    let b = d[2 * plane + i]! * brightness;
    r = Math.min(r, 255);
    g = Math.min(g, 255);
    b = Math.min(b, 255);
    d[i] = r;
    d[plane + i] = g;
    d[2 * plane + i] = b;
    sum += 0.299 * r + 0.587 * g + 0.114 * b;
  }
  if (contrast === 1 && saturation === 1) return;
  // Pass 2: contrast, then saturation, per pixel (same result as two full passes).
  const mean = sum / plane;
  const mc = mean * (1 - contrast);
  for (let i = 0; i < plane; i++) {
    let r = mc + d[i]! * contrast;
    let g = mc + d[plane + i]! * contrast;
    let b = mc + d[2 * plane + i]! * contrast;
    r = r < 0 ? 0 : Math.min(r, 255);
    g = g < 0 ? 0 : Math.min(g, 255);
    b = b < 0 ? 0 : Math.min(b, 255);
    const grey = (0.299 * r + 0.587 * g + 0.114 * b) * (1 - saturation);
    r = grey + r * saturation;
    g = grey + g * saturation;
    b = grey + b * saturation;
    d[i] = r < 0 ? 0 : Math.min(r, 255);
    d[plane + i] = g < 0 ? 0 : Math.min(g, 255);
    d[2 * plane + i] = b < 0 ? 0 : Math.min(b, 255);
  }
}

/** Resizes image and boxes; records imgShape and scaleFactor. */
export function resizeSample(s: Sample, spec: ResizeSpec): Sample {
  const [h, w] = resizeShape(s.image.height, s.image.width, spec);
  const sx = w / s.meta.oriShape[1];
  const sy = h / s.meta.oriShape[0];
  const image = resizeBilinear(s.image, h, w);
  return {
    image,
    boxes: clipBoxes(scaleBoxes(s.boxes, sx, sy), h, w),
    labels: s.labels,
    ignore: clipBoxes(scaleBoxes(s.ignore, sx, sy), h, w),
    meta: { ...s.meta, imgShape: [h, w], padShape: [h, w], scaleFactor: [sx, sy] },
  };
}

/** Mirrors image and boxes left-right; toggles meta.flipped. */
export function flipSample(s: Sample): Sample {
  const w = s.image.width;
  return {
    image: flipImage(s.image),
    boxes: flipBoxesHorizontal(s.boxes, w),
    labels: s.labels,
    ignore: flipBoxesHorizontal(s.ignore, w),
    meta: { ...s.meta, flipped: !s.meta.flipped },
  };
}

/** The initial sample of a decoded image and its targets in original pixels. */
export function makeSample(
  img: RgbImage,
  targets: {
    imageId: number;
    fileName: string;
    boxes: Float32Array;
    labels: Int32Array;
    ignore: Float32Array;
  },
): Sample {
  return {
    image: rgbToPlanar(img),
    boxes: new Boxes('xyxy', targets.boxes.slice()),
    labels: targets.labels.slice(),
    ignore: new Boxes('xyxy', targets.ignore.slice()),
    meta: {
      imageId: targets.imageId,
      fileName: targets.fileName,
      oriShape: [img.height, img.width],
      imgShape: [img.height, img.width],
      padShape: [img.height, img.width],
      scaleFactor: [1, 1],
      flipped: false,
    },
  };
}

/**
 * Runs the configured pipeline (resize → flip → photometric). All random draws come from `rng`,
 * which the loader seeds from (seed, epoch, index); draws happen in a fixed order whatever the
 * config so that enabling one transform does not shift the others' numbers.
 */
export function applyTransforms(s: Sample, cfg: TransformConfig, rng: Rng): Sample {
  const flipDraw = rng.float();
  const fb = rng.uniform(-1, 1);
  const fc = rng.uniform(-1, 1);
  const fs = rng.uniform(-1, 1);
  let out = s;
  if (cfg.resize !== null) out = resizeSample(out, cfg.resize);
  if (flipDraw < cfg.flipProb) out = flipSample(out);
  if (cfg.photometric !== null) {
    const p = cfg.photometric;
    if (out === s) out = { ...s, image: { ...s.image, data: s.image.data.slice() } };
    adjustColours(out.image, 1 + fb * p.brightness, 1 + fc * p.contrast, 1 + fs * p.saturation);
  }
  return out;
}
