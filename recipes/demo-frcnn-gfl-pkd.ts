// A heterogeneous pair, PKD's headline setting: the demo Faster R-CNN teacher (FPN P2..P5) into the
// dense GFL demo student (FPN P3..P5). PKD normalises each channel, so the two detectors' feature
// scales need not agree; levels pair by stride (student P3, P4, P5 with the teacher's P3, P4, P5),
// weight 6 per level (the reference's with an R-CNN teacher), through 1x1 adapters (32 -> 64).
import { defineDistillRecipe } from '../src/app/distill-recipe.ts';
import { pkd } from '../src/distill/methods/features.ts';
import { DEMO_FRCNN_TEACHER, recipe as teacher } from './demo-frcnn-teacher.ts';
import { recipe as student } from './demo-student.ts';

export const recipe = defineDistillRecipe({
  ...student,
  name: 'demo-frcnn-gfl-pkd',
  description: 'demo GFL student distilled by PKD on FPN levels from the demo Faster R-CNN teacher',
  distill: { teacher: { recipe: teacher, checkpoint: DEMO_FRCNN_TEACHER }, terms: (p) => [pkd(p)] },
});
