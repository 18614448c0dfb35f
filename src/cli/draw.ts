// Drawing detections on an image for `detkd predict`: a rectangle per detection in its class's
// colour, and a "classname 0.87" label on a filled background of the same colour.
//
// Rectangles are written into the RGB pixels directly (exact, testable pixels). Labels (a filled
// background and the text) go through sharp's SVG overlay (librsvg + fontconfig) in a monospace
// font, whose advance width (0.6 em for DejaVu Sans Mono) sizes the background. Where no font
// is installed librsvg draws no text at all, so the first call probes it once; without a font
// (or with DETKD_BITMAP_FONT=1) the text is drawn with the 5x7 bitmap font below instead
// (upper case, digits and a little punctuation).
import sharp from 'sharp';
import type { RgbImage } from '../data/decode.ts';

export type Rgb = readonly [r: number, g: number, b: number];

/** One detection to draw, in image pixels. */
export interface DrawItem {
  box: readonly [x1: number, y1: number, x2: number, y2: number];
  text: string;
  color: Rgb;
}

// Distinct, saturated colours (the Tableau 10 palette, then its lighter variants).
const PALETTE: readonly Rgb[] = [
  [31, 119, 180],
  [255, 127, 14],
  [44, 160, 44],
  [214, 39, 40],
  [148, 103, 189],
  [140, 86, 75],
  [227, 119, 194],
  [127, 127, 127],
  [188, 189, 34],
  [23, 190, 207],
  [174, 199, 232],
  [255, 187, 120],
  [152, 223, 138],
  [255, 152, 150],
  [197, 176, 213],
  [196, 156, 148],
  [247, 182, 210],
  [199, 199, 199],
  [219, 219, 141],
  [158, 218, 229],
];

/** The colour of a contiguous class label (cycles through 20 colours). */
export function classColor(label: number): Rgb {
  return PALETTE[((label % PALETTE.length) + PALETTE.length) % PALETTE.length]!;
}

/** Fills [x1, x2) x [y1, y2) (clipped to the image) with `color`, in place. */
export function fillRect(img: RgbImage, x1: number, y1: number, x2: number, y2: number, color: Rgb): void {
  const xa = Math.max(0, Math.floor(x1));
  const ya = Math.max(0, Math.floor(y1));
  const xb = Math.min(img.width, Math.ceil(x2));
  const yb = Math.min(img.height, Math.ceil(y2));
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const o = (y * img.width + x) * 3;
      img.data[o] = color[0];
      img.data[o + 1] = color[1];
      img.data[o + 2] = color[2];
    }
  }
}

/**
 * Draws the outline of the box (xyxy, pixel edges) `thickness` pixels wide, inside the box where
 * it fits, clipped to the image; in place.
 */
export function strokeRect(
  img: RgbImage,
  box: readonly [number, number, number, number],
  color: Rgb,
  thickness: number,
): void {
  const x1 = Math.round(box[0]);
  const y1 = Math.round(box[1]);
  const x2 = Math.max(x1 + 1, Math.round(box[2]));
  const y2 = Math.max(y1 + 1, Math.round(box[3]));
  const t = Math.max(1, thickness);
  fillRect(img, x1, y1, x2, Math.min(y2, y1 + t), color); // top
  fillRect(img, x1, Math.max(y1, y2 - t), x2, y2, color); // bottom
  fillRect(img, x1, y1, Math.min(x2, x1 + t), y2, color); // left
  fillRect(img, Math.max(x1, x2 - t), y1, x2, y2, color); // right
}

// --- the bitmap font ---------------------------------------------------------------------------

