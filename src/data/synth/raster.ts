// A small anti-aliased rasteriser on an RGB Uint8Array: shapes are signed distance functions
// (negative inside, in pixels) evaluated at pixel centres; coverage = clamp(0.5 - d, 0, 1) gives
// about one pixel of anti-aliasing. Fills are functions of the object's local (rotated) frame.

export type Rgb = readonly [number, number, number];

/** Geometry of one shape, in image pixels. */
export type Shape =
  | { kind: 'ellipse'; cx: number; cy: number; rx: number; ry: number; angle: number }
  | { kind: 'ring'; cx: number; cy: number; r: number; thickness: number }
  | { kind: 'polygon'; points: Float64Array; cx: number; cy: number; angle: number }; // [x0, y0, x1, y1, ...]

export type Fill =
  | { kind: 'solid'; color: Rgb }
  | { kind: 'stripes'; color: Rgb; color2: Rgb; period: number; angle: number }
  | { kind: 'checker'; color: Rgb; color2: Rgb; cell: number }
  | { kind: 'dots'; color: Rgb; color2: Rgb; spacing: number; radius: number }
  | { kind: 'gradient'; color: Rgb; color2: Rgb; length: number };

/** Per-pixel coverage of a shape over its (integer) bounding window. */
export interface Coverage {
  x0: number;
  y0: number;
  w: number;
  h: number;
  cov: Float32Array; // [h, w], 0..1
}

