// CWD on the FPN levels (tau 1, weight 10, through 1x1 adapters) and on GFL's class logits
// (tau 1, weight 5), as the official configs set them (docs/methods/cwd.md).
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { cwdCls, cwdFpn } from '../src/distill/methods/features.ts';
import { DEMO_TEACHER } from './demo-ld-kd.ts';
import { recipe as student } from './demo-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-cwd',
  description: 'demo student distilled by CWD on FPN levels and the class head from the demo teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_TEACHER }, terms: (p) => [cwdFpn(p), cwdCls(p)] },
});
