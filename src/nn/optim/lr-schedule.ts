// Learning-rate schedules as mmcv 1.x's LrUpdaterHook computes them (mmcv/runner/hooks/
// lr_updater.py), which mmdetection configs assume. Everything is a closed-form function of the
// position (iteration, epoch), so resuming is setting the position again.
//
//   regular lr (progress = epoch if byEpoch else iter):
//     fixed:     base
//     multistep: base * gamma ** (number of milestones <= progress), then max(lr, minLr)
//     cosine:    end + 0.5 * (base - end) * (cos(pi * progress / total) + 1),
//                end = minLr or base * minLrRatio
//   warm-up, while iter < warmup.iters (always counted in iterations):
//     linear:   regular * (1 - (1 - iter / iters) * (1 - ratio))
//     constant: regular * ratio
//     exp:      regular * ratio ** (1 - iter / iters)
// Powers go through libmPow to round as Python's ** does. Math.cos is V8's and differs from
// glibc's cos in the last bit for about 2% of arguments; the cosine schedule matches mmcv to
// 1 ulp (a float32 lr cast then almost always agrees).
import { libmPow } from '../libm.ts';

export type LrRule =
  | { kind: 'fixed' }
  | { kind: 'multistep'; milestones: readonly number[]; gamma?: number; minLr?: number }
  | { kind: 'cosine'; total: number; minLr?: number; minLrRatio?: number };

export interface Warmup {
  kind?: 'linear' | 'constant' | 'exp';
  /** Warm-up length in iterations. */
  iters: number;
  /** Factor at iteration 0 (mmcv's warmup_ratio). */
  ratio: number;
}

export interface LrScheduleSpec {
  rule: LrRule;
  /** Regular lr steps per epoch (milestones and total in epochs) or per iteration. */
  byEpoch: boolean;
  warmup?: Warmup;
}

/** Training position: global iteration (0-based, counting across epochs) and epoch (0-based). */
export interface Position {
  iter: number;
  epoch: number;
}

/** The regular (post-warm-up) lr for a base lr at `progress` (epoch or iteration). */
export function regularLr(base: number, rule: LrRule, progress: number): number {
  switch (rule.kind) {
    case 'fixed':
      return base;
    case 'multistep': {
      let exp = rule.milestones.length;
      for (let i = 0; i < rule.milestones.length; i++) {
        if (progress < (rule.milestones[i] ?? 0)) {
          exp = i;
          break;
        }
      }
      let lr = base * libmPow(rule.gamma ?? 0.1, exp);
      if (rule.minLr !== undefined) lr = Math.max(lr, rule.minLr);
      return lr;
    }
    case 'cosine': {
      const target = rule.minLrRatio !== undefined ? base * rule.minLrRatio : (rule.minLr ?? 0);
      const cosOut = Math.cos(Math.PI * (progress / rule.total)) + 1;
      return target + 0.5 * (base - target) * cosOut;
    }
  }
}

/** The warm-up lr at iteration `iter` (< warmup.iters) given the regular lr. */
export function warmupLr(regular: number, w: Warmup, iter: number): number {
  switch (w.kind ?? 'linear') {
    case 'constant':
      return regular * w.ratio;
    case 'linear': {
      const k = (1 - iter / w.iters) * (1 - w.ratio);
      return regular * (1 - k);
    }
    case 'exp':
      return regular * libmPow(w.ratio, 1 - iter / w.iters);
  }
}

/** The lr for a base lr at a position: warm-up over the regular schedule. */
export function lrAt(spec: LrScheduleSpec, base: number, pos: Position): number {
  const regular = regularLr(base, spec.rule, spec.byEpoch ? pos.epoch : pos.iter);
  const w = spec.warmup;
  if (w !== undefined && pos.iter < w.iters) return warmupLr(regular, w, pos.iter);
  return regular;
}

export interface LrSchedulerState {
  iter: number;
  epoch: number;
  lrs: number[];
}

/**
 * Sets each param group's lr from its initialLr. Call `step({ iter, epoch })` before every
 * training iteration (iter is global and 0-based). Works with any optimizer's paramGroups.
 *
 *   const sched = new LrScheduler(opt, {
 *     rule: { kind: 'multistep', milestones: [8, 11] }, byEpoch: true,
 *     warmup: { iters: 500, ratio: 0.001 },
 *   });
 */
export class LrScheduler {
  private pos: Position = { iter: 0, epoch: 0 };

  constructor(
    private readonly optimizer: { paramGroups: { lr: number; initialLr: number }[] },
    readonly spec: LrScheduleSpec,
  ) {
    if (spec.warmup !== undefined && !(spec.warmup.iters > 0))
      throw new RangeError('LrScheduler: warmup.iters must be > 0');
    if (spec.warmup !== undefined && !(spec.warmup.ratio > 0 && spec.warmup.ratio <= 1)) {
      throw new RangeError('LrScheduler: warmup.ratio must be in (0, 1]');
    }
    if (spec.rule.kind === 'cosine' && !(spec.rule.total > 0))
      throw new RangeError('LrScheduler: cosine total must be > 0');
  }

  /** The lrs every group would get at `pos` (no side effects). */
  lrsAt(pos: Position): number[] {
    return this.optimizer.paramGroups.map((g) => lrAt(this.spec, g.initialLr, pos));
  }

  /** Moves to `pos` and writes the lrs into the optimizer's groups; returns them. */
  step(pos: Position): number[] {
    this.pos = { ...pos };
    const lrs = this.lrsAt(pos);
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = lrs[i] ?? g.lr;
    });
    return lrs;
  }

  /** Current lrs of the groups. */
  get lrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): LrSchedulerState {
    return { iter: this.pos.iter, epoch: this.pos.epoch, lrs: this.lrs };
  }

  /** Restores the position and re-applies its lrs (initialLr comes with the optimizer's state). */
  loadStateDict(s: LrSchedulerState): void {
    this.step({ iter: s.iter, epoch: s.epoch });
  }
}
