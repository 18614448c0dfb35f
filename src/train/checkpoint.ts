// Training checkpoints: one safetensors file per checkpoint, written atomically.
//
// Layout of a run directory:
//
//   <runDir>/
//     last.safetensors         resumable checkpoint, rewritten at every epoch end, every
//                              `checkpointInterval` iterations, on a stop and at the end
//     best.safetensors         resumable checkpoint at the best evaluation so far
//     model_best.safetensors   the deliverable (`Task.exportModule()`, plain keys) at the best eval
//     model_final.safetensors  the deliverable when the run finishes
//     log.jsonl                one JSON object per logged step / evaluation / error
//
// A checkpoint file holds
//
//   model.<key>              Task.stateDict() (load with `{ prefix: 'model.' }`)
//   optim.state.<i>.<name>   optimizer state tensors (Optimizer.stateDict().tensors)
//   rng.cpu                  the global CPU generator's state (uint8)
//
// and string metadata: `format` ('detkd.checkpoint/1'), `detkd_version`, `recipe` (the caller's
// JSON, verbatim) and `state` (TrainState as JSON: next position, optimizer groups, scheduler,
// metrics history, best, ...).
//
// One file instead of a directory makes the switch truly atomic: core's writeSafetensorsFile
// writes `<file>.tmp-<pid>`, fsyncs it and renames it over the old file, so a crash at any moment
// leaves either the previous complete checkpoint or the new complete one, never a mix of a new
// model with an old optimizer. A stale `.tmp-*` left by a killed process is never read.
import { readFileSync } from 'node:fs';
import { DetkdError } from '../core/errors.ts';
import { getRngState } from '../core/random.ts';
import { loadStateDictFile, saveStateDict } from '../core/serialize.ts';
import { dispose, type Tensor } from '../core/tensor.ts';
import type { Module } from '../nn/module.ts';
import type { LrSchedulerState } from '../nn/optim/lr-schedule.ts';
import type { OptimizerStateDict } from '../nn/optim/optimizer.ts';
import type { Metrics } from './task.ts';

export const CHECKPOINT_FORMAT = 'detkd.checkpoint/1';
export const MODEL_FORMAT = 'detkd.model/1';

/** Any JSON value (the recipe is stored as one, opaque to the trainer). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** One evaluation: after `epoch` epochs and `iter` iterations (counts, not indices). */
export interface EvalRecord {
  epoch: number;
  iter: number;
  metrics: Metrics;
}

export interface BestRecord {
  metric: string;
  mode: 'max' | 'min';
  value: number;
  epoch: number;
  iter: number;
}

/** The JSON part of a checkpoint (metadata key `state`). */
export interface TrainState {
  /** Position of the next iteration to run (0-based indices). */
  next: { epoch: number; step: number; iter: number };
  /** True when the run completed (resuming it does nothing). */
  finished: boolean;
  /** Why this checkpoint was written. */
  reason: 'epoch' | 'interval' | 'stop' | 'end' | 'best';
  seed: number;
  stepsPerEpoch: number;
  /** Total iterations the run was planned for. */
  totalIters: number;
  epochs: number;
  optimizer: OptimizerStateDict['meta'];
  scheduler: LrSchedulerState;
  history: EvalRecord[];
  best: BestRecord | null;
  savedAt: string;
}

export interface Checkpoint {
  state: TrainState;
  recipe: JsonValue;
  detkdVersion: string;
  /** Task state, prefix stripped (owned by the caller). */
  model: Map<string, Tensor>;
  /** Optimizer tensors, `state.<i>.<name>` (owned by the caller). */
  optim: Map<string, Tensor>;
  /** Global CPU generator state, or null when the file has none. */
  rng: Tensor | null;
}

let cachedVersion: string | null = null;

/** detkd's version, from package.json (src/train/ in the repo, dist/src/train/ when built). */
export function detkdVersion(): string {
  if (cachedVersion === null) {
    cachedVersion = 'unknown';
    for (const rel of ['../../package.json', '../../../package.json']) {
      try {
        const pkg: unknown = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8'));
        const name = typeof pkg === 'object' && pkg !== null ? Reflect.get(pkg, 'name') : undefined;
        const v = typeof pkg === 'object' && pkg !== null ? Reflect.get(pkg, 'version') : undefined;
        if (name === 'detkd' && typeof v === 'string') {
          cachedVersion = v;
          break;
        }
      } catch {
        // not there
      }
    }
  }
  return cachedVersion;
}

