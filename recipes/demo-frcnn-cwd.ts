// The demo Faster R-CNN student distilled from the demo Faster R-CNN teacher: CWD on the four FPN
// levels (tau 1, weight 10, through 1x1 adapters), as the official Faster R-CNN config sets it;
// there is no class-logit CWD for a two-stage pair (no dense logits).
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { cwdFpn } from '../src/distill/methods/features.ts';
import { recipe as student } from './demo-frcnn-student.ts';
import { DEMO_FRCNN_TEACHER, recipe as teacher } from './demo-frcnn-teacher.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-frcnn-cwd',
  description: 'demo Faster R-CNN student distilled by CWD on FPN levels from the demo Faster R-CNN teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_FRCNN_TEACHER }, terms: (p) => [cwdFpn(p)] },
});
