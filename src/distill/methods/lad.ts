// LAD (docs/methods/lad.md; mmdet lad.py / lad_head.py): the student trains on the PAA assignment the
// teacher's own predictions give (no soft labels, no features). The teacher must lay its priors
// out as the student does (GFL/ATSS single square anchor), since the assignment is per prior.

import { DetkdError } from '../../core/errors.ts';
import { noGrad, tidy } from '../../core/tensor.ts';
import type { TeacherAssignment } from '../distiller.ts';
import { ladAssign } from '../lad.ts';
import { checkSamePriorLayout } from '../prior-layout.ts';
import { DENSE_PAIR, requirePair } from '../term.ts';
import { type LadOptions, ladOptionsSchema, parseOptions } from './options.ts';

export type { LadOptions };

export function ladAssignment(options: LadOptions): TeacherAssignment {
  const o = parseOptions(ladOptionsSchema, options, 'ladAssignment');
  const p = requirePair(o, 'lad', DENSE_PAIR);
  checkSamePriorLayout('LAD', p.student, p.teacher);
  const teacher = p.teacher;
  const kind = teacher.peek((t) => t.spec.kind);
  if (kind !== 'gfl' && kind !== 'atss') {
    throw new DetkdError(
      `LAD here takes a GFL or ATSS teacher (single square anchor); got a ${kind} teacher`,
    );
  }
  const C = p.student.numClasses;
  return (tf, gts, sf) =>
    noGrad(() =>
      tidy(() => {
        if (sf.priors.boxes.size(0) !== tf.priors.boxes.size(0)) {
          throw new DetkdError(
            `LAD: teacher has ${tf.priors.boxes.size(0)} priors, student ${sf.priors.boxes.size(0)}; they must match`,
          );
        }
        const preds = teacher.peek((t) => t.assignerPreds(tf));
        const assignments = gts.map((g, i) =>
          ladAssign(tf.priors, preds[i]!.clsScores, preds[i]!.bboxes, g, C, o.config),
        );
        return { assignments };
      }),
    );
}
