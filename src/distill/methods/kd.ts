// Classification logit KD (LD's "Main KD"; docs/methods/kd.md): at the student's positive priors,
// tau^2 * mean over classes of KL(softmax(teacher/tau) || softmax(student/tau)), tau = 2, weighted
// by the label weights and divided by the level's positive count, summed over levels, weight 10
// (ld_head.py loss_single; kd_loss.py KnowledgeDistillationKLDivLoss). The softmax runs over GFL's
// sigmoid-style class logits, as the reference does. `dense: true` applies it to every
// non-ignored prior instead, normalised by their count.
import { DetkdError } from '../../core/errors.ts';
import { noGrad, type Tensor, tidy } from '../../core/tensor.ts';
import type { DenseDetector } from '../../detection/detector.ts';
import { checkSamePriorLayout } from '../distiller.ts';
import type { Frozen } from '../frozen.ts';
import { kdLoss } from '../losses/kd.ts';
import { headCls } from '../taps.ts';
import { type AnyTerm, defineTerm, type TermSchedule } from '../term.ts';
import { labelWeights, levelRows, levelSlice } from './levels.ts';

export interface KdOptions {
  student: DenseDetector;
  teacher: DenseDetector | Frozen<DenseDetector>;
  /** Reference 10. */
  weight?: number;
  /** Reference 2. */
  tau?: number;
  /** Every non-ignored prior instead of the positives. */
  dense?: boolean;
  schedule?: TermSchedule;
}

export function kd(o: KdOptions): AnyTerm {
  checkSamePriorLayout('KD', o.student, o.teacher);
  const C = o.student.numClasses;
  const tau = o.tau ?? 2;
  if (!(tau > 0)) throw new DetkdError(`KD: tau must be > 0, got ${tau}`);
  return defineTerm<Tensor[], Tensor[]>({
    name: 'kd',
    student: headCls(),
    teacher: headCls(),
    weight: o.weight ?? 10,
    ...(o.schedule ? { schedule: o.schedule } : {}),
    loss: (s, t, ctx) =>
      tidy(() => {
        const priors = ctx.student.priors;
        const as = ctx.assignment.assignments;
        const lw = labelWeights(as);
        const labels = as.map((a) => a.labels);
        let total: Tensor | null = null;
        for (let l = 0; l < s.length; l++) {
          const lab = levelSlice(labels, priors, l);
          const w = levelSlice(lw, priors, l);
          const rows = noGrad(() => (o.dense ? w.gt(0) : lab.ge(0).logicalAnd(lab.lt(C))).nonzero().view(-1));
          const n = rows.size(0);
          const sl = levelRows(s[l]!, C).indexSelect(0, rows);
          const tl = levelRows(t[l]!, C).indexSelect(0, rows);
          const v = kdLoss(sl, tl, { tau, weight: w.indexSelect(0, rows), avgFactor: n });
          total = total === null ? v : total.add(v);
        }
        return total!;
      }),
  });
}
