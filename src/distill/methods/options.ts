// The options of every method factory as strict zod schemas: the factories parse their argument
// with these (an unknown key names the nearest valid one, a wrong type the expected one, as recipe
// keys do), the options types are inferred from them, and the defaults live here once. This
// module loads no native code, so the schemas can be checked without libtorch.

import { parseStrict, z } from '../../core/schema.ts';
import type { Detector, DetectorFamily } from '../../detection/any-detector.ts';
import type { Gmm1dInit } from '../../detection/assigners/gmm.ts';
import type { PaaConfig } from '../../detection/assigners/paa.ts';
import type { Frozen } from '../frozen.ts';
import type { FgdConfig } from '../losses/fgd.ts';
import { termScheduleSchema } from '../term.ts';

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';

/**
 * The keys of the pair a recipe's `terms` function gets (DistillPair), so `ld(p)` and
 * `ld({ ...p, weight: 1 })` pass. A method whose pair carries more (CoLAD's trained second
 * network) adds its key here.
 */
const pairShape = {
  student: z.custom<Detector>(
    (v) => isObject(v) && typeof v.forward === 'function' && typeof v.detectorKind === 'string',
    { message: "must be the student detector (the pair's student)" },
  ),
  // Duck-typed: importing Frozen's class would load libtorch.
  teacher: z.custom<Frozen<Detector>>(
    (v) => isObject(v) && typeof v.peek === 'function' && typeof v.run === 'function',
    { message: "must be the frozen teacher (the pair's teacher; wrap a detector in new Frozen(model))" },
  ),
};

const weight = (d: number) => z.number().finite().nonnegative().default(d);
const positive = (d: number) => z.number().finite().positive().default(d);
const levels = z.array(z.number().int().nonnegative()).min(1).readonly().optional();
const schedule = termScheduleSchema.optional();
/** How feature terms pair FPN levels (methods/features.ts pairFpnLevels). */
const pairing = z.enum(['stride', 'index']).optional();

export const kdOptionsSchema = z.strictObject({
  ...pairShape,
  /** Reference 10. */
  weight: weight(10),
  /** Reference 2. */
  tau: positive(2),
  /** Every non-ignored prior instead of the positives. */
  dense: z.boolean().default(false),
  schedule,
});
export type KdOptions = z.input<typeof kdOptionsSchema>;

export const ldOptionsSchema = z.strictObject({
  ...pairShape,
  /** Main-region LD weight (reference 0.25). */
  weight: weight(0.25),
  /** VLR LD weight (reference 0.25; 0 turns the VLR off). */
  vlrWeight: weight(0.25),
  /** Temperature of the edge distributions (reference 10). */
  tau: positive(10),
  /** Images per GPU the reference weights were tuned at (2); see methods/ld.ts. */
  refImagesPerGpu: positive(2),
  schedule,
});
export type LdOptions = z.input<typeof ldOptionsSchema>;

/** PKD's weight when none is given, by the teacher's kind (the reference configs: 10 with dense teachers, 6 with R-CNN). */
export const PKD_DEFAULT_WEIGHT: Readonly<Record<DetectorFamily, number>> = { dense: 10, 'two-stage': 6 };

export const pkdOptionsSchema = z.strictObject({
  ...pairShape,
  /** Default by the teacher's kind: PKD_DEFAULT_WEIGHT (left undefined here so the factory can tell). */
  weight: z.number().finite().nonnegative().optional(),
  /** Student FPN levels by index (default: every level whose stride the teacher has). */
  levels,
  /** 'stride' (default) or 'index' (the reference; the student is resized where strides differ). */
  pairing,
  schedule,
});
export type PkdOptions = z.input<typeof pkdOptionsSchema>;

export const cwdFpnOptionsSchema = z.strictObject({
  ...pairShape,
  /** mmrazor's CWD configs: 10. */
  weight: weight(10),
  /** Reference 1. */
  tau: positive(1),
  /** Student FPN levels by index (default: every level whose stride the teacher has). */
  levels,
  /** 'stride' (default) or 'index' (index pairs must then share strides). */
  pairing,
  schedule,
});
export type CwdFpnOptions = z.input<typeof cwdFpnOptionsSchema>;

export const cwdClsOptionsSchema = z.strictObject({
  ...pairShape,
  /** mmrazor's GFL config: 5. */
  weight: weight(5),
  /** Reference 1. */
  tau: positive(1),
  schedule,
});
export type CwdClsOptions = z.input<typeof cwdClsOptionsSchema>;

const fgdConfigSchema = z.strictObject({
  temp: z.number().finite().positive(),
  alphaFgd: z.number().finite().nonnegative(),
  betaFgd: z.number().finite().nonnegative(),
  gammaFgd: z.number().finite().nonnegative(),
  lambdaFgd: z.number().finite().nonnegative(),
}) satisfies z.ZodType<FgdConfig>;

export const fgdOptionsSchema = z.strictObject({
  ...pairShape,
  /** One of FGD_ONE_STAGE (dense students' default), FGD_TWO_STAGE (two-stage students' default), FGD_REPPOINTS, FGD_FCOS, or your own. */
  config: fgdConfigSchema.optional(),
  /** Student FPN levels by index (default: dense student all, two-stage the first four; those whose stride the teacher has). */
  levels,
  /** 'stride' (default) or 'index' (index pairs must then share strides). */
  pairing,
  schedule,
});
export type FgdOptions = z.input<typeof fgdOptionsSchema>;

const pair = z.tuple([z.number(), z.number()]).readonly();
const gmmSchema = z.strictObject({
  weights: pair.optional(),
  means: pair.optional(),
  precisions: pair.optional(),
  regCovar: z.number().finite().nonnegative().optional(),
  tol: z.number().finite().positive().optional(),
  maxIter: z.number().int().positive().optional(),
}) satisfies z.ZodType<Gmm1dInit>;

const ladConfigSchema = z.strictObject({
  topk: z.number().int().positive().optional(),
  candidateIou: z.number().finite().optional(),
  alpha: z.number().finite().optional(),
  gamma: z.number().finite().optional(),
  giouWeight: z.number().finite().optional(),
  ignoreIofThr: z.number().finite().optional(),
  singleCandidate: z.enum(['keep', 'drop']).optional(),
  degenerateTol: z.number().finite().nonnegative().optional(),
  gmm: gmmSchema.optional(),
}) satisfies z.ZodType<PaaConfig>;

export const ladOptionsSchema = z.strictObject({
  ...pairShape,
  /** PAA's assignment options (defaults as PAA). */
  config: ladConfigSchema.optional(),
});
export type LadOptions = z.input<typeof ladOptionsSchema>;

/** Parses a factory's options; errors start with the factory's name, e.g. `ld(): unknown key ...`. */
export function parseOptions<S extends z.core.$ZodType>(schema: S, o: unknown, factory: string): z.output<S> {
  return parseStrict(schema, o, `${factory}()`);
}
