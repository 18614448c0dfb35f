// The training loop: optimizer and lr schedule, gradient clipping, a NaN guard, periodic
// evaluation with a best metric, atomic checkpoints, exact resume, progress and a JSONL log.
// It drives a generic Task over a DataSource (task.ts), so a detector and a distiller train the
// same way.
//
// One iteration (mmdetection's default OptimizerHook, in this order):
//   scheduler.step({iter, epoch}) -> tidy { losses = task.losses(batch); total = sum;
//   zeroGrad; total.backward(); gradNorm = clip ? clipGradNorm : norm; check finite;
//   optimizer.step() } -> dispose(batch)
//
// Exact resume: the data order is a function of (seed, epoch), the lr a closed-form function of
// the position, and a checkpoint holds the weights, the optimizer state and the global RNG state
// at a position (epoch, step); restoring all three and restarting the source at that step gives
// the same weights, bit for bit, as a run that never stopped.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DetkdError } from '../core/errors.ts';
import { manualSeed, setDeterministic, setRngState } from '../core/random.ts';
import { dispose, keep, scalar, stack, Tensor, tidy } from '../core/tensor.ts';
import { AdamW, type AdamWHyper } from '../nn/optim/adamw.ts';
import { clipGradNorm } from '../nn/optim/clip-grad.ts';
import { LrScheduler } from '../nn/optim/lr-schedule.ts';
import type { GroupSpec } from '../nn/optim/optimizer.ts';
import { decayGroups } from '../nn/optim/param-groups.ts';
import { SGD, type SgdHyper } from '../nn/optim/sgd.ts';
import {
  type BestRecord,
  type EvalRecord,
  readCheckpoint,
  type TrainState,
  writeCheckpoint,
  writeModel,
} from './checkpoint.ts';
import type { OptimizerSpec, TrainerOptions } from './config.ts';
import { JsonlLog } from './log.ts';
import { Ema, formatLine, Progress, type ProgressInfo, WindowMean } from './progress.ts';
import {
  checkedExtraParams,
  type DataSource,
  disposeUnkept,
  loadTaskStateDict,
  type Metrics,
  type Task,
  type TrainContext,
  taskStateDict,
} from './task.ts';

// The options are a zod schema (config.ts): a recipe's `train` section is validated with it.
export type { OptimizerSpec, TrainerOptions } from './config.ts';

export interface FitResult {
  /** 'finished': the planned length was reached; 'stopped': signal or stopAtIter. */
  status: 'finished' | 'stopped';
  /** Position of the next iteration (0-based). */
  next: { epoch: number; step: number; iter: number };
  history: EvalRecord[];
  best: BestRecord | null;
  runDir: string;
}

/** A non-finite loss term, gradient norm or weight; the run stopped without saving. */
export class NonFiniteError extends DetkdError {
  override name = 'NonFiniteError';
  constructor(
    message: string,
    readonly what: string,
    readonly position: TrainContext,
  ) {
    super(message);
  }
}

type Opt = SGD | AdamW;

function buildOptimizer<B>(task: Task<B>, spec: OptimizerSpec): Opt {
  const extra = checkedExtraParams(task);
  if (spec.kind === 'sgd') {
    const { kind: _k, normDecay, biasDecay, ...hyper } = spec;
    const g = decayGroups(task.module, { weightDecay: hyper.weightDecay ?? 0, normDecay, biasDecay });
    const groups: GroupSpec<SgdHyper>[] = [g.decay, g.noDecay];
    if (extra.length > 0) groups.push({ params: extra, weightDecay: g.decay.weightDecay });
    return new SGD(groups, hyper);
  }
  const { kind: _k, normDecay, biasDecay, ...hyper } = spec;
  const g = decayGroups(task.module, { weightDecay: hyper.weightDecay ?? 1e-2, normDecay, biasDecay });
  const groups: GroupSpec<AdamWHyper>[] = [g.decay, g.noDecay];
  if (extra.length > 0) groups.push({ params: extra, weightDecay: g.decay.weightDecay });
  return new AdamW(groups, hyper);
}

