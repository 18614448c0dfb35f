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
//     // or a PyTorch checkpoint: { recipe: teacher, checkpoint: 'gfl_r50.pth', format: 'mmdet' }
//     terms: (p) => [ld(p), kd(p)],
//   },
// });
import { DetkdError } from '../core/errors.ts';
import { z } from '../core/schema.ts';
import type { TeacherAssignment } from '../distill/distiller.ts';
import type { AnyTerm, DistillPair } from '../distill/term.ts';
import type { DetectionRecipe } from './recipe.ts';

const isFunction = (v: unknown): boolean => typeof v === 'function';
const isObject = (v: unknown): boolean => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A recipe's `distill` section. Functions and the teacher's recipe are checked for their kind
 * only: the teacher's recipe is validated by the recipe loader with the detection recipe schema,
 * and the terms validate their own options when the factories run.
 */
export const distillSectionSchema = z.strictObject({
  /**
   * The frozen teacher. Optional in the schema because a method may have none (LGD); every
   * method detkd has so far needs one, and the run says so when it is missing.
   */
  teacher: z
    .strictObject({
      /** The teacher's recipe: its architecture and input normalisation (its data is not used). */
      recipe: z.custom<DetectionRecipe>(isObject, {
        message: 'must be a recipe object (made with defineRecipe)',
      }),
      /**
       * A detkd checkpoint (last.safetensors), deliverable (model_*.safetensors) or plain
       * safetensors; or a PyTorch .pth with `format`.
       */
      checkpoint: z.string().min(1),
      /**
       * The parameter layout of a .pth checkpoint: 'torchvision' or 'mmdet' (mapped onto the
       * teacher recipe's detector, strictly; src/app/weights/mapping.ts). Ignored for safetensors.
       */
      format: z.enum(['torchvision', 'mmdet']).optional(),
    })
    .optional(),
  /** The distillation terms (may be empty, e.g. LAD only). */
  terms: z.custom<(p: DistillPair) => AnyTerm[]>(isFunction, {
    message: 'must be a function of the student/teacher pair returning the terms, e.g. (p) => [ld(p)]',
  }),
  /** Train the student on an assignment made from the teacher (LAD). */
  assignment: z
    .custom<(p: DistillPair) => TeacherAssignment>(isFunction, {
      message: 'must be a function of the student/teacher pair, e.g. (p) => ladAssignment(p)',
    })
    .optional(),
  /** Copy the teacher's neck and head into the student first (errors if shapes differ). */
  inherit: z.boolean().optional(),
});

export type DistillSpec = z.infer<typeof distillSectionSchema>;

export interface DistillRecipe extends DetectionRecipe {
  distill: DistillSpec;
}

export function defineDistillRecipe<R extends DistillRecipe>(r: R): R {
  return r;
}

export function isDistillRecipe(r: DetectionRecipe): r is DistillRecipe {
  const d: unknown = Reflect.get(r, 'distill');
  return d !== null && typeof d === 'object' && typeof Reflect.get(d, 'terms') === 'function';
}

/** The recipe's teacher; a DetkdError naming the recipe when it has none. */
export function teacherOf(r: DistillRecipe): NonNullable<DistillSpec['teacher']> {
  const t = r.distill.teacher;
  if (t === undefined) {
    throw new DetkdError(
      `recipe '${r.name}': distill.teacher is missing; every method in detkd so far distils from a teacher ({ recipe, checkpoint })`,
    );
  }
  return t;
}

/** The recipe without its distillation part: the baseline student it distils. */
export function baselineOf(r: DetectionRecipe): DetectionRecipe {
  if (!isDistillRecipe(r)) return r;
  const { distill: _drop, ...rest } = r;
  return rest;
}