// 5x7 glyphs, rows top to bottom, '#' = ink.
const GLYPHS: Record<string, string> = {
  A: '.###.#...##...#######...##...##...#',
  B: '####.#...##...#####.#...##...#####.',
  C: '.###.#...##....#....#....#...#.###.',
  D: '####.#...##...##...##...##...#####.',
  E: '######....#....####.#....#....#####',
  F: '######....#....####.#....#....#....',
  G: '.###.#...##....#.####...##...#.####',
  H: '#...##...##...#######...##...##...#',
  I: '.###...#....#....#....#....#...###.',
  J: '..###...#....#....#....#.#..#..##..',
  K: '#...##..#.#.#..##...#.#..#..#.#...#',
  L: '#....#....#....#....#....#....#####',
  M: '#...###.###.#.##.#.##...##...##...#',
  N: '#...###..##.#.##..###...##...##...#',
  O: '.###.#...##...##...##...##...#.###.',
  P: '####.#...##...#####.#....#....#....',
  Q: '.###.#...##...##...##.#.##..#..##.#',
  R: '####.#...##...#####.#.#..#..#.#...#',
  S: '.#####....#.....###.....#....#####.',
  T: '#####..#....#....#....#....#....#..',
  U: '#...##...##...##...##...##...#.###.',
  V: '#...##...##...##...##...#.#.#...#..',
  W: '#...##...##...##.#.##.#.##.#.#.#.#.',
  X: '#...##...#.#.#...#...#.#.#...##...#',
  Y: '#...##...#.#.#...#....#....#....#..',
  Z: '#####....#...#...#...#...#....#####',
  '0': '.###.#...##..###.#.###..##...#.###.',
  '1': '..#...##....#....#....#....#...###.',
  '2': '.###.#...#....#...#...#...#...#####',
  '3': '#####...#...#.....#.....##...#.###.',
  '4': '...#...##..#.#.#..#.#####...#....#.',
  '5': '######....####.....#....##...#.###.',
  '6': '..##..#...#....####.#...##...#.###.',
  '7': '#####....#...#...#...#....#....#...',
  '8': '.###.#...##...#.###.#...##...#.###.',
  '9': '.###.#...##...#.####....#...#..##..',
  ' ': '...................................',
  '.': '..........................##...##..',
  '-': '...............#####...............',
  _: '..............................#####',
  ':': '......##...##.........##...##......',
  '/': '....#...#....#...#...#....#...#....',
  '?': '.###.#...#....#...#...#.........#..',
  '(': '...#...#...#....#....#.....#.....#.',
  ')': '.#.....#.....#....#....#...#...#...',
  '%': '##...##..#...#...#...#...#..##...##',
};

function glyph(ch: string): string {
  return GLYPHS[ch.toUpperCase()] ?? GLYPHS['?']!;
}

/** Pixel size of `text` in the bitmap font at `scale` (1 = 5x7 glyphs with 1 px spacing). */
export function bitmapTextSize(text: string, scale: number): { width: number; height: number } {
  return { width: Math.max(0, text.length * 6 - 1) * scale, height: 7 * scale };
}

/** Draws `text` with its top-left corner at (x, y), in place, clipped to the image. */
export function drawBitmapText(
  img: RgbImage,
  text: string,
  x: number,
  y: number,
  scale: number,
  color: Rgb,
): void {
  [...text].forEach((ch, i) => {
    const g = glyph(ch);
    const gx = x + i * 6 * scale;
    for (let r = 0; r < 7; r++) {
      for (let c = 0; c < 5; c++) {
        if (g[r * 5 + c] === '#')
          fillRect(img, gx + c * scale, y + r * scale, gx + (c + 1) * scale, y + (r + 1) * scale, color);
      }
    }
  });
}

// --- SVG text ----------------------------------------------------------------------------------

const MONO_ADVANCE = 0.6021; // DejaVu Sans Mono: 1233 / 2048 em
const FONT_FAMILY = 'DejaVu Sans Mono, Liberation Mono, monospace';

let svgTextWorks: Promise<boolean> | null = null;

