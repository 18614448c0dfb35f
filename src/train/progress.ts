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
  /** Smoothed losses: `loss` (the total) first, then each term. */
  losses: Record<string, number>;
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

function lossText(losses: Record<string, number>): string {
  const { loss, ...terms } = losses;
  const parts = Object.entries(terms).map(([k, v]) => `${k} ${fmtNum(v)}`);
  const head = loss === undefined ? '' : `loss ${fmtNum(loss)}`;
  return parts.length === 0 ? head : `${head} (${parts.join(', ')})`;
}

function speedText(secPerIter: number): string {
  if (!(secPerIter > 0)) return '';
  return secPerIter >= 1 ? `${fmtNum(secPerIter)} s/it` : `${fmtNum(1 / secPerIter)} it/s`;
}

/**
 * The plain line: `epoch 3/12 iter 120/500 loss 1.234 (loss_cls 0.8, loss_bbox 0.4) lr 0.01
 * 0.31 s/it eta 12m03s`. Epoch and iter count from 1 (iter within the epoch).
 */
export function formatLine(p: ProgressInfo): string {
  const eta = p.secPerIter > 0 ? ` eta ${fmtDuration((p.totalIters - p.iter) * p.secPerIter)}` : '';
  const spd = p.secPerIter > 0 ? ` ${fmtNum(p.secPerIter)} s/it` : '';
  return (
    `epoch ${p.epoch + 1}/${p.epochs} iter ${p.step}/${p.stepsPerEpoch} ${lossText(p.losses)}` +
    ` lr ${fmtNum(p.lr)}${spd}${eta}`
  );
}

/** The bar line, fitted into `columns`. */
export function formatBar(p: ProgressInfo, columns: number): string {
  const frac = p.totalIters > 0 ? Math.min(1, p.iter / p.totalIters) : 0;
  const head = `epoch ${p.epoch + 1}/${p.epochs} ${p.step}/${p.stepsPerEpoch}`;
  const eta = p.secPerIter > 0 ? ` eta ${fmtDuration((p.totalIters - p.iter) * p.secPerIter)}` : '';
  const spd = speedText(p.secPerIter);
  const tail = ` ${Math.floor(frac * 100)}% ${lossText(p.losses)} lr ${fmtNum(p.lr)}${spd ? ` ${spd}` : ''}${eta}`;
  const width = Math.max(10, Math.min(30, columns - head.length - tail.length - 3));
  const filled = Math.round(frac * width);
  const line = `${head} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${tail}`;
  return line.length > columns ? line.slice(0, Math.max(0, columns - 1)) : line;
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
    this.out.write(`\r\x1b[2K${formatBar(p, this.out.columns ?? 100)}`);
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