/** HSV (h in degrees, s, v in 0..1) to RGB bytes. */
export function hsv(h: number, s: number, v: number): Rgb {
  const hh = (((h % 360) + 360) % 360) / 60;
  const c = v * s;
  const x = c * (1 - Math.abs((hh % 2) - 1));
  const m = v - c;
  let r = 0;
  let g = 0;
  let b = 0;
  if (hh < 1) [r, g, b] = [c, x, 0];
  else if (hh < 2) [r, g, b] = [x, c, 0];
  else if (hh < 3) [r, g, b] = [0, c, x];
  else if (hh < 4) [r, g, b] = [0, x, c];
  else if (hh < 5) [r, g, b] = [x, 0, c];
  else [r, g, b] = [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** Regular polygon / star vertices around (cx, cy), rotated by angle (radians). */
export function regularPolygon(
  cx: number,
  cy: number,
  radius: number,
  sides: number,
  angle: number,
  innerRatio = 1,
  sx = 1,
  sy = 1,
): Float64Array {
  const n = innerRatio === 1 ? sides : 2 * sides;
  const pts = new Float64Array(2 * n);
  const ca = Math.cos(angle);
  const sa = Math.sin(angle);
  for (let i = 0; i < n; i++) {
    const t = -Math.PI / 2 + (2 * Math.PI * i) / n;
    const r = innerRatio !== 1 && i % 2 === 1 ? radius * innerRatio : radius;
    const lx = r * Math.cos(t) * sx;
    const ly = r * Math.sin(t) * sy;
    pts[2 * i] = cx + lx * ca - ly * sa;
    pts[2 * i + 1] = cy + lx * sa + ly * ca;
  }
  return pts;
}

/** Vertices of a local-frame polygon (lx, ly pairs) placed at (cx, cy) with rotation angle. */
export function placePolygon(local: readonly number[], cx: number, cy: number, angle: number): Float64Array {
  const ca = Math.cos(angle);
  const sa = Math.sin(angle);
  const pts = new Float64Array(local.length);
  for (let i = 0; i < local.length; i += 2) {
    const lx = local[i]!;
    const ly = local[i + 1]!;
    pts[i] = cx + lx * ca - ly * sa;
    pts[i + 1] = cy + lx * sa + ly * ca;
  }
  return pts;
}

/** Exact bounding box [x1, y1, x2, y2] of the shape (continuous coordinates). */
export function shapeBounds(s: Shape): [number, number, number, number] {
  switch (s.kind) {
    case 'ellipse': {
      const c = Math.cos(s.angle);
      const n = Math.sin(s.angle);
      const ex = Math.sqrt(s.rx * s.rx * c * c + s.ry * s.ry * n * n);
      const ey = Math.sqrt(s.rx * s.rx * n * n + s.ry * s.ry * c * c);
      return [s.cx - ex, s.cy - ey, s.cx + ex, s.cy + ey];
    }
    case 'ring':
      return [s.cx - s.r, s.cy - s.r, s.cx + s.r, s.cy + s.r];
    case 'polygon': {
      let x1 = Infinity;
      let y1 = Infinity;
      let x2 = -Infinity;
      let y2 = -Infinity;
      for (let i = 0; i < s.points.length; i += 2) {
        x1 = Math.min(x1, s.points[i]!);
        x2 = Math.max(x2, s.points[i]!);
        y1 = Math.min(y1, s.points[i + 1]!);
        y2 = Math.max(y2, s.points[i + 1]!);
      }
      return [x1, y1, x2, y2];
    }
  }
}

/** Signed distance from (px, py) to a simple polygon (Inigo Quilez's sdPolygon; any winding). */
function sdPolygon(px: number, py: number, v: Float64Array): number {
  const n = v.length / 2;
  let d = (px - v[0]!) ** 2 + (py - v[1]!) ** 2;
  let s = 1;
  for (let i = 0, j = n - 1; i < n; j = i, i++) {
    const vix = v[2 * i]!;
    const viy = v[2 * i + 1]!;
    const ex = v[2 * j]! - vix;
    const ey = v[2 * j + 1]! - viy;
    const wx = px - vix;
    const wy = py - viy;
    let t = (wx * ex + wy * ey) / (ex * ex + ey * ey);
    t = t < 0 ? 0 : Math.min(t, 1);
    const bx = wx - ex * t;
    const by = wy - ey * t;
    d = Math.min(d, bx * bx + by * by);
    const c1 = py >= viy;
    const c2 = py < v[2 * j + 1]!;
    const c3 = ex * wy > ey * wx;
    if ((c1 && c2 && c3) || (!c1 && !c2 && !c3)) s = -s;
  }
  return s * Math.sqrt(d);
}

/** Approximate signed distance to an axis-aligned ellipse at the origin (IQ's gradient estimate). */
function sdEllipse(x: number, y: number, rx: number, ry: number): number {
  const k0 = Math.sqrt((x / rx) ** 2 + (y / ry) ** 2);
  if (k0 === 0) return -Math.min(rx, ry);
  const k1 = Math.sqrt((x / (rx * rx)) ** 2 + (y / (ry * ry)) ** 2);
  return (k0 * (k0 - 1)) / k1;
}

/** Coverage of a shape over the image window its bounds touch (clipped to the image). */
export function coverage(s: Shape, width: number, height: number): Coverage {
  const [bx1, by1, bx2, by2] = shapeBounds(s);
  const x0 = Math.max(0, Math.floor(bx1) - 1);
  const y0 = Math.max(0, Math.floor(by1) - 1);
  const x1 = Math.min(width, Math.ceil(bx2) + 1);
  const y1 = Math.min(height, Math.ceil(by2) + 1);
  const w = Math.max(0, x1 - x0);
  const h = Math.max(0, y1 - y0);
  const cov = new Float32Array(w * h);
  const ca = s.kind === 'ellipse' ? Math.cos(s.angle) : 1;
  const sa = s.kind === 'ellipse' ? Math.sin(s.angle) : 0;
  for (let y = 0; y < h; y++) {
    const py = y0 + y + 0.5;
    for (let x = 0; x < w; x++) {
      const px = x0 + x + 0.5;
      let d: number;
      switch (s.kind) {
        case 'ellipse': {
          const dx = px - s.cx;
          const dy = py - s.cy;
          d = sdEllipse(dx * ca + dy * sa, -dx * sa + dy * ca, s.rx, s.ry);
          break;
        }
        case 'ring': {
          const r = Math.hypot(px - s.cx, py - s.cy);
          d = Math.abs(r - (s.r - s.thickness / 2)) - s.thickness / 2;
          break;
        }
        case 'polygon':
          d = sdPolygon(px, py, s.points);
          break;
      }
      const c = 0.5 - d;
      cov[y * w + x] = c <= 0 ? 0 : Math.min(c, 1);
    }
  }
  return { x0, y0, w, h, cov };
}

/** Colour of a fill at pixel (px, py) for an object centred at (cx, cy) rotated by angle. */
function fillColor(f: Fill, lx: number, ly: number): Rgb {
  switch (f.kind) {
    case 'solid':
      return f.color;
    case 'stripes': {
      const u = lx * Math.cos(f.angle) + ly * Math.sin(f.angle);
      const ph = (((u / f.period) % 1) + 1) % 1;
      return ph < 0.5 ? f.color : f.color2;
    }
    case 'checker': {
      const a = Math.floor(lx / f.cell) + Math.floor(ly / f.cell);
      return (a & 1) === 0 ? f.color : f.color2;
    }
    case 'dots': {
      const gx = lx - f.spacing * Math.round(lx / f.spacing);
      const gy = ly - f.spacing * Math.round(ly / f.spacing);
      return gx * gx + gy * gy <= f.radius * f.radius ? f.color2 : f.color;
    }
    case 'gradient': {
      const t = Math.min(1, Math.max(0, lx / f.length + 0.5));
      return [
        f.color[0] + (f.color2[0] - f.color[0]) * t,
        f.color[1] + (f.color2[1] - f.color[1]) * t,
        f.color[2] + (f.color2[2] - f.color[2]) * t,
      ];
    }
  }
}

/**
 * Blends a fill over the image where the coverage says, and marks the owner map (pixels with
 * coverage >= 0.5 now belong to `ownerId`). Returns the number of pixels the shape owns in full.
 */
export function paint(
  img: Uint8Array,
  width: number,
  cov: Coverage,
  fill: Fill,
  frame: { cx: number; cy: number; angle: number },
  owner: Int16Array | null,
  ownerId: number,
): number {
  const ca = Math.cos(frame.angle);
  const sa = Math.sin(frame.angle);
  let full = 0;
  for (let y = 0; y < cov.h; y++) {
    const py = cov.y0 + y + 0.5;
    for (let x = 0; x < cov.w; x++) {
      const a = cov.cov[y * cov.w + x]!;
      if (a === 0) continue;
      const px = cov.x0 + x + 0.5;
      const dx = px - frame.cx;
      const dy = py - frame.cy;
      const c = fillColor(fill, dx * ca + dy * sa, -dx * sa + dy * ca);
      const o = ((cov.y0 + y) * width + cov.x0 + x) * 3;
      img[o] = Math.round(img[o]! * (1 - a) + c[0] * a);
      img[o + 1] = Math.round(img[o + 1]! * (1 - a) + c[1] * a);
      img[o + 2] = Math.round(img[o + 2]! * (1 - a) + c[2] * a);
      if (a >= 0.5) {
        full++;
        if (owner !== null) owner[(cov.y0 + y) * width + cov.x0 + x] = ownerId;
      }
    }
  }
  return full;
}

/** Marks ownership only (no colour): used to compute visibility without rendering. */
export function mark(owner: Int16Array, width: number, cov: Coverage, ownerId: number): number {
  let full = 0;
  for (let y = 0; y < cov.h; y++) {
    for (let x = 0; x < cov.w; x++) {
      if (cov.cov[y * cov.w + x]! >= 0.5) {
        owner[(cov.y0 + y) * width + cov.x0 + x] = ownerId;
        full++;
      }
    }
  }
  return full;
}
