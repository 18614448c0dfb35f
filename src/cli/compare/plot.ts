// The comparison's PNG: AP per arm as a bar (mean over seeds) with a dot per seed, and the
// teacher's AP as a line. Drawn into RGB pixels with the bitmap font (no font needed) and encoded
// with sharp.
import sharp from 'sharp';
import type { RgbImage } from '../../data/decode.ts';
import { bitmapTextSize, classColor, drawBitmapText, fillRect, type Rgb } from '../draw.ts';
import type { ArmSummary } from './table.ts';

const BLACK: Rgb = [0, 0, 0];
const GREY: Rgb = [150, 150, 150];

/** Arm colours: the class palette without its greys, which are the baseline's. */
function armColor(i: number): Rgb {
  const colours = Array.from({ length: 20 }, (_, k) => classColor(k)).filter(
    ([r, g, b]) => !(r === g && g === b),
  );
  return colours[i % colours.length]!;
}

export async function plotAp(
  arms: readonly ArmSummary[],
  teacherAp: number | null,
  out: string,
): Promise<void> {
  const barW = 70;
  const gap = 30;
  const left = 60;
  const top = 40;
  const plotH = 300;
  const bottom = 30;
  const W = left + arms.length * (barW + gap) + gap;
  const H = top + plotH + bottom;
  const img: RgbImage = { data: new Uint8Array(W * H * 3).fill(255), width: W, height: H };
  const vals = [...arms.flatMap((a) => a.ap), ...(teacherAp === null ? [] : [teacherAp])];
  const hi = Math.min(1, Math.ceil((Math.max(0.05, ...vals) * 100 + 5) / 10) / 10);
  const y = (ap: number): number => top + plotH - (ap / hi) * plotH;
  // axes and grid every 10 AP
  for (let v = 0; v <= hi + 1e-9; v += 0.1) {
    fillRect(img, left, y(v), W - 10, y(v) + 1, [225, 225, 225]);
    const label = `${Math.round(v * 100)}`;
    drawBitmapText(img, label, left - 8 - bitmapTextSize(label, 2).width, y(v) - 7, 2, BLACK);
  }
  fillRect(img, left, top, left + 2, top + plotH, BLACK);
  fillRect(img, left, top + plotH, W - 10, top + plotH + 2, BLACK);
  drawBitmapText(img, 'AP', 8, 8, 2, BLACK);
  if (teacherAp !== null) {
    for (let x = left; x < W - 10; x += 12)
      fillRect(img, x, y(teacherAp), x + 7, y(teacherAp) + 2, [200, 30, 30]);
    drawBitmapText(
      img,
      `TEACHER ${(teacherAp * 100).toFixed(1)}`,
      W - 10 - bitmapTextSize(`TEACHER 00.0`, 2).width,
      y(teacherAp) - 18,
      2,
      [200, 30, 30],
    );
  }
  arms.forEach((a, i) => {
    const x0 = left + gap + i * (barW + gap);
    const m = a.ap.length > 0 ? a.ap.reduce((s, v) => s + v, 0) / a.ap.length : 0;
    fillRect(img, x0, y(m), x0 + barW, top + plotH, i === 0 ? GREY : armColor(i - 1));
    for (const v of a.ap) fillRect(img, x0 + barW / 2 - 3, y(v) - 3, x0 + barW / 2 + 4, y(v) + 4, BLACK);
    const val = (m * 100).toFixed(1);
    // Above the bar and above every seed's dot, so neither covers the figure.
    const labelY = y(Math.max(m, ...a.ap)) - 22;
    drawBitmapText(img, val, x0 + (barW - bitmapTextSize(val, 2).width) / 2, labelY, 2, BLACK);
    const name = a.name.replace(/^demo-/, '').slice(0, 11);
    drawBitmapText(img, name, x0 + (barW - bitmapTextSize(name, 1).width) / 2, top + plotH + 10, 1, BLACK);
  });
  await sharp(img.data, { raw: { width: W, height: H, channels: 3 } })
    .png()
    .toFile(out);
}
