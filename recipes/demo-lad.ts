// LAD: the student trains on the PAA assignment computed from the teacher's predictions (same
// single-anchor GFL layout), with no distillation loss terms.
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { ladAssignment } from '../src/distill/methods/lad.ts';
import { DEMO_TEACHER } from './demo-ld-kd.ts';
import { recipe as student } from './demo-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-lad',
  description: 'demo student trained on the teacher-made PAA assignment (LAD)',
  distill: {
    teacher: { recipe: teacher, checkpoint: DEMO_TEACHER },
    terms: () => [],
    assignment: (p) => ladAssignment(p),
  },
});
