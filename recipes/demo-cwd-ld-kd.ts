// A combination: CWD (FPN levels and class logits) with LD (main + VLR) and classification KD,
// each with its own reference weight, from the demo teacher.
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { cwdCls, cwdFpn } from '../src/distill/methods/features.ts';
import { kd } from '../src/distill/methods/kd.ts';
import { ld } from '../src/distill/methods/ld.ts';
import { DEMO_TEACHER } from './demo-ld-kd.ts';
import { recipe as student } from './demo-student.ts';
import { recipe as teacher } from './demo-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-cwd-ld-kd',
  description: 'demo student distilled by CWD (FPN + class logits), LD and KD together',
  distill: {
    teacher: { recipe: teacher, checkpoint: DEMO_TEACHER },
    terms: (p) => [cwdFpn(p), cwdCls(p), ld(p), kd(p)],
  },
});
