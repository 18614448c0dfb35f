// The layout of one synthetic image (pure geometry and appearance, from an Rng) and its
// visibility (ownership raster, no colour). Both are cheap, so the size distribution of the
// annotations can be checked without rendering every image; scene-render.ts draws the pixels.
//
// Annotation policy:
//   - bbox is the tight box of the FULL shape (COCO practice under occlusion), not of the visible
//     part; objects are always placed wholly inside the image.
//   - visibility = pixels the object owns in the final image / pixels of its full shape.
//     visibility < 0.3 (more than 70% hidden) → the annotation is kept as iscrowd = 1, which the
//     loader turns into an ignore region (and COCO eval ignores detections there);
//     visibility < 0.02 → no annotation (the object is not really there).
//   - area = bbox width x height (so COCO eval's area buckets are box-area buckets).

import type { Rng } from '../rng.ts';
import { SYNTH_CLASSES } from './classes.ts';
import type { SizeBand, SynthPreset } from './presets.ts';
import { coverage, type Fill, mark, placePolygon, type Rgb, type Shape, shapeBounds } from './raster.ts';
import { classFill, classShape, distractor, dullColor } from './scene-shapes.ts';

export const CROWD_VISIBILITY = 0.3;
export const DROP_VISIBILITY = 0.02;

export interface SceneItem {
  shape: Shape;
  fill: Fill;
  frame: { cx: number; cy: number; angle: number };
  /** COCO category id, or 0 for a distractor. */
  categoryId: number;
}

export type Background =
  | { kind: 'plain'; c1: Rgb }
  | { kind: 'gradient'; c1: Rgb; c2: Rgb; angle: number }
  | { kind: 'stripes'; c1: Rgb; c2: Rgb; angle: number; period: number }
  | { kind: 'checker'; c1: Rgb; c2: Rgb; cell: number; angle: number }
  | { kind: 'noise'; c1: Rgb; c2: Rgb; cell: number; grid: Float32Array };

export interface Scene {
  size: number;
  background: Background;
  clutter: { shape: Shape; color: Rgb }[];
  /** In draw order; later items cover earlier ones. */
  items: SceneItem[];
  noiseAmp: number;
  noiseKey: number;
}

export interface SceneAnnotation {
  categoryId: number;
  bbox: [number, number, number, number]; // xywh, rounded to 0.01
  area: number;
  iscrowd: 0 | 1;
  visibility: number;
}

function inter(a: readonly number[], b: readonly number[]): number {
  const w = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!);
  const h = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!);
  return w > 0 && h > 0 ? w * h : 0;
}

/** Places one class object of the given band; null when no placement satisfies the overlap rule. */
function placeObject(
  rng: Rng,
  preset: SynthPreset,
  band: SizeBand,
  placed: [number, number, number, number][],
): SceneItem | null {
  const cls = rng.pick(SYNTH_CLASSES);
  const { build, angle, aspect } = classShape(rng, cls.shape);
  const area = rng.logUniform(band.area[0], band.area[1]);
  // Scale a unit shape so its box has the target area, then enforce min/max side.
  const [ux1, uy1, ux2, uy2] = shapeBounds(build(0, 0, 1));
  const uw = ux2 - ux1;
  const uh = uy2 - uy1;
  let r = Math.sqrt(area / (uw * uh));
  r = Math.max(r, preset.minSide / Math.min(uw, uh));
  r = Math.min(r, (preset.maxSideFrac * preset.size) / Math.max(uw, uh));
  const bw = uw * r;
  const bh = uh * r;
  for (let attempt = 0; attempt < 20; attempt++) {
    // Keep the whole box inside the image, with a 1 px margin.
    const x1 = rng.uniform(1, preset.size - 1 - bw);
    const y1 = rng.uniform(1, preset.size - 1 - bh);
    const cx = x1 - ux1 * r;
    const cy = y1 - uy1 * r;
    const box: [number, number, number, number] = [x1, y1, x1 + bw, y1 + bh];
    // An object may cover at most 45% of the box of any object placed before it.
    let ok = true;
    for (const p of placed) {
      if (inter(box, p) > 0.45 * (p[2] - p[0]) * (p[3] - p[1])) {
        ok = false;
        break;
      }
    }
    if (!ok) continue;
    placed.push(box);
    const fill = classFill(rng, cls, r, aspect);
    return { shape: build(cx, cy, r), fill, frame: { cx, cy, angle }, categoryId: cls.id };
  }
  return null;
}

function makeBackground(rng: Rng, size: number): Background {
  const c1 = dullColor(rng, 0.35, 0.25, 0.85);
  let c2 = dullColor(rng, 0.35, 0.25, 0.85);
  const kind = rng.int(0, 4);
  switch (kind) {
    case 0:
      return { kind: 'plain', c1 };
    case 1:
      return { kind: 'gradient', c1, c2, angle: rng.uniform(0, 2 * Math.PI) };
    case 2:
      // Keep stripe contrast moderate: pull c2 halfway to c1.
      c2 = [(c1[0] + c2[0]) / 2, (c1[1] + c2[1]) / 2, (c1[2] + c2[2]) / 2];
      return { kind: 'stripes', c1, c2, angle: rng.uniform(0, Math.PI), period: rng.uniform(6, 28) };
    case 3:
      c2 = [(c1[0] + c2[0]) / 2, (c1[1] + c2[1]) / 2, (c1[2] + c2[2]) / 2];
      return { kind: 'checker', c1, c2, cell: rng.uniform(6, 24), angle: rng.uniform(0, Math.PI / 2) };
    default: {
      const cell = rng.uniform(16, 48);
      const n = Math.ceil(size / cell) + 2;
      const grid = new Float32Array(n * n);
      for (let i = 0; i < grid.length; i++) grid[i] = rng.float();
      return { kind: 'noise', c1, c2, cell, grid };
    }
  }
}

