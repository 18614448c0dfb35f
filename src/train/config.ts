// The Trainer's options as a zod schema: TrainerOptions is inferred from it, and a recipe's `train`
// section (RecipeTrain: the options minus what the command line and the runner supply) is checked
// with it at load. No runtime import beyond zod, so a recipe is checked before libtorch loads.
// Shapes owned by other modules (LrScheduleSpec, SgdOptions, AdamWOptions, ProgressMode) are
// restated here; the `Same` checks at the end fail to compile when either side drifts.
import { type Same, z } from '../core/schema.ts';
import type { AdamWOptions } from '../nn/optim/adamw.ts';
import type { LrRule, LrScheduleSpec, Warmup } from '../nn/optim/lr-schedule.ts';
import type { SgdOptions } from '../nn/optim/sgd.ts';
import type { JsonValue } from './checkpoint.ts';
import type { ProgressMode, ProgressStream } from './progress.ts';

const lrRuleSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('fixed') }),
  z.strictObject({
    kind: z.literal('multistep'),
    milestones: z.array(z.number()).readonly(),
    gamma: z.number().optional(),
    minLr: z.number().optional(),
  }),
  z.strictObject({
    kind: z.literal('cosine'),
    total: z.number().positive(),
    minLr: z.number().optional(),
    minLrRatio: z.number().optional(),
  }),
]);

export const lrScheduleSchema = z.strictObject({
  rule: lrRuleSchema,
  /** Regular lr steps per epoch (milestones and total in epochs) or per iteration. */
  byEpoch: z.boolean(),
  warmup: z
    .strictObject({
      kind: z.enum(['linear', 'constant', 'exp']).optional(),
      /** Warm-up length in iterations. */
      iters: z.number().int().positive(),
      /** Factor at iteration 0 (mmcv's warmup_ratio). */
      ratio: z.number(),
    })
    .optional(),
});

/** Which parameters skip weight decay (see nn's decayGroups); default: norms and biases. */
const decayChoice = {
  normDecay: z.boolean().optional(),
  biasDecay: z.boolean().optional(),
};

const sgdSchema = z.strictObject({
  kind: z.literal('sgd'),
  lr: z.number().nonnegative(),
  weightDecay: z.number().nonnegative().optional(),
  momentum: z.number().nonnegative().optional(),
  dampening: z.number().optional(),
  nesterov: z.boolean().optional(),
  ...decayChoice,
});

const adamwSchema = z.strictObject({
  kind: z.literal('adamw'),
  lr: z.number().nonnegative(),
  weightDecay: z.number().nonnegative().optional(),
  betas: z.tuple([z.number(), z.number()]).readonly().optional(),
  eps: z.number().optional(),
  amsgrad: z.boolean().optional(),
  ...decayChoice,
});

/** The optimizer, built over decayGroups(task.module) (+ extraParams in the decay group). */
export const optimizerSchema = z.discriminatedUnion('kind', [sgdSchema, adamwSchema]);
export type OptimizerSpec = z.infer<typeof optimizerSchema>;

const count = z.number().int().positive();

export const trainerOptionsSchema = z.strictObject({
  /** Where checkpoints, deliverables and log.jsonl go (created). Layout: checkpoint.ts. */
  runDir: z.string(),
  /** Length of the run in epochs ... */
  epochs: count.optional(),
  /** ... or in iterations (exactly one of the two). Epoch boundaries still trigger evaluation. */
  iters: count.optional(),
  optimizer: optimizerSchema,
  /** Warm-up + regular schedule (default: fixed lr). */
  lr: lrScheduleSchema
    .describe('the lr schedule ({ rule, byEpoch, warmup }); the base lr is optimizer.lr')
    .optional(),
  /** Gradient clipping by global norm (e.g. `{ maxNorm: 35 }`, mmdetection's usual). */
  clipGrad: z.strictObject({ maxNorm: z.number().positive(), normType: z.number().optional() }).optional(),
  /** Evaluate every N epochs (default 1), and always at the end, when the task can evaluate. */
  evalInterval: count.optional(),
  /** The metric that selects `best` (default mode 'max', e.g. AP). */
  best: z.strictObject({ metric: z.string(), mode: z.enum(['max', 'min']).optional() }).optional(),
  /** Seeds the global generator at the start of a fresh run (default 0). */
  seed: z.number().int().optional(),
  /** Turns on ATen's deterministic algorithms (setDeterministic). */
  deterministic: z.boolean().optional(),
  /** Continue from `<runDir>/last.safetensors` when it exists (else start fresh). */
  resume: z.boolean().optional(),
  /** Start fresh even though `last.safetensors` exists (it is overwritten). Default false: error. */
  overwrite: z.boolean().optional(),
  /** Stored verbatim in every checkpoint and deliverable (e.g. the recipe's config). */
  recipe: z.custom<JsonValue>(() => true).optional(),
  /** Print and log every N iterations (default 50), and at each epoch end. */
  logInterval: count.optional(),
  /** Also write `last` every N iterations (default: only at epoch ends, stops and the end). */
  checkpointInterval: count.optional(),
  /** 'auto' (default): a bar on a TTY, plain lines otherwise. */
  progress: z.enum(['auto', 'bar', 'lines', 'off']).optional(),
  /** Where progress goes (default process.stdout). */
  out: z
    .custom<ProgressStream>(
      (v) => v !== null && typeof v === 'object' && typeof Reflect.get(v, 'write') === 'function',
      { params: { expected: 'a stream (an object with a write(s) method)' } },
    )
    .optional(),
  /** Stop with an error at the first non-finite loss or gradient norm (default true). */
  nanGuard: z.boolean().optional(),
  /** Stops the run (after the current iteration; `last` is written) when aborted. */
  signal: z
    .custom<AbortSignal>((v) => v instanceof AbortSignal, { params: { expected: 'an AbortSignal' } })
    .optional(),
  /** Stops the run before iteration `stopAtIter` (0-based), writing `last` (tests, time slices). */
  stopAtIter: z.number().int().nonnegative().optional(),
});

export type TrainerOptions = z.infer<typeof trainerOptionsSchema>;

/** A recipe's `train` section: the Trainer's options less what the run supplies. */
export const recipeTrainSchema = trainerOptionsSchema.omit({
  runDir: true,
  out: true,
  signal: true,
  recipe: true,
  resume: true,
  overwrite: true,
  stopAtIter: true,
});

export type RecipeTrain = z.infer<typeof recipeTrainSchema>;

// Drift checks: each line stops compiling when the restated shape and the owner's type disagree.
true satisfies Same<z.infer<typeof lrScheduleSchema>, LrScheduleSpec>;
true satisfies Same<NonNullable<z.infer<typeof lrScheduleSchema>['warmup']>, Warmup>;
true satisfies Same<z.infer<typeof lrRuleSchema>, LrRule>;
true satisfies Same<Omit<z.infer<typeof sgdSchema>, 'kind' | keyof typeof decayChoice>, SgdOptions>;
true satisfies Same<Omit<z.infer<typeof adamwSchema>, 'kind' | keyof typeof decayChoice>, AdamWOptions>;
true satisfies Same<Exclude<TrainerOptions['progress'], undefined>, 'auto' | ProgressMode>;
