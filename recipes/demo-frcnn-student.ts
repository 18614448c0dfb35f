// The demo's two-stage student: a small Faster R-CNN (ResNet-18 x0.25 + FPN 32, GN, from scratch;
// mmdet preset) on the synthetic `demo` set at 192 px, the same data and schedule as the dense
// student (recipes/demo-student.ts). Levels and anchors suit the set's mostly small objects (sides
// from 8 to ~180 px): FPN P2..P5 (strides 4..32, RoIs pooled from all four) with one anchor size
// per level of 4 x stride (16, 32, 64, 128 px) in the three ratios, where the R50 defaults
// (P2..P6, 8 x stride: 32..512 px) would leave the smallest objects only low-quality matches.
// Proposal and sample counts are scaled down with the images (about 14 objects at most per
// image): 1000 before and 500 after NMS in training, 256 RoIs per image.
import { defineRecipe } from '../src/app/recipe.ts';
import { recipe as dense } from './demo-student.ts';

export const recipe = defineRecipe({
  ...dense,
  name: 'demo-frcnn-student',
  description: 'Faster R-CNN, ResNet-18 x0.25 + FPN 32 (P2-P5) (student), synthetic demo set, 192 px',
  model: {
    kind: 'faster-rcnn',
    numClasses: 13,
    backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
    channels: 32,
    levels: { first: 2, count: 4 },
    anchorSizes: [16, 32, 64, 128],
    fcChannels: 256,
    rpn: { train: { preNms: 1000, postNms: 500 } },
    roi: { samples: 256 },
  },
});
