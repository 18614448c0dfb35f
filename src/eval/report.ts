// Printing a CocoEvalResult: pycocotools' summarize() text, a per-category table, and a flat json.

import { type CocoEvalResult, type CocoStats, STAT_NAMES } from './coco-eval.ts';

/**
 * Python's '{:0.3f}'.format(x): rounds the exact binary value half to even. JS toFixed rounds
 * exact ties up, which differs on x = odd/16 (0.0625 -> '0.062' in Python, '0.063' in JS).
 */
export function formatFixed3(x: number): string {
  const s = x.toFixed(3);
  const x16 = x * 16; // exact: a power of two
  if (!Number.isInteger(x16) || x16 % 2 === 0) return s;
  // x is an exact tie at the 4th decimal (x = odd/16 = (2n+1)/2000): keep the even 3-digit neighbour.
  const lo = Math.floor(Math.abs(x) * 1000); // exact: |x| * 1000 = n + 0.5
  const n = lo % 2 === 0 ? lo : lo + 1;
  const digits = String(n).padStart(4, '0');
  const out = `${digits.slice(0, -3)}.${digits.slice(-3)}`;
  return x < 0 && n !== 0 ? `-${out}` : out;
}

const LINES: readonly [ap: boolean, iou: string, area: string, maxDets: number][] = [
  [true, '0.50:0.95', 'all', 100],
  [true, '0.50', 'all', 100],
  [true, '0.75', 'all', 100],
  [true, '0.50:0.95', 'small', 100],
  [true, '0.50:0.95', 'medium', 100],
  [true, '0.50:0.95', 'large', 100],
  [false, '0.50:0.95', 'all', 1],
  [false, '0.50:0.95', 'all', 10],
  [false, '0.50:0.95', 'all', 100],
  [false, '0.50:0.95', 'small', 100],
  [false, '0.50:0.95', 'medium', 100],
  [false, '0.50:0.95', 'large', 100],
];

/**
 * The 12 lines pycocotools' COCOeval.summarize() prints, character for character
 * (' {:<18} {} @[ IoU={:<9} | area={:>6s} | maxDets={:>3d} ] = {:0.3f}').
 */
export function formatSummary(stats: CocoStats): string {
  return LINES.map(([ap, iou, area, maxDets], i) => {
    const title = (ap ? 'Average Precision' : 'Average Recall').padEnd(18);
    const type = ap ? '(AP)' : '(AR)';
    const value = stats[STAT_NAMES[i]!];
    return ` ${title} ${type} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${formatFixed3(value)}`;
  }).join('\n');
}

function cell(v: number): string {
  return (v < 0 ? '-' : formatFixed3(v)).padStart(7);
}

/** A per-category table: name, id, AP, AP50, AP75, #gt. A category without ground truth shows '-'. */
export function formatCategoryTable(result: CocoEvalResult): string {
  const nameWidth = Math.max(8, ...result.categories.map((c) => c.name.length));
  const header = `${'category'.padEnd(nameWidth)} ${'id'.padStart(6)} ${'AP'.padStart(7)} ${'AP50'.padStart(7)} ${'AP75'.padStart(7)} ${'#gt'.padStart(7)}`;
  const rows = result.categories.map(
    (c) =>
      `${c.name.padEnd(nameWidth)} ${String(c.id).padStart(6)} ${cell(c.AP)} ${cell(c.AP50)} ${cell(c.AP75)} ${String(c.numGt).padStart(7)}`,
  );
  return [header, '-'.repeat(header.length), ...rows].join('\n');
}

/** The `detkd eval --json` object: the 12 stats by name, then AP@[.50:.95] per category id. */
export function toJsonReport(result: CocoEvalResult): CocoStats & { perCategory: Record<string, number> } {
  const perCategory: Record<string, number> = {};
  for (const c of result.categories) perCategory[String(c.id)] = c.AP;
  return { ...result.stats, perCategory };
}