/**
 * Writes a checkpoint atomically. `model` and `optim` are read, not disposed; the RNG state is
 * taken here.
 */
export function writeCheckpoint(
  path: string,
  parts: {
    model: ReadonlyMap<string, Tensor>;
    optim: OptimizerStateDict;
    state: TrainState;
    recipe: JsonValue;
  },
): void {
  const all = new Map<string, Tensor>();
  const rng = getRngState();
  try {
    for (const [k, t] of parts.model) all.set(`model.${k}`, t);
    for (const [k, t] of parts.optim.tensors) all.set(`optim.${k}`, t);
    all.set('rng.cpu', rng);
    saveStateDict(path, all, {
      format: CHECKPOINT_FORMAT,
      detkd_version: detkdVersion(),
      recipe: JSON.stringify(parts.recipe ?? null),
      state: JSON.stringify(parts.state),
    });
  } finally {
    rng.dispose();
  }
}

/** Writes a deliverable: the module's state dict with plain keys, plus provenance metadata. */
export function writeModel(
  path: string,
  module: Module,
  info: Record<string, JsonValue>,
  recipe: JsonValue,
): void {
  const sd = module.stateDict();
  try {
    saveStateDict(path, sd, {
      format: MODEL_FORMAT,
      detkd_version: detkdVersion(),
      recipe: JSON.stringify(recipe ?? null),
      info: JSON.stringify(info),
    });
  } finally {
    dispose(sd);
  }
}

function parseJson(path: string, key: string, text: string | undefined): unknown {
  if (text === undefined) throw new DetkdError(`${path}: not a detkd checkpoint (no '${key}' metadata)`);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new DetkdError(`${path}: metadata '${key}' is not JSON (${(e as Error).message})`);
  }
}

function isTrainState(v: unknown): v is TrainState {
  if (typeof v !== 'object' || v === null) return false;
  const next: unknown = Reflect.get(v, 'next');
  return (
    typeof next === 'object' &&
    next !== null &&
    ['epoch', 'step', 'iter'].every((k) => Number.isInteger(Reflect.get(next, k))) &&
    typeof Reflect.get(v, 'finished') === 'boolean' &&
    typeof Reflect.get(v, 'optimizer') === 'object' &&
    typeof Reflect.get(v, 'scheduler') === 'object' &&
    Array.isArray(Reflect.get(v, 'history'))
  );
}

/** Reads a checkpoint written by `writeCheckpoint`. Errors name the file and what is wrong. */
export function readCheckpoint(path: string, opts: { device?: string } = {}): Checkpoint {
  const { tensors, metadata } = loadStateDictFile(
    path,
    opts.device === undefined ? {} : { device: opts.device },
  );
  try {
    if (metadata.format !== CHECKPOINT_FORMAT) {
      throw new DetkdError(
        `${path}: format '${metadata.format ?? '(none)'}', expected '${CHECKPOINT_FORMAT}'`,
      );
    }
    const state = parseJson(path, 'state', metadata.state);
    if (!isTrainState(state)) throw new DetkdError(`${path}: metadata 'state' is malformed`);
    const recipe = parseJson(path, 'recipe', metadata.recipe ?? 'null') as JsonValue;
    const model = new Map<string, Tensor>();
    const optim = new Map<string, Tensor>();
    let rng: Tensor | null = null;
    for (const [k, t] of tensors) {
      if (k.startsWith('model.')) model.set(k.slice('model.'.length), t);
      else if (k.startsWith('optim.')) optim.set(k.slice('optim.'.length), t);
      else if (k === 'rng.cpu') rng = t;
      else throw new DetkdError(`${path}: unexpected tensor '${k}'`);
    }
    return { state, recipe, detkdVersion: metadata.detkd_version ?? 'unknown', model, optim, rng };
  } catch (e) {
    dispose([...tensors.values()]);
    throw e;
  }
}
