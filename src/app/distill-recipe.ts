// Distillation recipes: a detection recipe (the student, its data and schedule) plus the teacher
// and the distillation terms. Terms are made by a function of the built student and teacher, so
// adapters get the right channel counts and are created after the student's initial weights.
//
// @example
// export const recipe = defineDistillRecipe({
//   ...student,
//   name: 'demo-ld-kd',
//   distill: {
//     teacher: { recipe: teacher, checkpoint: 'teachers/demo-teacher.safetensors' },
//     terms: (p) => [ld(p), kd(p)],
//   },
// });
import type { DenseDetector } from '../detection/detector.ts';
import type { TeacherAssignment } from '../distill/distiller.ts';
import type { Frozen } from '../distill/frozen.ts';
import type { AnyTerm } from '../distill/term.ts';
import type { DetectionRecipe } from './recipe.ts';

/** The pair every term factory takes. */
export interface DistillPair {
  student: DenseDetector;
  teacher: Frozen<DenseDetector>;
}

export interface DistillSpec {
  teacher: {
    /** The teacher's recipe: its architecture and input normalisation (its data is not used). */
    recipe: DetectionRecipe;
    /** A detkd checkpoint (last.safetensors), deliverable (model_*.safetensors) or plain safetensors. */
    checkpoint: string;
  };
  /** The distillation terms (may be empty, e.g. LAD only). */
  terms: (p: DistillPair) => AnyTerm[];
  /** Train the student on an assignment made from the teacher (LAD). */
  assignment?: (p: DistillPair) => TeacherAssignment;
  /** Copy the teacher's neck and head into the student first (errors if shapes differ). */
  inherit?: boolean;
}

export interface DistillRecipe extends DetectionRecipe {
  distill: DistillSpec;
}

export function defineDistillRecipe(r: DistillRecipe): DistillRecipe {
  return r;
}

export function isDistillRecipe(r: DetectionRecipe): r is DistillRecipe {
  const d: unknown = Reflect.get(r, 'distill');
  return d !== null && typeof d === 'object' && typeof Reflect.get(d, 'terms') === 'function';
}

/** The recipe without its distillation part: the baseline student it distils. */
export function baselineOf(r: DetectionRecipe): DetectionRecipe {
  if (!isDistillRecipe(r)) return r;
  const { distill: _drop, ...rest } = r;
  return rest;
}
