// The trainer settings the resume tests share (also used by the child process they kill).
import type { TrainerOptions } from '../../src/train/index.ts';
import { Collector } from './tiny-task.ts';

export const STEPS_PER_EPOCH = 5;
export const SOURCE_SEED = 11;

export function resumeOptions(
  runDir: string,
  kind: 'sgd' | 'adamw',
  over: Partial<TrainerOptions> = {},
): TrainerOptions {
  return {
    runDir,
    epochs: 4,
    seed: 3,
    logInterval: 3,
    progress: 'lines',
    out: new Collector(),
    optimizer:
      kind === 'sgd'
        ? { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4, nesterov: true }
        : { kind: 'adamw', lr: 3e-3, weightDecay: 0.05 },
    lr:
      kind === 'sgd'
        ? {
            rule: { kind: 'multistep', milestones: [2, 3] },
            byEpoch: true,
            warmup: { iters: 7, ratio: 0.01 },
          }
        : {
            rule: { kind: 'cosine', total: 20, minLrRatio: 0.01 },
            byEpoch: false,
            warmup: { iters: 3, ratio: 0.1, kind: 'exp' },
          },
    clipGrad: { maxNorm: 1 },
    evalInterval: 2,
    best: { metric: 'score' },
    recipe: { kind },
    ...over,
  };
}
