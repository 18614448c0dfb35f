// CI's two-stage golden run: a small Faster R-CNN (ResNet-18 x0.25 + FPN 32 on P2..P5, a 128-wide
// box head, mmdet preset) learns the synthetic `tiny` set (48 train / 16 val images at 128 px, few
// large objects) as recipes/tiny.ts's GFL does, in fewer iterations and with fewer proposals and
// sampled RoIs, so that it stays a short CI job. test/golden checks its loss and mAP band.
import { defineRecipe } from '../src/app/recipe.ts';
import { recipe as tiny } from './tiny.ts';

export const recipe = defineRecipe({
  ...tiny,
  name: 'tiny-frcnn',
  description: 'Faster R-CNN, ResNet-18 x0.25 + FPN 32 (P2-P5), synthetic tiny set',
  model: {
    kind: 'faster-rcnn',
    numClasses: 13,
    backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
    channels: 32,
    levels: { first: 2, count: 4 },
    fcChannels: 128,
    rpn: { train: { preNms: 300, postNms: 150 }, test: { preNms: 300, postNms: 150 } },
    roi: { samples: 64 },
  },
  train: {
    ...tiny.train,
    epochs: 12,
    lr: {
      ...tiny.train.lr,
      rule: { kind: 'multistep', milestones: [10], gamma: 0.1 },
      warmup: { kind: 'linear', iters: 30, ratio: 0.1 },
    },
    evalInterval: 12,
    logInterval: 12,
  },
});
