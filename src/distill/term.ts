// A distillation method is a term, not a subclass (docs/architecture.md): it picks a student
// and a teacher value with typed taps, passes the student side through an optional adapter,
// applies a pure loss, and carries its weight and schedule. `defineTerm` keeps the tap/loss types
// checked where a term is written and erases them for the Distiller's list.
import { DetkdError } from '../core/errors.ts';
import { z } from '../core/schema.ts';
import type { Tensor } from '../core/tensor.ts';
import {
  type Detector,
  type DetectorFamily,
  type DetectorOf,
  FAMILY_NAMES,
  type ForwardOf,
  type TargetsOf,
} from '../detection/any-detector.ts';
import type { GtTargets } from '../detection/assigners/types.ts';
import type { Module } from '../nn/module.ts';
import type { Batch } from '../structures/tensor-batch.ts';
import type { Frozen } from './frozen.ts';

/**
 * What a recipe's `terms` and `assignment` functions get, and every method factory takes (spread
 * into its options): the student and the frozen teacher, of either detector kind. Methods with
 * other pairs extend it rather than change it: a method that trains a second network (CoLAD) adds
 * that network, trainable; a teacherless one (LGD) takes `StudentSide` alone.
 */
export interface StudentSide<S extends Detector = Detector> {
  readonly student: S;
}

export interface DistillPair<S extends Detector = Detector, T extends Detector = Detector>
  extends StudentSide<S> {
  readonly teacher: Frozen<T>;
}

/**
 * What a term sees in one training step. SK and TK are the student's and the teacher's detector
 * families; a term declares the ones it takes (`kinds`) and sees their forward passes typed.
 */
export interface DistillContext<
  out SK extends DetectorFamily = DetectorFamily,
  out TK extends DetectorFamily = DetectorFamily,
> {
  batch: Batch;
  /** Ground truth per image (degenerate boxes dropped), as the assigners take it. */
  gts: readonly GtTargets[];
  /** The student's forward pass (with gradients; two-stage: training proposal counts). */
  student: ForwardOf<SK>;
  /** The teacher's forward pass (computed under no-grad, teacher in eval mode, test settings). */
  teacher: ForwardOf<TK>;
  /**
   * What the student trains on: a dense student's assignment (its own, or the teacher's under
   * LAD); a two-stage student's RPN targets, sampled RoIs and RoI head outputs on them.
   */
  assignment: TargetsOf<SK>;
  /** The student detector (for its head config: numClasses, regMax). */
  studentModel: DetectorOf<SK>;
  /** The frozen teacher, for terms that run a part of it on student values (its RoI head on the student's RoIs). */
  teacherModel: Frozen<DetectorOf<TK>>;
  /** 0-based iteration across epochs. */
  iter: number;
}

/**
 * Picks a value from one side's forward pass. K is the family of the side it reads (a tap for any
 * family takes `DetectorFamily`); SK and TK the families of the step's pair.
 */
export type Tap<
  T,
  K extends DetectorFamily = 'dense',
  SK extends DetectorFamily = DetectorFamily,
  TK extends DetectorFamily = DetectorFamily,
> = (fwd: ForwardOf<K>, ctx: DistillContext<SK, TK>) => T;

/** The detector families a term takes on each side. */
export interface TermKinds<
  SK extends DetectorFamily = DetectorFamily,
  TK extends DetectorFamily = DetectorFamily,
> {
  readonly student: readonly SK[];
  readonly teacher: readonly TK[];
}

/** Dense student and dense teacher: what a term takes unless it says otherwise. */
export const DENSE_PAIR: TermKinds<'dense', 'dense'> = { student: ['dense'], teacher: ['dense'] };
/** Any kind on either side (terms on backbone and FPN features). */
export const ANY_PAIR: TermKinds = { student: ['dense', 'two-stage'], teacher: ['dense', 'two-stage'] };

/** Why `term` does not take this pair (null when it does): names the term, the side and both kinds. */
export function pairMismatch(term: string, kinds: TermKinds, pair: DistillPair): string | null {
  const s = pair.student.detectorKind;
  const t = pair.teacher.peek((m) => m.detectorKind);
  const side = !kinds.student.includes(s)
    ? { side: 'student', has: s, wants: kinds.student }
    : !kinds.teacher.includes(t)
      ? { side: 'teacher', has: t, wants: kinds.teacher }
      : null;
  if (side === null) return null;
  return `distill term '${term}' needs a ${side.wants.map((k) => FAMILY_NAMES[k]).join(' or ')} ${side.side}; this ${side.side} is ${FAMILY_NAMES[side.has]}`;
}

/**
 * Narrows a pair to the families a method takes, or throws a DetkdError naming the method (a
 * recipe pairing the wrong kinds fails when its terms are built, before any training).
 */
export function requirePair<SK extends DetectorFamily, TK extends DetectorFamily>(
  pair: DistillPair,
  term: string,
  kinds: TermKinds<SK, TK>,
): DistillPair<DetectorOf<SK>, DetectorOf<TK>> {
  const why = pairMismatch(term, kinds, pair);
  if (why !== null) throw new DetkdError(why);
  return pair as DistillPair<DetectorOf<SK>, DetectorOf<TK>>;
}

/** A learnable map applied to the student side before the loss (e.g. 1x1 convs C_S -> C_T). */
export interface Adapter<S> {
  readonly module: Module;
  forward(s: S): S;
}

/**
 * When a term is on, as a factor on its weight: 0 before `start`, a linear ramp over `warmupIters`
 * after it, 1 until `stop` (exclusive), 0 from then on. Iterations are 0-based and count across
 * epochs.
 */
