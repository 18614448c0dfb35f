// The demo Faster R-CNN student distilled from the demo Faster R-CNN teacher: PKD on the four FPN
// levels, weight 6 per level (the reference's with an R-CNN teacher), through a 1x1 adapter per
// level (student 32 -> teacher 64 channels).
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { pkd } from '../src/distill/methods/features.ts';
import { recipe as student } from './demo-frcnn-student.ts';
import { DEMO_FRCNN_TEACHER, recipe as teacher } from './demo-frcnn-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-frcnn-pkd',
  description: 'demo Faster R-CNN student distilled by PKD on FPN levels from the demo Faster R-CNN teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_FRCNN_TEACHER }, terms: (p) => [pkd(p)] },
});
