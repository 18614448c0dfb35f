// The shape table of the synthetic set: how each class looks (its shape, from a unit "radius" up,
// and its fill) and how distractors and dull background colours are drawn. Every random choice
// comes from the caller's Rng, in a fixed order: changing that order changes every image.

import type { Rng } from '../rng.ts';
import { HUE_JITTER, SAT_JITTER, type SynthClass, VAL_JITTER } from './classes.ts';
import { type Fill, hsv, placePolygon, type Rgb, regularPolygon, type Shape } from './raster.ts';

const DEG = Math.PI / 180;

function jitterColor(rng: Rng, c: SynthClass): [number, number, number] {
  return [
    c.hue + rng.uniform(-HUE_JITTER, HUE_JITTER),
    Math.min(1, Math.max(0, c.sat + rng.uniform(-SAT_JITTER, SAT_JITTER))),
    Math.min(1, Math.max(0, c.val + rng.uniform(-VAL_JITTER, VAL_JITTER))),
  ];
}

/** Builds a class shape of "radius" r centred at (cx, cy); params fixes the random choices. */
export type ShapeBuilder = (cx: number, cy: number, r: number) => Shape;

export function classShape(
  rng: Rng,
  kind: SynthClass['shape'],
): { build: ShapeBuilder; angle: number; aspect: number } {
  const any = rng.uniform(0, 2 * Math.PI);
  const small = rng.uniform(-15, 15) * DEG;
  switch (kind) {
    case 'circle':
      return {
        build: (cx, cy, r) => ({ kind: 'ellipse', cx, cy, rx: r, ry: r, angle: any }),
        angle: any,
        aspect: 1,
      };
    case 'ellipse': {
      const a = rng.uniform(1.25, 1.45);
      return {
        build: (cx, cy, r) => ({ kind: 'ellipse', cx, cy, rx: r * a, ry: r, angle: any }),
        angle: any,
        aspect: a,
      };
    }
    case 'square':
      return {
        build: (cx, cy, r) => ({
          kind: 'polygon',
          cx,
          cy,
          angle: small,
          points: placePolygon([-r, -r, r, -r, r, r, -r, r], cx, cy, small),
        }),
        angle: small,
        aspect: 1,
      };
    case 'rectangle': {
      const a = rng.uniform(1.7, 2.3);
      const ang = rng.uniform(-20, 20) * DEG;
      return {
        build: (cx, cy, r) => ({
          kind: 'polygon',
          cx,
          cy,
          angle: ang,
          points: placePolygon([-a * r, -r, a * r, -r, a * r, r, -a * r, r], cx, cy, ang),
        }),
        angle: ang,
        aspect: a,
      };
    }
    case 'triangle':
      return {
        build: (cx, cy, r) => ({
          kind: 'polygon',
          cx,
          cy,
          angle: any,
          points: regularPolygon(cx, cy, r, 3, any),
        }),
        angle: any,
        aspect: 1,
      };
    case 'diamond':
      return {
        build: (cx, cy, r) => ({
          kind: 'polygon',
          cx,
          cy,
          angle: small,
          points: placePolygon([0, -1.4 * r, r, 0, 0, 1.4 * r, -r, 0], cx, cy, small),
        }),
        angle: small,
        aspect: 1.4,
      };
    case 'ring': {
      const t = rng.uniform(0.32, 0.42);
      return { build: (cx, cy, r) => ({ kind: 'ring', cx, cy, r, thickness: t * r }), angle: any, aspect: 1 };
    }
    case 'cross': {
      const ang = rng.uniform(-25, 25) * DEG;
      const w = rng.uniform(0.3, 0.38);
      return {
        build: (cx, cy, r) => {
          const t = w * r;
          const pts = [-t, -r, t, -r, t, -t, r, -t, r, t, t, t, t, r, -t, r, -t, t, -r, t, -r, -t, -t, -t];
          return { kind: 'polygon', cx, cy, angle: ang, points: placePolygon(pts, cx, cy, ang) };
        },
        angle: ang,
        aspect: 1,
      };
    }
    case 'star':
      return {
        build: (cx, cy, r) => ({
          kind: 'polygon',
          cx,
          cy,
          angle: any,
          points: regularPolygon(cx, cy, r, 5, any, 0.45),
        }),
        angle: any,
        aspect: 1,
      };
    case 'hexagon':
      return {
        build: (cx, cy, r) => ({
          kind: 'polygon',
          cx,
          cy,
          angle: any,
          points: regularPolygon(cx, cy, r, 6, any),
        }),
        angle: any,
        aspect: 1,
      };
  }
}

export function classFill(rng: Rng, c: SynthClass, r: number, aspect: number): Fill {
  const [h, s, v] = jitterColor(rng, c);
  const color = hsv(h, s, v);
  switch (c.texture) {
    case 'solid':
      return { kind: 'solid', color };
    case 'stripes':
      return {
        kind: 'stripes',
        color,
        color2: hsv(h, s * 0.3, Math.min(1, v + 0.12)),
        period: Math.max(4, r * rng.uniform(0.35, 0.5)),
        angle: rng.uniform(0, Math.PI),
      };
    case 'checker':
      return {
        kind: 'checker',
        color,
        color2: hsv(h, s, v * 0.55),
        cell: Math.max(3, r * rng.uniform(0.28, 0.38)),
      };
    case 'dots': {
      const spacing = Math.max(5, r * rng.uniform(0.38, 0.48));
      return { kind: 'dots', color, color2: hsv(h + 10, s * 0.3, 0.95), spacing, radius: spacing * 0.28 };
    }
    case 'gradient':
      return { kind: 'gradient', color, color2: hsv(h, s, v * 0.45), length: 2 * r * aspect };
  }
}

/** Low-saturation colours for backgrounds and distractors (classes are saturated). */
export function dullColor(rng: Rng, maxSat: number, vLo = 0.2, vHi = 0.9): Rgb {
  return hsv(rng.uniform(0, 360), rng.uniform(0, maxSat), rng.uniform(vLo, vHi));
}

export function distractor(rng: Rng, cx: number, cy: number, r: number): { shape: Shape; angle: number } {
  const kind = rng.int(0, 4);
  const angle = rng.uniform(0, 2 * Math.PI);
  switch (kind) {
    case 0: // pentagon: not a class shape
      return {
        shape: { kind: 'polygon', cx, cy, angle, points: regularPolygon(cx, cy, r, 5, angle) },
        angle,
      };
    case 1: {
      // thick bar / line
      const a = rng.uniform(4, 9);
      const t = Math.max(1.5, r * 0.22);
      const pts = [-a * t, -t, a * t, -t, a * t, t, -a * t, t];
      return { shape: { kind: 'polygon', cx, cy, angle, points: placePolygon(pts, cx, cy, angle) }, angle };
    }
    case 2: {
      // irregular quadrilateral
      const pts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const t = (i * Math.PI) / 2 + rng.uniform(-0.5, 0.5);
        const rr = r * rng.uniform(0.6, 1.1);
        pts.push(rr * Math.cos(t), rr * Math.sin(t));
      }
      return { shape: { kind: 'polygon', cx, cy, angle, points: placePolygon(pts, cx, cy, angle) }, angle };
    }
    case 3: // grey disc or blob: a class shape in a non-class colour (a hard negative)
      return {
        shape: { kind: 'ellipse', cx, cy, rx: r * rng.uniform(0.8, 1.6), ry: r, angle },
        angle,
      };
    default: // octagon
      return {
        shape: { kind: 'polygon', cx, cy, angle, points: regularPolygon(cx, cy, r, 8, angle) },
        angle,
      };
  }
}
