// Classification logit KD (LD's "Main KD"; docs/methods/kd.md): at the student's positive priors,
// tau^2 * mean over classes of KL(softmax(teacher/tau) || softmax(student/tau)), tau = 2, weighted
// by the label weights and divided by the level's positive count, summed over levels, weight 10
// (ld_head.py loss_single; kd_loss.py KnowledgeDistillationKLDivLoss). The softmax runs over GFL's
// sigmoid-style class logits, as the reference does. `dense: true` applies it to every
// non-ignored prior instead, normalised by their count. The loss is LD's Main KD (losses/ld.ts
// mainKdLoss, checked against the reference), applied per level.
import { type Tensor, tidy } from '../../core/tensor.ts';
import { mainKdLoss } from '../losses/ld.ts';
import { checkSamePriorLayout } from '../prior-layout.ts';
import { headCls } from '../taps.ts';
import { type AnyTerm, DENSE_PAIR, defineTerm, requirePair } from '../term.ts';
import { labelWeights, levelRows, levelSlice } from './levels.ts';
import { type KdOptions, kdOptionsSchema, parseOptions } from './options.ts';

export type { KdOptions };

export function kd(options: KdOptions): AnyTerm {
  const o = parseOptions(kdOptionsSchema, options, 'kd');
  const p = requirePair(o, 'kd', DENSE_PAIR);
  checkSamePriorLayout('KD', p.student, p.teacher);
  const C = p.student.numClasses;
  const cfg = { numClasses: C, tau: o.tau, dense: o.dense };
  return defineTerm<Tensor[], Tensor[]>({
    name: 'kd',
    student: headCls(),
    teacher: headCls(),
    weight: o.weight,
    ...(o.schedule ? { schedule: o.schedule } : {}),
    loss: (s, t, ctx) =>
      tidy(() => {
        const priors = ctx.student.priors;
        const as = ctx.assignment.assignments;
        const lw = labelWeights(as);
        const labels = as.map((a) => a.labels);
        let total: Tensor | null = null;
        for (let l = 0; l < s.length; l++) {
          const v = mainKdLoss(
            {
              studentCls: levelRows(s[l]!, C),
              teacherCls: levelRows(t[l]!, C),
              labels: levelSlice(labels, priors, l),
              labelWeights: levelSlice(lw, priors, l),
            },
            cfg,
          );
          total = total === null ? v : total.add(v);
        }
        return total!;
      }),
  });
}
