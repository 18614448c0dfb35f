// The Distiller: a frozen teacher, the student, and a list of distillation terms, trained by the
// generic Trainer as a Task (checkpoints, exact resume, progress, JSONL logs and the NaN guard come
// from there). Either may be a dense or a two-stage detector, in any pairing; each term says which
// kinds it takes and the Distiller refuses a pair it does not. One step: teacher forward (eval,
// no-grad) -> student forward -> the student's targets (a dense student's assignment, its own or
// one computed from the teacher: LAD; a two-stage student's RPN targets and sampled RoIs) -> the
// student's own losses -> each term's loss times its schedule, its weight and its part's weight. Loss parts are logged
// separately (loss_ld_main, loss_fgd_fg, ...), weighted.
//
// The student and the learnable distillation modules (adapters, FGD's GcBlocks) are registered
// children, so the optimizer trains them and checkpoints hold them; the teacher is not (it sits in
// a `Frozen`), and the exported deliverable is the student alone.
import { DetkdError } from '../core/errors.ts';
import { type Tensor, tidy, zeros } from '../core/tensor.ts';
import { type Detector, FAMILY_NAMES, forwardFor } from '../detection/any-detector.ts';
import type { GtTargets } from '../detection/assigners/types.ts';
import { type BatchAssignment, DenseDetector, type DetectorForward } from '../detection/detector.ts';
import { TwoStageDetector } from '../detection/two-stage.ts';
import { ModuleList } from '../nn/containers.ts';
import { Module } from '../nn/module.ts';
import type { Batch } from '../structures/tensor-batch.ts';
import type { TrainContext } from '../train/task.ts';
import type { Frozen } from './frozen.ts';
import { type AnyTerm, type DistillContext, lossKey, pairMismatch, scheduleFactor } from './term.ts';

/**
 * Computes the assignment the student trains on from the teacher's forward pass (LAD). Runs
 * without gradients. Dense student and teacher only.
 */
export type TeacherAssignment = (
  teacher: DetectorForward,
  gts: readonly GtTargets[],
  student: DetectorForward,
) => BatchAssignment;

export interface DistillerOptions {
  student: Detector;
  /** Owned by the distiller from here on (disposed with it). */
  teacher: Frozen<Detector>;
  terms: readonly AnyTerm[];
  /** Where the student's assignment comes from (default: its own assigner). */
  assignment?: TeacherAssignment;
}

export class Distiller extends Module {
  readonly student: Detector;
  readonly teacher: Frozen<Detector>;
  readonly terms: readonly AnyTerm[];
  readonly teacherAssignment: TeacherAssignment | undefined;

  constructor(o: DistillerOptions) {
    super();
    this.student = this.register('student', o.student);
    this.teacher = o.teacher;
    const names = new Set<string>();
    for (const t of o.terms) {
      if (names.has(t.name)) throw new DetkdError(`distiller: two terms are named '${t.name}'`);
      names.add(t.name);
      const why = pairMismatch(t.name, t.kinds, o);
      if (why !== null) throw new DetkdError(why);
    }
    if (o.assignment !== undefined) {
      const t = o.teacher.peek((m) => m.detectorKind);
      if (o.student.detectorKind !== 'dense' || t !== 'dense') {
        throw new DetkdError(
          `distiller: a teacher assignment (LAD) needs a dense student and teacher; student is ${FAMILY_NAMES[o.student.detectorKind]}, teacher ${FAMILY_NAMES[t]}`,
        );
      }
    }
    this.terms = [...o.terms];
    // Learnable modules of all terms, under `distill.<i>` (excluded from the exported student).
    const mods = new ModuleList(this.terms.flatMap((t) => t.modules));
    if (mods.length > 0) this.register('distill', mods);
    this.teacherAssignment = o.assignment;
  }