/** Whether librsvg renders text here (it draws nothing when fontconfig finds no font). */
export function svgTextAvailable(): Promise<boolean> {
  if (process.env.DETKD_BITMAP_FONT === '1') return Promise.resolve(false);
  svgTextWorks ??= (async () => {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><text x="2" y="15" font-family="${FONT_FAMILY}" font-size="14" fill="#fff">Ag</text></svg>`;
    try {
      const { data, info } = await sharp(Buffer.from(svg)).raw().toBuffer({ resolveWithObject: true });
      for (let i = info.channels - 1; i < data.length; i += info.channels) if (data[i]! > 0) return true;
      return false;
    } catch {
      return false;
    }
  })();
  return svgTextWorks;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Black or white, whichever reads better on `bg` (by relative luminance). */
function textColorOn(bg: Rgb): Rgb {
  const lum = 0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2];
  return lum > 150 ? [0, 0, 0] : [255, 255, 255];
}

// --- label placement ---------------------------------------------------------------------------

/** A label's background rectangle: top-left corner and size, in pixels. */
export interface LabelRect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A label to place: its box (xyxy) and the label's size. */
export interface LabelSpec {
  box: readonly [number, number, number, number];
  w: number;
  h: number;
}

function overlap(a: LabelRect, b: LabelRect): number {
  const dx = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const dy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  return dx > 0 && dy > 0 ? dx * dy : 0;
}

/**
 * Where each label goes, inside the `width` x `height` image (where it fits at all): above its
 * box when there is room, else inside the box's top edge; when that covers a label already placed,
 * the nearest free spot among below the box, inside its bottom edge, beside or stacked on the
 * labels in the way, while still touching the box's column and rows near it. Labels are placed from
 * the last item to the first (items are drawn in order, so the last, the highest score, is on top
 * and gets first choice). When no spot is free the label takes the one it overlaps least.
 */
export function placeLabels(specs: readonly LabelSpec[], width: number, height: number): LabelRect[] {
  const out: LabelRect[] = new Array(specs.length);
  const placed: LabelRect[] = [];
  for (let i = specs.length - 1; i >= 0; i--) {
    const { box, w, h } = specs[i]!;
    const cx = (x: number): number => Math.max(0, Math.min(Math.round(x), width - w));
    const cy = (y: number): number => Math.max(0, Math.min(Math.round(y), height - h));
    const [x1, top, x2, bottom] = [
      Math.round(box[0]),
      Math.round(box[1]),
      Math.round(box[2]),
      Math.round(box[3]),
    ];
    const x0 = cx(x1);
    // Above when it fits, else inside the top edge; then below, then inside the bottom edge.
    const ys = [top - h >= 0 ? top - h : cy(top)];
    if (bottom + h <= height) ys.push(bottom);
    ys.push(cy(bottom - h));
    const xs = [x0];
    // The labels in the way: beside them or stacked on them.
    const lo = top - 3 * h;
    const hi = bottom + 2 * h;
    for (const p of placed) {
      if (p.x + p.w <= x1 - w || p.x >= x2 + w || p.y + p.h <= lo || p.y >= hi) continue;
      xs.push(cx(p.x + p.w), cx(p.x - w));
      ys.push(cy(p.y + p.h), cy(p.y - h));
    }
    const y0 = ys[0]!;
    let best: LabelRect | null = null;
    let bestKey = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    for (const y of ys) {
      if (y < lo || y > hi) continue;
      for (const x of xs) {
        // Still touching the box's column (unless the box itself is off the image).
        if (x !== x0 && (x >= x2 || x + w <= x1)) continue;
        const r = { x, y, w, h };
        let cover = 0;
        for (const p of placed) cover += overlap(r, p);
        const cost = Math.abs(x - x0) + Math.abs(y - y0);
        if (cover < bestKey[0]! || (cover === bestKey[0] && cost < bestKey[1]!)) {
          best = r;
          bestKey = [cover, cost];
        }
      }
    }
    const r = best ?? { x: x0, y: y0, w, h };
    out[i] = r;
    placed.push(r);
  }
  return out;
}

export interface DrawOptions {
  /** Box outline width (default: 1 px per 200 px of the shorter side, at least 2). */
  thickness?: number;
  /** Label font size in px (default: 1/30 of the shorter side, between 10 and 22). */
  fontSize?: number;
}

/**
 * Draws the items on a copy of `img` and encodes it as PNG. Items are drawn in order, so pass
 * the highest score last to keep its label on top. Labels stay inside the image and off each
 * other where they can (placeLabels).
 */
export async function renderDetections(
  img: RgbImage,
  items: readonly DrawItem[],
  o: DrawOptions = {},
): Promise<Buffer> {
  const out: RgbImage = { data: img.data.slice(), height: img.height, width: img.width };
  const short = Math.min(img.height, img.width);
  const thickness = o.thickness ?? Math.max(2, Math.round(short / 200));
  const fontSize = o.fontSize ?? Math.min(22, Math.max(10, Math.round(short / 30)));
  const svg = await svgTextAvailable();
  const scale = Math.max(1, Math.round(fontSize / 9));
  const pad = Math.max(1, Math.round(fontSize / 6));
  const texts: string[] = [];
  for (const it of items) strokeRect(out, it.box, it.color, thickness);
  const rects = placeLabels(
    items.map((it) => {
      const tw = svg
        ? Math.ceil(it.text.length * MONO_ADVANCE * fontSize)
        : bitmapTextSize(it.text, scale).width;
      const th = svg ? Math.ceil(fontSize * 1.15) : bitmapTextSize(it.text, scale).height;
      return { box: it.box, w: tw + 2 * pad, h: th + 2 * pad };
    }),
    img.width,
    img.height,
  );
  for (const [i, it] of items.entries()) {
    const { x: x1, y: y1, w, h } = rects[i]!;
    const fg = textColorOn(it.color);
    if (svg) {
      // Background and text go into the overlay together, in order, so a later label covers an
      // earlier one's text too. Baseline at 0.9 em: DejaVu's ascent is 0.76 em of the 1.16 em line.
      texts.push(
        `<rect x="${x1}" y="${y1}" width="${w}" height="${h}" fill="rgb(${it.color.join(',')})" shape-rendering="crispEdges"/>`,
        `<text x="${x1 + pad}" y="${(y1 + pad + fontSize * 0.9).toFixed(1)}" font-family="${FONT_FAMILY}" font-size="${fontSize}" fill="rgb(${fg.join(',')})">${escapeXml(it.text)}</text>`,
      );
    } else {
      fillRect(out, x1, y1, x1 + w, y1 + h, it.color);
      drawBitmapText(out, it.text, x1 + pad, y1 + pad, scale, fg);
    }
  }
  const raw = { width: out.width, height: out.height, channels: 3 } as const;
  if (texts.length === 0) return sharp(out.data, { raw }).png().toBuffer();
  const overlay = `<svg xmlns="http://www.w3.org/2000/svg" width="${out.width}" height="${out.height}">${texts.join('')}</svg>`;
  // Compositing an SVG adds an alpha channel; drop it again so the PNG is plain RGB like the input.
  const composed = await sharp(out.data, { raw })
    .composite([{ input: Buffer.from(overlay), top: 0, left: 0 }])
    .raw()
    .toBuffer({ resolveWithObject: true });
  return sharp(composed.data, {
    raw: { width: composed.info.width, height: composed.info.height, channels: composed.info.channels },
  })
    .removeAlpha()
    .png()
    .toBuffer();
}

/**
 * For drawing small images legibly: when the shorter side is below `minSide`, the image is
 * upscaled by an integer factor (nearest neighbour: the pixels stay visible as they are) and the
 * boxes with it. Returns the inputs unchanged otherwise.
 */
export function upscaleForDrawing(
  img: RgbImage,
  items: readonly DrawItem[],
  minSide = 512,
): { img: RgbImage; items: DrawItem[]; factor: number } {
  const short = Math.min(img.height, img.width);
  const k = short >= minSide ? 1 : Math.ceil(minSide / short);
  if (k === 1) return { img, items: [...items], factor: 1 };
  const H = img.height * k;
  const W = img.width * k;
  const data = new Uint8Array(H * W * 3);
  for (let y = 0; y < H; y++) {
    const sy = Math.floor(y / k);
    for (let x = 0; x < W; x++) {
      const s = (sy * img.width + Math.floor(x / k)) * 3;
      const d = (y * W + x) * 3;
      data[d] = img.data[s]!;
      data[d + 1] = img.data[s + 1]!;
      data[d + 2] = img.data[s + 2]!;
    }
  }
  return {
    img: { data, height: H, width: W },
    items: items.map((it) => ({ ...it, box: [it.box[0] * k, it.box[1] * k, it.box[2] * k, it.box[3] * k] })),
    factor: k,
  };
}
