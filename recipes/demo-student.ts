// The demo's student: a small GFL detector (ResNet-18 x0.25 + FPN 32, GN, trained from scratch)
// on the synthetic `demo` set at its native 192 px. Distillation recipes start from this one, so
// baseline and distilled students share everything but the distillation terms.
import { defineRecipe } from '../src/app/recipe.ts';

export const recipe = defineRecipe({
  name: 'demo-student',
  description: 'GFL, ResNet-18 x0.25 + FPN 32 (student), synthetic demo set, 192 px',
  data: {
    synth: { preset: 'demo', seed: 0 },
    resize: { kind: 'fixed', height: 192, width: 192 },
    batchSize: 8,
    numWorkers: 1,
  },
  model: {
    kind: 'gfl',
    numClasses: 13,
    backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
    channels: 32,
    stackedConvs: 2,
    numLevels: 3,
  },
  train: {
    epochs: 3,
    optimizer: { kind: 'sgd', lr: 0.02, momentum: 0.9, weightDecay: 1e-4 },
    lr: {
      rule: { kind: 'multistep', milestones: [2], gamma: 0.1 },
      byEpoch: true,
      warmup: { kind: 'linear', iters: 200, ratio: 0.1 },
    },
    clipGrad: { maxNorm: 35 },
    evalInterval: 2,
    seed: 0,
    logInterval: 50,
  },
});
