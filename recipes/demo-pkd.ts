// PKD on the three FPN levels, weight 10 per level (dense teacher), through a 1x1 adapter per
// level (student 32 -> teacher 64 channels).
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { pkd } from '../src/distill/methods/features.ts';
import { DEMO_TEACHER } from './demo-ld-kd.ts';
import { recipe as student } from './demo-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-pkd',
  description: 'demo student distilled by PKD on FPN levels from the demo teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_TEACHER }, terms: (p) => [pkd(p)] },
});
