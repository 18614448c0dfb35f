// Boxes with their format in the type. Host-side (Float32Array) until the tensor engine lands;
// the layout [N, 4] row-major is the same one a tensor of boxes uses, so conversion is a copy.

export type BoxFormat = 'xyxy' | 'xywh' | 'cxcywh';

/**
 * N boxes in format F, stored row-major in a Float32Array of length 4N.
 * Geometric operations (area, clip, flip, scale) are defined on 'xyxy' only; convert first.
 *
 * @example
 * const b = Boxes.xywh([10, 20, 30, 40]).toXyxy(); // [[10, 20, 40, 60]]
 */
export class Boxes<F extends BoxFormat> {
  readonly format: F;
  /** [N, 4] row-major. */
  readonly data: Float32Array;

  constructor(format: F, data: Float32Array) {
    if (data.length % 4 !== 0)
      throw new RangeError(`Boxes: data length ${data.length} is not a multiple of 4`);
    this.format = format;
    this.data = data;
  }

  static xyxy(values: ArrayLike<number> = []): Boxes<'xyxy'> {
    return new Boxes('xyxy', Float32Array.from(values));
  }
  static xywh(values: ArrayLike<number> = []): Boxes<'xywh'> {
    return new Boxes('xywh', Float32Array.from(values));
  }
  static empty<G extends BoxFormat>(format: G): Boxes<G> {
    return new Boxes(format, new Float32Array(0));
  }

  /** Number of boxes N. */
  get length(): number {
    return this.data.length / 4;
  }

  /** Box i as a 4-tuple in this format. */
  get(i: number): [number, number, number, number] {
    const d = this.data;
    return [d[4 * i]!, d[4 * i + 1]!, d[4 * i + 2]!, d[4 * i + 3]!];
  }

  /** Nested arrays, for tests and JSON. */
  toArray(): [number, number, number, number][] {
    const out: [number, number, number, number][] = [];
    for (let i = 0; i < this.length; i++) out.push(this.get(i));
    return out;
  }

  clone(): Boxes<F> {
    return new Boxes(this.format, this.data.slice());
  }

  /** Boxes at the given row indices (or where mask is true). */
  select(indices: ArrayLike<number>): Boxes<F> {
    const out = new Float32Array(indices.length * 4);
    for (let k = 0; k < indices.length; k++)
      out.set(this.data.subarray(4 * indices[k]!, 4 * indices[k]! + 4), 4 * k);
    return new Boxes(this.format, out);
  }

  toXyxy(): Boxes<'xyxy'> {
    return convertBoxes(this, 'xyxy');
  }
  toXywh(): Boxes<'xywh'> {
    return convertBoxes(this, 'xywh');
  }
  toCxcywh(): Boxes<'cxcywh'> {
    return convertBoxes(this, 'cxcywh');
  }
}

/** Converts between box formats (a copy, even when the format is unchanged). */
export function convertBoxes<F extends BoxFormat, G extends BoxFormat>(boxes: Boxes<F>, to: G): Boxes<G> {
  const src = boxes.data;
  const n = boxes.length;
  const out = new Float32Array(4 * n);
  for (let i = 0; i < n; i++) {
    const a = src[4 * i]!;
    const b = src[4 * i + 1]!;
    const c = src[4 * i + 2]!;
    const d = src[4 * i + 3]!;
    // To xyxy first, in doubles.
    let x1: number;
    let y1: number;
    let x2: number;
    let y2: number;
    switch (boxes.format as BoxFormat) {
      case 'xyxy':
        x1 = a;
        y1 = b;
        x2 = c;
        y2 = d;
        break;
      case 'xywh':
        x1 = a;
        y1 = b;
        x2 = a + c;
        y2 = b + d;
        break;
      case 'cxcywh':
        x1 = a - c / 2;
        y1 = b - d / 2;
        x2 = a + c / 2;
        y2 = b + d / 2;
        break;
    }
    const o = 4 * i;
    switch (to as BoxFormat) {
      case 'xyxy':
        out[o] = x1;
        out[o + 1] = y1;
        out[o + 2] = x2;
        out[o + 3] = y2;
        break;
      case 'xywh':
        out[o] = x1;
        out[o + 1] = y1;
        out[o + 2] = x2 - x1;
        out[o + 3] = y2 - y1;
        break;
      case 'cxcywh':
        out[o] = (x1 + x2) / 2;
        out[o + 1] = (y1 + y2) / 2;
        out[o + 2] = x2 - x1;
        out[o + 3] = y2 - y1;
        break;
    }
  }
  return new Boxes(to, out);
}

