// What the trainer drives: a Task (what is trained and how its losses are computed) and a
// DataSource (the batches of each epoch, restartable at a step). Neither knows about detectors,
// so a plain detector, a distiller with a frozen teacher, or a toy regression all train with the
// same loop.
import { DetkdError } from '../core/errors.ts';
import { Tensor } from '../core/tensor.ts';
import type { DetectionLoader } from '../data/loader.ts';
import type { Module, StateDict } from '../nn/module.ts';
import { type Batch, disposeBatch, toTensorBatch } from '../structures/tensor-batch.ts';

/**
 * Where a training iteration sits. All three are 0-based indices of the iteration being run:
 * `iter` counts across epochs, `step` within the epoch. Errors, `log.jsonl` and `losses(ctx)` use
 * these numbers; only the human-readable progress lines count from 1.
 */
export interface TrainContext {
  epoch: number;
  step: number;
  iter: number;
}

/** When an evaluation runs: after `epoch` epochs (1-based count) and `iter` iterations in all. */
export interface EvalContext {
  /** Epochs completed. */
  epoch: number;
  /** Iterations completed. */
  iter: number;
}

/** Named scalar metrics, e.g. `{ AP: 0.371, AP50: 0.559 }`. */
export type Metrics = Record<string, number>;

/**
 * Something the trainer can train. The optimizer gets the trainable parameters (requiresGrad) of
 * `module`, plus `extraParams()`; frozen parameters (a teacher under `Frozen`, a frozen backbone
 * stage) never reach it, whether they are registered in `module` or not.
 *
 * @example
 * const task: Task<Batch> = {
 *   module: detector,
 *   losses: (batch) => detector.loss(detector.forward(batch.images), batch),
 *   evaluate: async () => evaluateDetector(detector, valSet),
 * };
 */
export interface Task<B> {
  /** What is trained. `train()` is called on it before training and after each evaluation. */
  readonly module: Module;
  /** Trainable tensors that live outside `module` (they join the weight-decay group). */
  extraParams?(): readonly Tensor[];
  /**
   * The named scalar losses of one batch, in training mode with gradients on; the total is their
   * sum in key order. Runs inside the step's `tidy`: every tensor made here is freed after the
   * step, so make none that must outlive it (use `keep` for those).
   */
  losses(batch: B, ctx: TrainContext): Record<string, Tensor>;
  /**
   * The state a checkpoint stores and `resume` restores (default: `module.stateDict()`). A
   * distiller returns the student and adapters, not the teacher. The trainer disposes the handles.
   */
  stateDict?(): StateDict;
  /** Restores `stateDict()`'s output (default: `module.loadStateDict(sd)`, strict). */
  loadStateDict?(sd: StateDict): void;
  /**
   * Evaluates the current weights (e.g. COCO mAP on a validation set). The trainer calls
   * `module.eval()` before and `module.train()` after. Grad mode cannot follow an `await`, so wrap
   * the synchronous forward passes in `noGrad` yourself.
   */
  evaluate?(ctx: EvalContext): Promise<Metrics>;
  /**
   * The deliverable (e.g. the student detector of a distiller): its state dict is written to
   * `model_best.safetensors` / `model_final.safetensors` (default: `module`).
   */
  exportModule?(): Module;
}

/**
 * The batches of each epoch. The order must be a function of (seed, epoch) only, so that
 * `batches(e, k)` yields exactly the batches `k, k+1, ...` an uninterrupted epoch `e` yields:
 * that is what exact resume relies on.
 */
export interface DataSource<B> {
  /** Batches one full epoch yields. */
  readonly stepsPerEpoch: number;
  /** The batches of `epoch` from `startStep` on. Breaking out early must be fine. */
  batches(epoch: number, startStep: number): AsyncIterable<B>;
  /**
   * Frees one batch after its step. Default: disposes every tensor found in the batch (arrays,
   * Maps, plain objects) that is not `keep`ed.
   */
  dispose?(batch: B): void;
}

/** The default `DataSource.dispose`: frees the non-kept tensors reachable from `batch`. */
export function disposeUnkept(batch: unknown): void {
  const seen = new Set<object>();
  const walk = (v: unknown): void => {
    if (v instanceof Tensor) {
      if (!v.kept) v.dispose();
      return;
    }
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) for (const e of v) walk(e);
    else if (v instanceof Map) for (const e of v.values()) walk(e);
    else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      for (const e of Object.values(v)) walk(e);
    }
  };
  walk(batch);
}

/**
 * A DataSource over a DetectionLoader: host batches become tensor `Batch`es on `device`, and are
 * disposed after their step.
 *
 *   const source = detectionSource(new DetectionLoader(train, { batchSize: 8, ... }), 'cuda');
 */
export function detectionSource(loader: DetectionLoader, device = 'cpu'): DataSource<Batch> {
  return {
    stepsPerEpoch: loader.stepsPerEpoch,
    async *batches(epoch: number, startStep: number): AsyncGenerator<Batch> {
      for await (const h of loader.epoch(epoch, { startStep })) yield toTensorBatch(h, device);
    },
    dispose: disposeBatch,
  };
}

/** The task's state dict (its own, or its module's). */
export function taskStateDict<B>(task: Task<B>): StateDict {
  return task.stateDict !== undefined ? task.stateDict() : task.module.stateDict();
}

/** Restores a task's state dict (its own loader, or its module's, strict). */
export function loadTaskStateDict<B>(task: Task<B>, sd: StateDict): void {
  if (task.loadStateDict !== undefined) task.loadStateDict(sd);
  else task.module.loadStateDict(sd);
}

/**
 * The trainable parameters of a task: requiresGrad parameters of `module` and `extraParams()`,
 * each once. Throws when there are none or an extra param is frozen.
 */
export function checkedExtraParams<B>(task: Task<B>): Tensor[] {
  const extra = [...(task.extraParams?.() ?? [])];
  const frozen = extra.filter((t) => !t.requiresGrad).length;
  if (frozen > 0) {
    throw new DetkdError(`Task.extraParams() returned ${frozen} tensor(s) without requiresGrad`);
  }
  const own = new Set(task.module.trainableParameters());
  return extra.filter((t) => !own.has(t));
}
