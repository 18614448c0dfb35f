// FGD on the three FPN levels with the one-stage weights (alpha 1e-3, beta 5e-4, gamma 5e-4,
// lambda 5e-6, T 0.5); a 1x1 align conv maps the student's 32 channels to the teacher's 64.
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { fgd } from '../src/distill/methods/features.ts';
import { DEMO_TEACHER } from './demo-ld-kd.ts';
import { recipe as student } from './demo-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-fgd',
  description: 'demo student distilled by FGD on FPN levels from the demo teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_TEACHER }, terms: (p) => [fgd(p)] },
});
