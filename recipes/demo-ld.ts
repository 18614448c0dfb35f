// LD alone: main-region LD and VLR LD (tau 10, weights 0.25 / 0.25, scaled for the batch size).
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { ld } from '../src/distill/methods/ld.ts';
import { DEMO_TEACHER } from './demo-ld-kd.ts';
import { recipe as student } from './demo-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-ld',
  description: 'demo student distilled by LD (main + VLR) from the demo teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_TEACHER }, terms: (p) => [ld(p)] },
});
