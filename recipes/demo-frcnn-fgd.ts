// The demo Faster R-CNN student distilled from the demo Faster R-CNN teacher: FGD on the four FPN
// levels with the two-stage weights (alpha 5e-5, beta 2.5e-5, gamma 5e-5, lambda 5e-7, T 0.5); a
// 1x1 align conv maps the student's 32 channels to the teacher's 64.
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { fgd } from '../src/distill/methods/features.ts';
import { recipe as student } from './demo-frcnn-student.ts';
import { DEMO_FRCNN_TEACHER, recipe as teacher } from './demo-frcnn-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-frcnn-fgd',
  description: 'demo Faster R-CNN student distilled by FGD on FPN levels from the demo Faster R-CNN teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_FRCNN_TEACHER }, terms: (p) => [fgd(p)] },
});
