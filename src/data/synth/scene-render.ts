// Renders a laid-out scene (scene-layout.ts) to RGB bytes: background, clutter, objects in draw
// order, then sensor noise. render.ts calls it once per image.

import { coverage, paint, type Rgb } from './raster.ts';
import { type Background, type Scene, visibilityFromOwner } from './scene-layout.ts';

function put(img: Uint8Array, o: number, c1: Rgb, c2: Rgb, t: number): void {
  img[o] = Math.round(c1[0] + (c2[0] - c1[0]) * t);
  img[o + 1] = Math.round(c1[1] + (c2[1] - c1[1]) * t);
  img[o + 2] = Math.round(c1[2] + (c2[2] - c1[2]) * t);
}

/** The background value t in [0, 1] (mix of c1 → c2) at every pixel. */
function backgroundMix(n: number, bg: Background): Float32Array {
  const t = new Float32Array(n * n);
  const angle = bg.kind === 'plain' || bg.kind === 'noise' ? 0 : bg.angle;
  const ca = Math.cos(angle);
  const sa = Math.sin(angle);
  for (let y = 0; y < n; y++) {
    const py = y + 0.5;
    for (let x = 0; x < n; x++) {
      const px = x + 0.5;
      let v = 0;
      switch (bg.kind) {
        case 'plain':
          break;
        case 'gradient': {
          const u = ((px - n / 2) * ca + (py - n / 2) * sa) / (n * 1.42) + 0.5;
          v = u < 0 ? 0 : Math.min(u, 1);
          break;
        }
        case 'stripes': {
          const u = px * ca + py * sa;
          v = (((u / bg.period) % 1) + 1) % 1 < 0.5 ? 0 : 1;
          break;
        }
        case 'checker': {
          const u = px * ca + py * sa;
          const w = -px * sa + py * ca;
          v = (Math.floor(u / bg.cell) + Math.floor(w / bg.cell)) & 1;
          break;
        }
        case 'noise': {
          const g = bg.grid;
          const gn = Math.round(Math.sqrt(g.length));
          const gx = px / bg.cell;
          const gy = py / bg.cell;
          const ix = Math.floor(gx);
          const iy = Math.floor(gy);
          const fx = gx - ix;
          const fy = gy - iy;
          const a = iy * gn + ix;
          const top = g[a]! + (g[a + 1]! - g[a]!) * fx;
          const bot = g[a + gn]! + (g[a + gn + 1]! - g[a + gn]!) * fx;
          v = top + (bot - top) * fy;
          break;
        }
      }
      t[y * n + x] = v;
    }
  }
  return t;
}

function fillBackground(img: Uint8Array, n: number, bg: Background): void {
  const t = backgroundMix(n, bg);
  const c2 = bg.kind === 'plain' ? bg.c1 : bg.c2;
  for (let i = 0; i < n * n; i++) put(img, 3 * i, bg.c1, c2, t[i]!);
}

/** Renders a scene to RGB bytes [size, size, 3] and returns the visibility of each item too. */
export function renderScene(scene: Scene): { rgb: Uint8Array; visibility: Float32Array } {
  const n = scene.size;
  const img = new Uint8Array(n * n * 3);
  fillBackground(img, n, scene.background);
  for (const c of scene.clutter) {
    paint(
      img,
      n,
      coverage(c.shape, n, n),
      { kind: 'solid', color: c.color },
      { cx: 0, cy: 0, angle: 0 },
      null,
      0,
    );
  }
  const owner = new Int16Array(n * n).fill(-1);
  const full = new Float64Array(scene.items.length);
  scene.items.forEach((it, k) => {
    full[k] = paint(img, n, coverage(it.shape, n, n), it.fill, it.frame, owner, k);
  });
  // Sensor noise: triangular in [-amp, amp], per pixel and channel, from its own xorshift32
  // stream (inlined: this loop is a third of the render time). The clamped view rounds and clamps.
  const out = new Uint8ClampedArray(img.buffer, img.byteOffset, img.length);
  const k = scene.noiseAmp / 65536;
  let st = scene.noiseKey | 0 || 1;
  for (let i = 0; i < img.length; i++) {
    st ^= st << 13;
    st ^= st >>> 17;
    st ^= st << 5;
    const u = st >>> 0;
    out[i] = img[i]! + ((u & 0xffff) + (u >>> 16) - 65535) * k;
  }
  return { rgb: img, visibility: visibilityFromOwner(owner, full) };
}