/** Areas [N] of xyxy boxes; degenerate (x2 < x1) boxes have area 0. */
export function boxArea(boxes: Boxes<'xyxy'>): Float32Array {
  const d = boxes.data;
  const out = new Float32Array(boxes.length);
  for (let i = 0; i < out.length; i++) {
    const w = d[4 * i + 2]! - d[4 * i]!;
    const h = d[4 * i + 3]! - d[4 * i + 1]!;
    out[i] = w > 0 && h > 0 ? w * h : 0;
  }
  return out;
}

/** Clips xyxy boxes to [0, width] x [0, height] (continuous pixel coordinates). New object. */
export function clipBoxes(boxes: Boxes<'xyxy'>, height: number, width: number): Boxes<'xyxy'> {
  const d = boxes.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i += 4) {
    out[i] = Math.min(Math.max(d[i]!, 0), width);
    out[i + 1] = Math.min(Math.max(d[i + 1]!, 0), height);
    out[i + 2] = Math.min(Math.max(d[i + 2]!, 0), width);
    out[i + 3] = Math.min(Math.max(d[i + 3]!, 0), height);
  }
  return new Boxes('xyxy', out);
}

/**
 * Mirrors xyxy boxes in an image of the given width: x' = width - x, so [x1, x2] becomes
 * [width - x2, width - x1] (mmdetection's `bbox_flip`, continuous coordinates). Its own inverse.
 */
export function flipBoxesHorizontal(boxes: Boxes<'xyxy'>, width: number): Boxes<'xyxy'> {
  const d = boxes.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i += 4) {
    out[i] = width - d[i + 2]!;
    out[i + 1] = d[i + 1]!;
    out[i + 2] = width - d[i]!;
    out[i + 3] = d[i + 3]!;
  }
  return new Boxes('xyxy', out);
}

/** Multiplies x by sx and y by sy. */
export function scaleBoxes(boxes: Boxes<'xyxy'>, sx: number, sy: number): Boxes<'xyxy'> {
  const d = boxes.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i += 4) {
    out[i] = d[i]! * sx;
    out[i + 1] = d[i + 1]! * sy;
    out[i + 2] = d[i + 2]! * sx;
    out[i + 3] = d[i + 3]! * sy;
  }
  return new Boxes('xyxy', out);
}

/** Adds (dx, dy) to every corner. */
export function translateBoxes(boxes: Boxes<'xyxy'>, dx: number, dy: number): Boxes<'xyxy'> {
  const d = boxes.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i += 4) {
    out[i] = d[i]! + dx;
    out[i + 1] = d[i + 1]! + dy;
    out[i + 2] = d[i + 2]! + dx;
    out[i + 3] = d[i + 3]! + dy;
  }
  return new Boxes('xyxy', out);
}

/** Pairwise IoU [N, M] of xyxy boxes, row-major. */
export function boxIou(a: Boxes<'xyxy'>, b: Boxes<'xyxy'>): Float32Array {
  const n = a.length;
  const m = b.length;
  const out = new Float32Array(n * m);
  const areaA = boxArea(a);
  const areaB = boxArea(b);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      const iw = Math.min(a.data[4 * i + 2]!, b.data[4 * j + 2]!) - Math.max(a.data[4 * i]!, b.data[4 * j]!);
      const ih =
        Math.min(a.data[4 * i + 3]!, b.data[4 * j + 3]!) - Math.max(a.data[4 * i + 1]!, b.data[4 * j + 1]!);
      const inter = iw > 0 && ih > 0 ? iw * ih : 0;
      const union = areaA[i]! + areaB[j]! - inter;
      out[i * m + j] = union > 0 ? inter / union : 0;
    }
  }
  return out;
}
