// detkd's public API: `import { defineRecipe, ld, kd, tensor } from 'detkd'` (package.json
// `exports` points here). These are the very modules the CLI runs, not a copy: a tensor made in a
// recipe is an instance of the CLI's Tensor. Importing this module loads libtorch; a recipe that
// should be checked without it imports 'detkd/app/recipe' alone.
//
// Grouped by layer: app (recipes, running, evaluation), core (tensors, scopes, random state,
// errors, schemas), detection (building detectors, their config schema), distill (the seam and
// the method factories), train (the Trainer and its options schema), and data, nn, structures
// and train as namespaces.
export * from './app/distill-recipe.ts';
export { type EvaluateOptions, evaluateDetector } from './app/evaluate.ts';
export * from './app/recipe.ts';
export { type RunRecipeOptions, type RunResult, runRecipe } from './app/run-recipe.ts';
export type { DType, Scalar } from './core/dtype.ts';
export { DetkdError } from './core/errors.ts';
export { Generator, getRngState, manualSeed, setDeterministic, setRngState } from './core/random.ts';
export { parseStrict, z } from './core/schema.ts';
export { dispose, enableGrad, isGradEnabled, keep, memoryInfo, noGrad, tidy } from './core/scope.ts';
export { loadStateDictFile, saveStateDict } from './core/serialize.ts';
export {
  arange,
  type CreateOptions,
  cat,
  type Device,
  DisposedTensorError,
  einsum,
  empty,
  eye,
  full,
  fullLike,
  linspace,
  maximum,
  meshgrid,
  minimum,
  ones,
  onesLike,
  type RandomOptions,
  type Reduction,
  rand,
  randint,
  randn,
  randperm,
  scalar,
  stack,
  Tensor,
  type TensorOrScalar,
  tensor,
  where,
  zeros,
  zerosLike,
} from './core/tensor.ts';
export * as data from './data/index.ts';
export * from './detection/any-detector.ts';
export { DenseDetector, IMAGENET_MEAN, IMAGENET_STD } from './detection/detector.ts';
export { buildDetector } from './detection/models/build.ts';
export * from './detection/models/config.ts';
export * from './detection/models/faster-rcnn-presets.ts';
export {
  TwoStageDetector,
  type TwoStageDetectorOptions,
  type TwoStageForward,
  type TwoStageGt,
  type TwoStageLosses,
} from './detection/two-stage.ts';
export * from './distill/distiller.ts';
export * from './distill/frozen.ts';
export * from './distill/methods/features.ts';
export * from './distill/methods/kd.ts';
export * from './distill/methods/lad.ts';
export * from './distill/methods/ld.ts';
export * from './distill/term.ts';
export { type PthFile, readPth } from './interop/pth.ts';
export * as nn from './nn/index.ts';
export * as structures from './structures/index.ts';
export * from './train/config.ts';
export * as train from './train/index.ts';
export { type FitResult, NonFiniteError, Trainer } from './train/trainer.ts';
