// Classification logit KD alone (LD's "Main KD": tau 2 at the positives, weight 10).
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { kd } from '../src/distill/methods/kd.ts';
import { DEMO_TEACHER } from './demo-ld-kd.ts';
import { recipe as student } from './demo-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-kd',
  description: 'demo student distilled by classification KD (tau 2, positives) from the demo teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_TEACHER }, terms: (p) => [kd(p)] },
});
