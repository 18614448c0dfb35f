// The demo's two-stage teacher: the student's Faster R-CNN at twice the width (ResNet-18 x0.5 +
// FPN 64, a 512-wide box head), trained four times as long (12 epochs, as the dense demo teacher).
// Same levels and anchors as the student (recipes/demo-frcnn-student.ts), so every FPN level pairs
// by stride.
import { defineRecipe } from '../src/app/recipe.ts';
import { recipe as student } from './demo-frcnn-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

/** The committed teacher (fp16, stamped with the demo set it was trained on). */
export const DEMO_FRCNN_TEACHER = 'teachers/demo-frcnn-teacher.safetensors';

export const recipe = defineRecipe({
  ...student,
  name: 'demo-frcnn-teacher',
  description: 'Faster R-CNN, ResNet-18 x0.5 + FPN 64 (P2-P5) (teacher), synthetic demo set, 192 px',
  model: {
    ...student.model,
    backbone: { depth: 18, widthMultiplier: 0.5, norm: 'gn' },
    channels: 64,
    fcChannels: 512,
  },
  train: teacher.train,
});
