// The demo's distillation: LD (main region + VLR, docs/methods/ld.md) plus classification KD at the
// positives, from the committed demo teacher into the demo student. Everything but the
// distillation terms is the baseline student's recipe.
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { kd } from '../src/distill/methods/kd.ts';
import { ld } from '../src/distill/methods/ld.ts';
import { recipe as student } from './demo-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

export const DEMO_TEACHER = 'teachers/demo-teacher.safetensors';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-ld-kd',
  description: 'demo student distilled by LD (main + VLR) and classification KD from the demo teacher',
  distill: {
    teacher: { recipe: teacher, checkpoint: DEMO_TEACHER },
    terms: (p) => [ld(p), kd(p)],
  },
});
