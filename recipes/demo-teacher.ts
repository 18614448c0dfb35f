// The demo's teacher: a larger GFL detector (ResNet-18 x0.5 + FPN 64, 4 head convs) trained much
// longer than the student (measured on 2 cores, a teacher needs several times the student's budget
// to be clearly better). Same priors as the student (3 levels, one square anchor per location),
// so output-level distillation (KD, LD, LAD) applies.
import { defineRecipe } from '../src/app/recipe.ts';
import { recipe as student } from './demo-student.ts';

export const recipe = defineRecipe({
  ...student,
  name: 'demo-teacher',
  description: 'GFL, ResNet-18 x0.5 + FPN 64 (teacher), synthetic demo set, 192 px',
  model: {
    ...student.model,
    backbone: { depth: 18, widthMultiplier: 0.5, norm: 'gn' },
    channels: 64,
    stackedConvs: 4,
  },
  train: {
    ...student.train,
    // Twice the student's epochs on a 3x larger model (about 30 min on 2 cores).
    epochs: 12,
    lr: {
      rule: { kind: 'multistep', milestones: [9, 11], gamma: 0.1 },
      byEpoch: true,
      warmup: { kind: 'linear', iters: 300, ratio: 0.1 },
    },
    evalInterval: 4,
  },
});
