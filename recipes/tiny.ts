// CI's golden run: a small GFL detector learns the synthetic `tiny` set (48 train / 16 val images
// at 128 px, few large objects) in a couple of minutes on 2 cores. test/golden checks that its
// loss and mAP land in a recorded band.
import { defineRecipe } from '../src/app/recipe.ts';

export const recipe = defineRecipe({
  name: 'tiny',
  description: 'GFL, ResNet-18 x0.25 + FPN 32, synthetic tiny set',
  data: {
    synth: { preset: 'tiny', seed: 0 },
    resize: { kind: 'fixed', height: 128, width: 128 },
    batchSize: 4,
    numWorkers: 0,
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
    epochs: 25,
    optimizer: { kind: 'sgd', lr: 0.02, momentum: 0.9, weightDecay: 1e-4 },
    lr: {
      rule: { kind: 'multistep', milestones: [20], gamma: 0.1 },
      byEpoch: true,
      warmup: { kind: 'linear', iters: 50, ratio: 0.1 },
    },
    clipGrad: { maxNorm: 35 },
    evalInterval: 25,
    seed: 0,
    logInterval: 25,
  },
});