export const termScheduleSchema = z.strictObject({
  start: z.number().int().nonnegative().optional(),
  stop: z.number().int().nonnegative().optional(),
  warmupIters: z.number().int().nonnegative().optional(),
});
export type TermSchedule = z.infer<typeof termScheduleSchema>;

export function scheduleFactor(s: TermSchedule | undefined, iter: number): number {
  if (s === undefined) return 1;
  const start = s.start ?? 0;
  if (iter < start) return 0;
  if (s.stop !== undefined && iter >= s.stop) return 0;
  const w = s.warmupIters ?? 0;
  if (w > 0 && iter - start < w) return (iter - start + 1) / w;
  return 1;
}

/** A term as the author writes it. */
export interface DistillTerm<S, T, SK extends DetectorFamily = 'dense', TK extends DetectorFamily = 'dense'> {
  /** Logged as `loss_<name>` (or `loss_<name>_<part>` for a loss returning several parts). */
  name: string;
  /** The detector families the term takes (default DENSE_PAIR); the Distiller refuses others. */
  kinds?: TermKinds<SK, TK>;
  student: Tap<S, SK, SK, TK>;
  teacher: Tap<T, TK, SK, TK>;
  adapter?: Adapter<S>;
  /**
   * Pure, unweighted loss on the tapped values; a record logs its parts separately. The Distiller
   * applies the weights: `weight`, then each part's own from `parts`.
   */
  loss: (student: S, teacher: T, ctx: DistillContext<SK, TK>) => Tensor | Record<string, Tensor>;
  weight: number;
  /**
   * Each part's own weight on top of `weight` (LD's main and VLR, FGD's alpha..lambda), so the
   * weights a method runs with are on the term, where the log shows them. When given, the loss
   * returns exactly these parts.
   */
  parts?: Readonly<Record<string, number>>;
  schedule?: TermSchedule;
  /** Learnable loss modules (FGD's GcBlocks): trained by the optimizer, not exported. */
  modules?: readonly Module[];
}

/** A term with its types erased, as the Distiller holds it. */
export interface AnyTerm {
  readonly name: string;
  readonly weight: number;
  readonly parts?: Readonly<Record<string, number>>;
  readonly schedule?: TermSchedule;
  /** The detector families it takes. */
  readonly kinds: TermKinds;
  /** Every learnable module of the term (adapter and loss modules). */
  readonly modules: readonly Module[];
  /** The unweighted loss of one step: one value (part null) or its named parts. */
  compute(ctx: DistillContext): TermPart[];
}

export interface TermPart {
  part: string | null;
  value: Tensor;
}

/** The log key of a term's part: loss_<name> or loss_<name>_<part>. */
export function lossKey(term: string, part: string | null): string {
  return part === null ? `loss_${term}` : `loss_${term}_${part}`;
}

/** The term and its weights as the run log shows them, e.g. `ld (main x0.25, vlr x0.25)`. */
export function describeTerm(t: AnyTerm): string {
  const w = t.weight === 1 && t.parts ? '' : ` x${t.weight}`;
  const parts = t.parts
    ? ` (${Object.entries(t.parts)
        .map(([k, v]) => `${k} x${v}`)
        .join(', ')})`
    : '';
  return `${t.name}${w}${parts}`;
}

const NAME_RE = /^[a-z][a-z0-9_]*$/;

export function defineTerm<S, T, SK extends DetectorFamily = 'dense', TK extends DetectorFamily = 'dense'>(
  t: DistillTerm<S, T, SK, TK>,
): AnyTerm {
  if (!NAME_RE.test(t.name)) {
    throw new DetkdError(`distill term '${t.name}': names are lower-case letters, digits and _`);
  }
  const weights: [string, number][] = [['weight', t.weight], ...Object.entries(t.parts ?? {})];
  for (const [k, w] of weights) {
    if (!Number.isFinite(w) || w < 0) {
      throw new DetkdError(`distill term '${t.name}': ${k} must be a finite number >= 0, got ${w}`);
    }
  }
  const modules = [...(t.adapter ? [t.adapter.module] : []), ...(t.modules ?? [])];
  const declared = t.parts ? Object.keys(t.parts).sort().join(',') : null;
  return {
    name: t.name,
    weight: t.weight,
    ...(t.parts ? { parts: { ...t.parts } } : {}),
    ...(t.schedule ? { schedule: t.schedule } : {}),
    kinds: (t.kinds ?? DENSE_PAIR) as TermKinds,
    modules,
    compute(anyCtx) {
      // The Distiller checked the pair's families against `kinds` when it was built.
      const ctx = anyCtx as unknown as DistillContext<SK, TK>;
      const s0 = t.student(ctx.student, ctx);
      const s = t.adapter ? t.adapter.forward(s0) : s0;
      const out = t.loss(s, t.teacher(ctx.teacher, ctx), ctx);
      if (isTensor(out)) {
        if (declared !== null)
          throw new Error(`distill term '${t.name}': declares parts but returned one value`);
        return [{ part: null, value: out }];
      }
      if (declared !== null && Object.keys(out).sort().join(',') !== declared) {
        throw new Error(
          `distill term '${t.name}': returned parts [${Object.keys(out).join(', ')}], declared [${declared}]`,
        );
      }
      return Object.entries(out).map(([part, value]) => ({ part, value }));
    },
  };
}

function isTensor(v: Tensor | Record<string, Tensor>): v is Tensor {
  return typeof (v as Tensor).backward === 'function';
}