function positiveInt(v: number | undefined, name: string): void {
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
    throw new DetkdError(`Trainer: ${name} must be a positive integer, got ${v}`);
  }
}

/** Global L2 norm of the gradients of params (0-dim; 0 when none has a gradient). */
function gradNorm(params: readonly Tensor[]): Tensor {
  return tidy(() => {
    const norms: Tensor[] = [];
    for (const p of params) {
      const g = p.grad;
      if (g !== null) norms.push(g.detach().norm());
    }
    return norms.length === 0 ? scalar(0) : stack(norms).norm();
  });
}

/**
 * Trains a Task on a DataSource.
 *
 * @example
 * const trainer = new Trainer(task, detectionSource(loader, 'cuda'), {
 *   runDir: 'runs/gfl-r18', epochs: 12, seed: 0, resume: true,
 *   optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 },
 *   lr: { rule: { kind: 'multistep', milestones: [8, 11] }, byEpoch: true, warmup: { iters: 500, ratio: 0.001 } },
 *   clipGrad: { maxNorm: 35 }, best: { metric: 'AP' }, recipe,
 * });
 * const result = await trainer.fit();
 */
export class Trainer<B> {
  readonly optimizer: Opt;
  readonly scheduler: LrScheduler;
  readonly epochs: number;
  readonly totalIters: number;
  readonly stepsPerEpoch: number;
  readonly lastPath: string;
  readonly bestPath: string;
  readonly log: JsonlLog;
  private readonly params: Tensor[];
  private readonly seed: number;
  private readonly progress: Progress;
  private history: EvalRecord[] = [];
  private best: BestRecord | null = null;

  constructor(
    readonly task: Task<B>,
    readonly source: DataSource<B>,
    readonly opts: TrainerOptions,
  ) {
    const spe = source.stepsPerEpoch;
    if (!(Number.isInteger(spe) && spe > 0)) {
      throw new DetkdError(`Trainer: the data source has ${spe} steps per epoch`);
    }
    this.stepsPerEpoch = spe;
    if ((opts.epochs === undefined) === (opts.iters === undefined)) {
      throw new DetkdError('Trainer: give exactly one of epochs and iters');
    }
    positiveInt(opts.epochs, 'epochs');
    positiveInt(opts.iters, 'iters');
    positiveInt(opts.evalInterval, 'evalInterval');
    positiveInt(opts.logInterval, 'logInterval');
    positiveInt(opts.checkpointInterval, 'checkpointInterval');
    this.totalIters = opts.iters ?? (opts.epochs ?? 0) * spe;
    this.epochs = opts.epochs ?? Math.ceil(this.totalIters / spe);
    this.seed = opts.seed ?? 0;
    this.optimizer = buildOptimizer(task, opts.optimizer);
    this.params = this.optimizer.params();
    if (this.params.length === 0) throw new DetkdError('Trainer: the task has no trainable parameters');
    this.scheduler = new LrScheduler(this.optimizer, opts.lr ?? { rule: { kind: 'fixed' }, byEpoch: true });
    this.lastPath = join(opts.runDir, 'last.safetensors');
    this.bestPath = join(opts.runDir, 'best.safetensors');
    this.log = new JsonlLog(join(opts.runDir, 'log.jsonl'));
    const out = opts.out ?? process.stdout;
    const mode = opts.progress ?? 'auto';
    this.progress = mode === 'auto' ? Progress.auto(out) : new Progress(mode, out);
  }

