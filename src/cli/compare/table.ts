// The comparison table of `detkd compare`: per arm, COCO metrics as mean ± sample standard
// deviation over the seeds every arm finished, the gain over the baseline, the share of the
// teacher-student gap closed, time per step, and the student's size. Pure functions of the runs'
// result.json records, so a partial comparison prints what it has.
import type { RunResult } from '../../app/run-recipe.ts';

export const METRICS = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl'] as const;

export interface ArmSummary {
  name: string;
  /** Seeds this arm has results for, ascending. */
  seeds: number[];
  mean: Record<string, number>;
  std: Record<string, number>;
  /** Per-seed AP (for the plot). */
  ap: number[];
  sPerIt: number | null;
  params: number | null;
  macs: number | null;
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

/** Sample standard deviation (n - 1); 0 for a single value. */
export function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

/** Summarises one arm over `seeds` (runs of other seeds are left out, so every arm shares them). */
export function summarise(name: string, runs: readonly RunResult[], seeds: readonly number[]): ArmSummary {
  const use = runs.filter((r) => seeds.includes(r.seed) && r.final !== null).sort((a, b) => a.seed - b.seed);
  const m: Record<string, number> = {};
  const s: Record<string, number> = {};
  for (const k of METRICS) {
    const xs = use.map((r) => Number(r.final![k]));
    m[k] = xs.length > 0 ? mean(xs) : Number.NaN;
    s[k] = std(xs);
  }
  const times = use.map((r) => r.sPerIt).filter((x): x is number => x !== null);
  return {
    name,
    seeds: use.map((r) => r.seed),
    mean: m,
    std: s,
    ap: use.map((r) => Number(r.final!.AP)),
    // Median over seeds of each run's median: one run slowed by something else on the machine
    // does not move it.
    sPerIt: times.length > 0 ? median(times) : null,
    params: use[0]?.studentParams ?? null,
    macs: use[0]?.studentMacs ?? null,
  };
}

/**
 * pycocotools reports -1 for a metric with nothing to measure: APs/APm/APl when the val set has
 * no object of that size (AP is never negative otherwise). Such a cell shows this dash, which the
 * legend explains, instead of -100.0.
 */
export const NO_OBJECTS = '–';
export const NO_OBJECTS_NOTE = `${NO_OBJECTS} : no object of this size in the val set (pycocotools reports -1).`;

const isNoObjects = (x: number | undefined): boolean => x !== undefined && x < 0;

const pct = (x: number): string =>
  isNoObjects(x) ? NO_OBJECTS : Number.isFinite(x) ? (x * 100).toFixed(1) : '-';

function cell(a: ArmSummary, k: string): string {
  if (!Number.isFinite(a.mean[k]!)) return '-';
  if (isNoObjects(a.mean[k])) return NO_OBJECTS;
  return a.seeds.length > 1 ? `${pct(a.mean[k]!)} ± ${pct(a.std[k]!)}` : pct(a.mean[k]!);
}

/** Gap closed: (AP_method - AP_baseline) / (AP_teacher - AP_baseline). */
export function gapClosed(method: number, baseline: number, teacher: number): number {
  const gap = teacher - baseline;
  return gap > 0 ? (method - baseline) / gap : Number.NaN;
}

export interface TableInput {
  teacher: {
    name: string;
    metrics: Record<string, number>;
    params: number | null;
    macs: number | null;
  } | null;
  baseline: ArmSummary;
  methods: readonly ArmSummary[];
  seeds: readonly number[];
  /** Extra legend sentences. */
  notes?: readonly string[];
}

/** The markdown table, with a legend line. */
export function markdownTable(t: TableInput): string {
  const head = ['arm', ...METRICS, 'ΔAP', 'gap closed', 's/step', 'params (M)', 'GMACs'];
  const rows: string[][] = [];
  const fmtSize = (p: number | null, m: number | null): [string, string] => [
    p === null ? '-' : (p / 1e6).toFixed(2),
    m === null ? '-' : (m / 1e9).toFixed(3),
  ];
  if (t.teacher) {
    rows.push([
      `teacher (${t.teacher.name})`,
      ...METRICS.map((k) => pct(t.teacher!.metrics[k]!)),
      '',
      '',
      '',
      ...fmtSize(t.teacher.params, t.teacher.macs),
    ]);
  }
  const b = t.baseline;
  const arm = (a: ArmSummary, isBase: boolean): string[] => {
    const d = a.mean.AP! - b.mean.AP!;
    const g = t.teacher ? gapClosed(a.mean.AP!, b.mean.AP!, t.teacher.metrics.AP!) : Number.NaN;
    return [
      a.name,
      ...METRICS.map((k) => cell(a, k)),
      isBase ? '' : Number.isFinite(d) ? `${d >= 0 ? '+' : ''}${(d * 100).toFixed(1)}` : '-',
      isBase ? '' : Number.isFinite(g) ? `${(g * 100).toFixed(0)}%` : '-',
      a.sPerIt === null ? '-' : a.sPerIt.toFixed(3),
      ...fmtSize(a.params, a.macs),
    ];
  };
  rows.push(arm(b, true));
  for (const m of t.methods) rows.push(arm(m, false));
  const noObjects = [t.teacher?.metrics ?? {}, ...[b, ...t.methods].map((a) => a.mean)].some((m) =>
    METRICS.some((k) => isNoObjects(m[k])),
  );
  const line = (cs: readonly string[]): string => `| ${cs.join(' | ')} |`;
  const out = [line(head), line(head.map(() => '---')), ...rows.map(line)];
  const n = t.seeds.length;
  out.push(
    '',
    `COCO metrics in %, ${n === 1 ? `one seed (${t.seeds[0]}) for every arm` : `mean ± sample std over ${n} seeds (${t.seeds.join(', ')}) shared by every arm`}; final epoch, not best-of-run. ΔAP: gain over the baseline student; gap closed: ΔAP / (teacher AP - baseline AP). s/step: median training seconds per iteration (median over seeds of each run's median) (distilled arms include the teacher's forward).${(t.notes ?? []).map((n) => ` ${n}`).join('')}`,
  );
  if (noObjects) out.push('', NO_OBJECTS_NOTE);
  return `${out.join('\n')}\n`;
}
