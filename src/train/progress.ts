// Progress output: a one-line bar redrawn in place on a TTY, plain periodic lines otherwise
// (log files, CI). No dependency: a carriage return and an erase-line escape are all a bar needs.

/** What one progress report shows. */
export interface ProgressInfo {
  /** 0-based epoch of the last completed iteration, and the planned epoch count. */
  epoch: number;
  epochs: number;
  /** Iterations completed in this epoch, and the epoch's length. */
  step: number;
  stepsPerEpoch: number;
  /** Iterations completed in all, and the planned total. */
  iter: number;
  totalIters: number;
  /** Losses: `loss` (the total) first, then each term; `lossKind` says how they are averaged. */
  losses: Record<string, number>;
  /**
   * 'ema': an exponential moving average (the bar); 'mean': the mean over the iterations since
   * the last line (the plain lines and log.jsonl). Shown as `loss(ema)` / `loss(mean)`.
   */
  lossKind: 'ema' | 'mean';
  lr: number;
  /** Smoothed seconds per iteration (0 when unknown). */
  secPerIter: number;
}

export type ProgressMode = 'bar' | 'lines' | 'off';

/** A number in at most 4 significant digits, without trailing zeros: 0.01, 1.234, 1e-7. */
export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-4 && a < 1e6) return String(Number(v.toPrecision(4)));
  return v.toExponential(2).replace(/\.?0+e/, 'e');
}

/** A duration: 45s, 12m03s, 3h07m. */
export function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
}

/** `loss(ema) 1.234` and `(loss_cls 0.8, loss_bbox 0.4)`, apart so a narrow bar can drop the terms. */
function lossParts(p: ProgressInfo): { total: string; terms: string } {
  const { loss, ...terms } = p.losses;
  const parts = Object.entries(terms).map(([k, v]) => `${k} ${fmtNum(v)}`);
  return {
    total: loss === undefined ? '' : `loss(${p.lossKind}) ${fmtNum(loss)}`,
    terms: parts.length === 0 ? '' : `(${parts.join(', ')})`,
  };
}

function etaText(p: ProgressInfo): string {
  return p.secPerIter > 0 ? `eta ${fmtDuration((p.totalIters - p.iter) * p.secPerIter)}` : '';
}

const join = (parts: readonly string[]): string => parts.filter((x) => x !== '').join(' ');

function speedText(secPerIter: number): string {
  if (!(secPerIter > 0)) return '';
  return secPerIter >= 1 ? `${fmtNum(secPerIter)} s/it` : `${fmtNum(1 / secPerIter)} it/s`;
}

/**
 * The plain line: `epoch 3/12 iter 120/500 loss(mean) 1.234 (loss_cls 0.8, loss_bbox 0.4) lr 0.01
 * 0.31 s/it eta 12m03s`. Epoch and iter count from 1 (iter within the epoch).
 */
export function formatLine(p: ProgressInfo): string {
  const { total, terms } = lossParts(p);
  return join([
    `epoch ${p.epoch + 1}/${p.epochs} iter ${p.step}/${p.stepsPerEpoch}`,
    total,
    terms,
    `lr ${fmtNum(p.lr)}`,
    p.secPerIter > 0 ? `${fmtNum(p.secPerIter)} s/it` : '',
    etaText(p),
  ]);
}

/** The width a terminal that reports none (undefined, or 0 as some pseudo-terminals do) gets. */
export const DEFAULT_COLUMNS = 80;

/**
 * The bar line, fitted into `columns`: `epoch 3/12 120/500 [###...] 18% loss(ema) 1.234
 * (loss_cls 0.8, ...) lr 0.01 3.2 it/s eta 25m13s`. When it is too wide the least useful parts go
 * first (the loss terms, the lr, the speed, then the bar itself), so the position, the total loss
 * and the ETA stay; at most `columns - 1` characters, since filling the last column makes some
 * terminals wrap, and the carriage-return redraw would then start a new line each time.
 */