  /** Runs (or resumes) training to the planned length, a stop, or an error. */
  async fit(): Promise<FitResult> {
    const o = this.opts;
    mkdirSync(o.runDir, { recursive: true });
    if (o.deterministic === true) setDeterministic(true);
    let pos = { epoch: 0, step: 0, iter: 0 };
    let finished = false;
    if (existsSync(this.lastPath) && o.resume === true) {
      ({ pos, finished } = this.restore());
      this.log.filter(
        (r) =>
          !(r.type === 'train' && Number(r.iter) >= pos.iter) &&
          !(r.type === 'eval' && Number(r.iter) > pos.iter),
      );
      this.log.append({ type: 'resume', ...pos });
      this.progress.line(`resumed from ${this.lastPath} at epoch ${pos.epoch + 1}, iter ${pos.iter}`);
    } else {
      if (existsSync(this.lastPath) && o.overwrite !== true) {
        throw new DetkdError(
          `${this.lastPath} exists: pass resume: true to continue that run, or overwrite: true to start over`,
        );
      }
      // Starting over: what the old run left must not pass for this run's results.
      for (const f of ['last', 'best', 'model_best', 'model_final']) {
        rmSync(join(o.runDir, `${f}.safetensors`), { force: true });
      }
      manualSeed(this.seed);
      this.log.reset();
      this.log.append({ type: 'start', ...pos, seed: this.seed, total_iters: this.totalIters });
    }
    if (finished) return this.result('finished', pos);
    try {
      return await this.loop(pos);
    } finally {
      this.progress.done();
    }
  }

  private restore(): { pos: { epoch: number; step: number; iter: number }; finished: boolean } {
    const ck = readCheckpoint(this.lastPath);
    try {
      const s = ck.state;
      if (s.stepsPerEpoch !== this.stepsPerEpoch) {
        throw new DetkdError(
          `${this.lastPath}: saved with ${s.stepsPerEpoch} steps per epoch, the data source has ${this.stepsPerEpoch}; ` +
            'resuming would not see the same batches',
        );
      }
      if (s.seed !== this.seed) {
        throw new DetkdError(`${this.lastPath}: saved with seed ${s.seed}, this run has seed ${this.seed}`);
      }
      loadTaskStateDict(this.task, ck.model);
      this.optimizer.loadStateDict({ tensors: ck.optim, meta: s.optimizer });
      this.scheduler.loadStateDict(s.scheduler);
      if (ck.rng !== null) setRngState(ck.rng);
      this.history = s.history;
      this.best = s.best;
      return { pos: { ...s.next }, finished: s.finished && s.next.iter >= this.totalIters };
    } finally {
      dispose([...ck.model.values(), ...ck.optim.values(), ck.rng]);
    }
  }

  private result(status: FitResult['status'], pos: TrainContext): FitResult {
    return { status, next: { ...pos }, history: this.history, best: this.best, runDir: this.opts.runDir };
  }

  private stopRequested(iter: number): boolean {
    return (
      this.opts.signal?.aborted === true ||
      (this.opts.stopAtIter !== undefined && iter >= this.opts.stopAtIter)
    );
  }

