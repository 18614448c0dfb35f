// The demo student trained alone with PAA's assignment from its own predictions (PAA as
// published) instead of ATSS: LAD's own baseline. LAD (demo-lad.ts) replaces exactly this
// assignment with the one the teacher's predictions give; the paper reports LAD against it
// (PAA R50 40.4 -> 41.4). `detkd compare` takes it as an arm trained without a teacher.
import { defineRecipe } from '../src/app/recipe.ts';
import { recipe as student } from './demo-student.ts';

export const recipe = defineRecipe({
  ...student,
  name: 'demo-student-paa',
  description: 'demo student, PAA self-assignment instead of ATSS (LAD baseline)',
  model: { ...student.model, assigner: 'paa' },
});