  /** The named losses of one training batch (head losses + weighted distillation terms). */
  losses(batch: Batch, tctx: TrainContext): Record<string, Tensor> {
    return tidy(() => {
      const gts = DenseDetector.gts(batch);
      const teacher = this.teacher.run((t) => forwardFor(t, batch, 'teacher'));
      const s = this.student;
      const common = { batch, gts, teacher, teacherModel: this.teacher, iter: tctx.iter };
      let out: Record<string, Tensor>;
      let ctx: DistillContext;
      if (s.detectorKind === 'dense') {
        const student = s.forward(batch.images, batch.metas);
        const assignment = this.teacherAssignment
          ? this.teacherAssignment(teacher as DetectorForward, gts, student)
          : s.assign(student, gts);
        out = { ...s.headLosses(student, gts, assignment) };
        ctx = { ...common, student, assignment, studentModel: s };
      } else {
        const student = s.forward(batch.images, batch.metas, 'train');
        const targets = s.trainTargets(student, TwoStageDetector.gts(batch));
        out = { ...s.lossesFrom(student, targets.rpn, targets.rois, targets.head) };
        ctx = { ...common, student, assignment: targets, studentModel: s };
      }
      for (const term of this.terms) {
        const f = scheduleFactor(term.schedule, tctx.iter) * term.weight;
        if (f === 0) {
          // Off (schedule or weight 0): skip the work but keep the keys in the log.
          const parts = term.parts ? Object.keys(term.parts) : [null];
          for (const p of parts) out[lossKey(term.name, p)] = zeros([], { device: batch.images.device });
          continue;
        }
        for (const { part, value } of term.compute(ctx)) {
          const k = lossKey(term.name, part);
          if (k in out) throw new DetkdError(`distiller: loss '${k}' is produced twice`);
          const g = part === null ? f : f * (term.parts?.[part] ?? 1);
          out[k] = g === 1 ? value : value.mul(g);
        }
      }
      return out;
    });
  }

  override to(device: string): this {
    super.to(device);
    this.teacher.to(device);
    return this;
  }

  /** Disposes the student, the distillation modules and the teacher. */
  override dispose(): void {
    super.dispose();
    this.teacher.dispose();
  }
}

const INHERITED = ['neck.', 'bbox_head.', 'rpn_head.'];
const inherited = (k: string): boolean => INHERITED.some((p) => k.startsWith(p));

/**
 * "Inherit" (FGD's, PGD's and ICD's default): copies the teacher's neck and head weights (a
 * two-stage pair's RPN and box heads too) into a student of the same kind. All-or-nothing: if any
 * neck/head tensor is missing or differs in shape, nothing is copied and the error lists the
 * mismatches (a partial copy silently changes what the student starts from).
 */
export function inheritNeckAndHead(student: Detector, teacher: Frozen<Detector>): number {
  const tk = teacher.peek((t) => t.detectorKind);
  if (tk !== student.detectorKind) {
    throw new DetkdError(
      `inherit copies the teacher's neck and heads into a student of the same kind; the teacher is ${FAMILY_NAMES[tk]}, the student ${FAMILY_NAMES[student.detectorKind]}; turn 'inherit' off`,
    );
  }
  return teacher.peek((tm) =>
    tidy(() => {
      const src = tm.stateDict();
      const dst = student.stateDict();
      const take = new Map<string, Tensor>();
      const problems: string[] = [];
      for (const [k, d] of dst) {
        if (!inherited(k)) continue;
        const s = src.get(k);
        if (s === undefined) problems.push(`'${k}' missing in the teacher`);
        else if (s.shape.join(',') !== d.shape.join(',')) {
          problems.push(`'${k}' teacher [${s.shape.join(', ')}] vs student [${d.shape.join(', ')}]`);
        } else take.set(k, s);
      }
      for (const k of src.keys()) {
        if (inherited(k) && !dst.has(k)) problems.push(`'${k}' missing in the student`);
      }
      if (problems.length > 0) {
        const head = problems.slice(0, 4).join('; ');
        throw new DetkdError(
          `inherit: the teacher's neck and head do not fit the student (${problems.length} mismatch(es): ${head}${problems.length > 4 ? '; ...' : ''}); turn 'inherit' off or give the student the teacher's neck/head widths`,
        );
      }
      student.loadStateDict(take, { strict: false });
      return take.size;
    }),
  );
}