  private async loop(start: TrainContext): Promise<FitResult> {
    const o = this.opts;
    const spe = this.stepsPerEpoch;
    const logInterval = o.logInterval ?? 50;
    const window = new WindowMean();
    const ema = new Ema(0.9);
    let secPerIter = 0;
    let pending: Tensor[] = [];
    let pos = { ...start };
    let lastEvalIter = this.history.at(-1)?.iter ?? -1;
    let termNames: string[] = [];
    this.task.module.train();

    const flush = (): void => {
      if (pending.length === 0) return;
      for (const t of pending) {
        const v = t.toArray();
        t.dispose();
        this.account(v, termNames, window, ema);
      }
      pending = [];
    };

    while (pos.iter < this.totalIters) {
      if (this.stopRequested(pos.iter)) break;
      const epoch = pos.epoch;
      let t0 = performance.now();
      let stopped = false;
      for await (const batch of this.source.batches(epoch, pos.step)) {
        const ctx: TrainContext = { ...pos };
        try {
          if (ctx.step >= spe) {
            throw new DetkdError(
              `the data source yielded more than stepsPerEpoch (${spe}) batches in epoch ${epoch}`,
            );
          }
          this.scheduler.step({ iter: ctx.iter, epoch: ctx.epoch });
          const out = this.step(batch, ctx);
          termNames = out.names;
          if (out.values instanceof Tensor) pending.push(out.values);
          else this.account(out.values, termNames, window, ema);
        } catch (e) {
          if (e instanceof NonFiniteError) this.log.append({ type: 'error', ...ctx, message: e.message });
          dispose(pending);
          throw e;
        } finally {
          (this.source.dispose ?? disposeUnkept)(batch);
        }
        const t1 = performance.now();
        const dt = (t1 - t0) / 1000;
        t0 = t1;
        secPerIter = secPerIter === 0 ? dt : 0.9 * secPerIter + 0.1 * dt;
        pos = { epoch, step: ctx.step + 1, iter: ctx.iter + 1 };
        const endOfEpoch = pos.step === spe;
        const endOfRun = pos.iter >= this.totalIters;
        if (pos.iter % logInterval === 0 || endOfEpoch || endOfRun) {
          flush();
          this.logTrain(ctx, window, secPerIter);
        }
        if (this.progress.mode === 'bar') {
          const info = this.info(ctx, ema.current, 'ema', secPerIter);
          this.progress.update(info, endOfEpoch || endOfRun);
          // a permanent line per epoch, so the terminal keeps the history
          if (endOfEpoch || endOfRun) this.progress.line(formatLine(info));
        }
        if (endOfRun || endOfEpoch) break;
        if (o.checkpointInterval !== undefined && pos.iter % o.checkpointInterval === 0) {
          this.saveLast(pos, 'interval', false);
        }
        // A signal handler (SIGINT -> abort) runs only when the event loop turns, which a batch
        // source that never waits on I/O would not let happen until the end of the run.
        if (o.signal !== undefined) await new Promise<void>((r) => setImmediate(r));
        if (this.stopRequested(pos.iter)) {
          stopped = true;
          break;
        }
      }
      flush();
      if (stopped) break;
      if (pos.step < spe && pos.iter < this.totalIters) {
        throw new DetkdError(
          `the data source yielded ${pos.step} of ${spe} batches in epoch ${epoch} (stepsPerEpoch is wrong?)`,
        );
      }
      if (pos.step === spe) {
        pos = { epoch: epoch + 1, step: 0, iter: pos.iter };
        const endOfRun = pos.iter >= this.totalIters;
        if (this.task.evaluate !== undefined && ((epoch + 1) % (o.evalInterval ?? 1) === 0 || endOfRun)) {
          await this.evaluate(pos);
          lastEvalIter = pos.iter;
        }
        if (!endOfRun) this.saveLast(pos, 'epoch', false);
      }
    }

    if (pos.iter < this.totalIters) {
      this.saveLast(pos, 'stop', false);
      this.progress.line(`stopped at epoch ${pos.epoch + 1}, iter ${pos.iter}; checkpoint ${this.lastPath}`);
      return this.result('stopped', pos);
    }
    if (this.task.evaluate !== undefined && lastEvalIter !== pos.iter) await this.evaluate(pos);
    this.saveLast(pos, 'end', true);
    const exported = this.task.exportModule?.() ?? this.task.module;
    writeModel(
      join(o.runDir, 'model_final.safetensors'),
      exported,
      { iter: pos.iter, epoch: pos.epoch },
      o.recipe ?? null,
    );
    this.progress.line(`finished: ${pos.iter} iterations; checkpoint ${this.lastPath}`);
    return this.result('finished', pos);
  }