export function formatBar(p: ProgressInfo, columns: number): string {
  const max = (columns > 0 ? Math.floor(columns) : DEFAULT_COLUMNS) - 1;
  const frac = p.totalIters > 0 ? Math.min(1, p.iter / p.totalIters) : 0;
  const head = `epoch ${p.epoch + 1}/${p.epochs} ${p.step}/${p.stepsPerEpoch}`;
  const pct = `${Math.floor(frac * 100)}%`;
  const { total, terms } = lossParts(p);
  const eta = etaText(p);
  const optional = [speedText(p.secPerIter), `lr ${fmtNum(p.lr)}`, terms]; // dropped from the end
  for (let keep = optional.length; keep >= 0; keep--) {
    const [spd = '', lr = '', tm = ''] = optional.slice(0, keep);
    const tail = join([pct, total, tm, lr, spd, eta]);
    const room = max - head.length - tail.length - 4; // two spaces, two brackets
    if (room >= 10) {
      const width = Math.min(30, room);
      const filled = Math.round(frac * width);
      return `${head} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${tail}`;
    }
  }
  // No room for a bar: the loss, then the percentage go; then the position is cut.
  for (const parts of [
    [head, pct, total, eta],
    [head, pct, eta],
    [head, eta],
  ]) {
    const line = join(parts);
    if (line.length <= max) return line;
  }
  if (eta === '' || eta.length + 1 >= max) return join([head, eta]).slice(0, Math.max(0, max));
  return `${head.slice(0, max - eta.length - 1)} ${eta}`;
}

/** A text sink: process.stdout, a file stream, or a test's collector. */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Progress output. In 'bar' mode `update` redraws the bar (at most every `minIntervalMs`) and
 * `line` prints above it; in 'lines' mode `update` is silent and the trainer prints `line`s.
 */
export class Progress {
  private barShown = false;
  private lastDraw = 0;

  constructor(
    readonly mode: ProgressMode,
    private readonly out: ProgressStream,
    private readonly minIntervalMs = 100,
  ) {}

  /** 'bar' on a TTY, 'lines' otherwise. */
  static auto(out: ProgressStream): Progress {
    return new Progress(out.isTTY === true ? 'bar' : 'lines', out);
  }

  update(p: ProgressInfo, force = false): void {
    if (this.mode !== 'bar') return;
    const now = Date.now();
    if (!force && now - this.lastDraw < this.minIntervalMs) return;
    this.lastDraw = now;
    this.out.write(`\r\x1b[2K${formatBar(p, this.out.columns ?? DEFAULT_COLUMNS)}`);
    this.barShown = true;
  }

  /** Prints a permanent line (above the bar, which the next update redraws). */
  line(text: string): void {
    if (this.mode === 'off') return;
    this.clearBar();
    this.out.write(`${text}\n`);
  }

  /** Removes the bar (end of run or before an error message). */
  done(): void {
    this.clearBar();
  }

  private clearBar(): void {
    if (this.barShown) {
      this.out.write('\r\x1b[2K');
      this.barShown = false;
      this.lastDraw = 0;
    }
  }
}

/** Mean of each named value over the values added since the last `take` (mmcv's log window). */
export class WindowMean {
  private sums = new Map<string, number>();
  private n = 0;

  add(values: Record<string, number>): void {
    for (const [k, v] of Object.entries(values)) this.sums.set(k, (this.sums.get(k) ?? 0) + v);
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  /** The means, and a reset. */
  take(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, s] of this.sums) out[k] = s / this.n;
    this.sums = new Map();
    this.n = 0;
    return out;
  }
}

/** Exponential moving average of each named value (the bar's smoothing). */
export class Ema {
  private values: Record<string, number> = {};

  constructor(private readonly beta = 0.9) {}

  add(values: Record<string, number>): void {
    for (const [k, v] of Object.entries(values)) {
      const old = this.values[k];
      this.values[k] = old === undefined ? v : this.beta * old + (1 - this.beta) * v;
    }
  }

  get current(): Record<string, number> {
    return { ...this.values };
  }
}