/**
 * Lays out one image: background, clutter, objects (band by band) and distractors (inserted at
 * random depths). Every choice comes from `rng`.
 */
export function layoutScene(rng: Rng, preset: SynthPreset): Scene {
  const size = preset.size;
  const background = makeBackground(rng, size);
  const clutter: Scene['clutter'] = [];
  const nClutter = rng.int(preset.clutter[0], preset.clutter[1]);
  for (let i = 0; i < nClutter; i++) {
    const cx = rng.uniform(0, size);
    const cy = rng.uniform(0, size);
    const len = rng.uniform(0.2, 0.8) * size;
    const t = rng.uniform(0.6, 1.6);
    const a = rng.uniform(0, Math.PI);
    clutter.push({
      shape: {
        kind: 'polygon',
        cx,
        cy,
        angle: a,
        points: placePolygon([-len / 2, -t, len / 2, -t, len / 2, t, -len / 2, t], cx, cy, a),
      },
      color: dullColor(rng, 0.2),
    });
  }
  const bands: SizeBand[] = [...preset.bands];
  if (preset.crowded !== null && rng.bool(preset.crowded.prob)) bands.push(preset.crowded.band);
  const items: SceneItem[] = [];
  const placed: [number, number, number, number][] = [];
  for (const band of bands) {
    const n = rng.int(band.count[0], band.count[1]);
    for (let i = 0; i < n; i++) {
      const it = placeObject(rng, preset, band, placed);
      if (it !== null) items.push(it);
    }
  }
  const nd = rng.int(preset.distractors[0], preset.distractors[1]);
  const maxR = 0.12 * size;
  for (let i = 0; i < nd; i++) {
    const r = rng.uniform(preset.minSide / 2, Math.max(preset.minSide, maxR));
    const cx = rng.uniform(r, size - r);
    const cy = rng.uniform(r, size - r);
    const { shape, angle } = distractor(rng, cx, cy, r);
    const fill: Fill = rng.bool(0.7)
      ? { kind: 'solid', color: dullColor(rng, 0.15, 0.05, 0.97) }
      : {
          kind: 'stripes',
          color: dullColor(rng, 0.15),
          color2: dullColor(rng, 0.15),
          period: rng.uniform(4, 10),
          angle: 0,
        };
    const at = rng.int(0, items.length);
    items.splice(at, 0, { shape, fill, frame: { cx, cy, angle }, categoryId: 0 });
  }
  return {
    size,
    background,
    clutter,
    items,
    noiseAmp: rng.uniform(preset.noise[0], preset.noise[1]),
    noiseKey: rng.nextU32(),
  };
}

/** Visibility of each item: owned pixels in the final image / pixels of the full shape. */
export function computeVisibility(scene: Scene): Float32Array {
  const n = scene.size;
  const owner = new Int16Array(n * n).fill(-1);
  const full = new Float64Array(scene.items.length);
  scene.items.forEach((it, k) => {
    full[k] = mark(owner, n, coverage(it.shape, n, n), k);
  });
  return visibilityFromOwner(owner, full);
}

export function visibilityFromOwner(owner: Int16Array, full: Float64Array): Float32Array {
  const vis = new Float64Array(full.length);
  for (let i = 0; i < owner.length; i++) if (owner[i]! >= 0) vis[owner[i]!]!++;
  const out = new Float32Array(full.length);
  for (let k = 0; k < full.length; k++) out[k] = full[k]! > 0 ? vis[k]! / full[k]! : 0;
  return out;
}

const r2 = (v: number): number => Math.round(v * 100) / 100;

/** COCO annotations of the class objects of a scene (policy in the file comment). */
export function sceneAnnotations(scene: Scene, visibility: Float32Array): SceneAnnotation[] {
  const out: SceneAnnotation[] = [];
  scene.items.forEach((it, k) => {
    if (it.categoryId === 0) return;
    const v = visibility[k]!;
    if (v < DROP_VISIBILITY) return;
    const [x1, y1, x2, y2] = shapeBounds(it.shape);
    const bx = Math.max(0, x1);
    const by = Math.max(0, y1);
    const bw = Math.min(scene.size, x2) - bx;
    const bh = Math.min(scene.size, y2) - by;
    const bbox: [number, number, number, number] = [r2(bx), r2(by), r2(bw), r2(bh)];
    out.push({
      categoryId: it.categoryId,
      bbox,
      area: r2(bbox[2] * bbox[3]),
      iscrowd: v < CROWD_VISIBILITY ? 1 : 0,
      visibility: Math.round(v * 1000) / 1000,
    });
  });
  return out;
}