  /** One iteration; returns the names and values [loss, ...terms, grad_norm] (host or device). */
  private step(batch: B, ctx: TrainContext): { names: string[]; values: number[] | Tensor } {
    const o = this.opts;
    return tidy(() => {
      const losses = this.task.losses(batch, ctx);
      const names = Object.keys(losses);
      if (names.length === 0) throw new DetkdError(`Task.losses returned no loss terms at iter ${ctx.iter}`);
      if (names.includes('loss')) {
        throw new DetkdError("Task.losses: 'loss' is reserved for the total; name the terms loss_*");
      }
      const terms: Tensor[] = [];
      let total: Tensor | null = null;
      for (const n of names) {
        const t = losses[n];
        if (!(t instanceof Tensor)) throw new DetkdError(`Task.losses: term '${n}' is not a Tensor`);
        if (t.numel !== 1) {
          throw new DetkdError(
            `Task.losses: term '${n}' has shape [${t.shape.join(', ')}]; losses must be scalars`,
          );
        }
        const s = t.reshape();
        terms.push(s);
        total = total === null ? s : total.add(s);
      }
      if (total === null || !total.requiresGrad) {
        throw new DetkdError(
          `Task.losses: no loss term requires grad at iter ${ctx.iter} (forward under noGrad?)`,
        );
      }
      this.optimizer.zeroGrad();
      total.backward();
      const norm =
        o.clipGrad !== undefined
          ? clipGradNorm(this.params, o.clipGrad.maxNorm, o.clipGrad.normType ?? 2)
          : gradNorm(this.params);
      const vals = stack([total, ...terms, norm].map((t) => t.detach().float()));
      const allNames = ['loss', ...names, 'grad_norm'];
      if (o.nanGuard === false) {
        this.optimizer.step();
        this.optimizer.zeroGrad();
        return { names: allNames, values: keep(vals) };
      }
      const host = vals.toArray(); // the one sync per iteration
      this.checkFinite(host, allNames, ctx);
      this.optimizer.step();
      this.optimizer.zeroGrad();
      return { names: allNames, values: host };
    });
  }

  private where(ctx: TrainContext): string {
    return `at iter ${ctx.iter} (epoch ${ctx.epoch}, step ${ctx.step} of ${this.stepsPerEpoch}; 0-based)`;
  }

  private lastGood(): string {
    return existsSync(this.lastPath)
      ? `the last good checkpoint is kept: ${this.lastPath}`
      : 'no checkpoint had been written yet';
  }

  private checkFinite(values: readonly number[], names: readonly string[], ctx: TrainContext): void {
    // Terms first (the total is NaN whenever one is); then the total (a sum that overflowed);
    // then the gradient norm.
    const order = [...names.keys()].slice(1, -1).concat([0, names.length - 1]);
    for (const i of order) {
      const v = values[i] ?? Number.NaN;
      if (Number.isFinite(v)) continue;
      const name = names[i] ?? '?';
      const what =
        name === 'grad_norm'
          ? 'the gradient norm'
          : name === 'loss'
            ? 'the total loss'
            : `loss term '${name}'`;
      throw new NonFiniteError(
        `NaN guard: ${what} is ${v} ${this.where(ctx)}; the run stopped before the optimizer step, ${this.lastGood()}`,
        name,
        ctx,
      );
    }
  }

  /** Adds one iteration's host values to the smoothers. */
  private account(v: readonly number[], names: readonly string[], window: WindowMean, ema: Ema): void {
    const rec: Record<string, number> = {};
    names.forEach((n, i) => {
      rec[n] = v[i] ?? Number.NaN;
    });
    window.add(rec);
    ema.add(rec);
  }

  private info(
    ctx: TrainContext,
    smoothed: Record<string, number>,
    lossKind: ProgressInfo['lossKind'],
    secPerIter: number,
  ): ProgressInfo {
    const { grad_norm: _g, ...losses } = smoothed;
    return {
      epoch: ctx.epoch,
      epochs: this.epochs,
      step: ctx.step + 1,
      stepsPerEpoch: this.stepsPerEpoch,
      iter: ctx.iter + 1,
      totalIters: this.totalIters,
      losses,
      lossKind,
      lr: this.scheduler.lrs[0] ?? 0,
      secPerIter,
    };
  }

  private logTrain(ctx: TrainContext, window: WindowMean, secPerIter: number): void {
    if (window.count === 0) return;
    const means = window.take();
    const { grad_norm: gn, ...losses } = means;
    const lr = this.scheduler.lrs[0] ?? 0;
    this.log.append({ type: 'train', ...ctx, lr, losses, grad_norm: gn, s_per_it: secPerIter });
    if (this.progress.mode === 'lines')
      this.progress.line(formatLine(this.info(ctx, means, 'mean', secPerIter)));
  }

  private async evaluate(pos: TrainContext): Promise<void> {
    const task = this.task;
    if (task.evaluate === undefined) return;
    const at = { epoch: pos.epoch, iter: pos.iter };
    task.module.eval();
    let metrics: Metrics;
    try {
      metrics = await task.evaluate(at);
    } finally {
      task.module.train();
    }
    for (const [k, v] of Object.entries(metrics)) {
      if (typeof v !== 'number') throw new DetkdError(`Task.evaluate: metric '${k}' is not a number`);
    }
    this.history.push({ ...at, metrics: { ...metrics } });
    let isBest = false;
    const b = this.opts.best;
    if (b !== undefined) {
      const v = metrics[b.metric];
      if (v === undefined) {
        throw new DetkdError(
          `best metric '${b.metric}' is not among the evaluation's metrics (${Object.keys(metrics).join(', ') || 'none'})`,
        );
      }
      const mode = b.mode ?? 'max';
      const prev = this.best?.value;
      isBest = !Number.isNaN(v) && (prev === undefined || (mode === 'max' ? v > prev : v < prev));
      if (isBest) this.best = { metric: b.metric, mode, value: v, ...at };
    }
    this.log.append({ type: 'eval', ...at, metrics, best: isBest });
    const shown = Object.entries(metrics)
      .map(([k, v]) => `${k} ${v.toFixed(4)}`)
      .join(' ');
    this.progress.line(`eval epoch ${at.epoch} iter ${at.iter}: ${shown}${isBest ? ' (best)' : ''}`);
    if (isBest) {
      this.saveCheckpoint(this.bestPath, pos, 'best', false);
      const exported = task.exportModule?.() ?? task.module;
      writeModel(
        join(this.opts.runDir, 'model_best.safetensors'),
        exported,
        { ...at, metrics },
        this.opts.recipe ?? null,
      );
    }
  }

  private saveLast(pos: TrainContext, reason: TrainState['reason'], finished: boolean): void {
    this.saveCheckpoint(this.lastPath, pos, reason, finished);
  }

  private saveCheckpoint(
    path: string,
    pos: TrainContext,
    reason: TrainState['reason'],
    finished: boolean,
  ): void {
    // A finite-gradient step can still overflow a weight; never checkpoint such a state.
    if (this.opts.nanGuard !== false) {
      const ok = tidy(() =>
        stack(this.params.map((p) => p.isfinite().all()))
          .all()
          .item(),
      );
      if (!ok) {
        const bad = this.task.module
          .namedParameters()
          .find(([, p]) => !tidy(() => p.isfinite().all().item()));
        throw new NonFiniteError(
          `NaN guard: parameter '${bad?.[0] ?? '(extra)'}' is not finite before iter ${pos.iter}; ` +
            `nothing was saved, ${this.lastGood()}`,
          bad?.[0] ?? 'parameter',
          pos,
        );
      }
    }
    tidy(() => {
      const state: TrainState = {
        next: { ...pos },
        finished,
        reason,
        seed: this.seed,
        stepsPerEpoch: this.stepsPerEpoch,
        totalIters: this.totalIters,
        epochs: this.epochs,
        optimizer: { kind: '', groups: [], steps: {} },
        scheduler: this.scheduler.stateDict(),
        history: this.history,
        best: this.best,
        savedAt: new Date().toISOString(),
      };
      const optim = this.optimizer.stateDict();
      state.optimizer = optim.meta;
      writeCheckpoint(path, {
        model: taskStateDict(this.task),
        optim,
        state,
        recipe: this.opts.recipe ?? null,
      });
    });
  }
}
