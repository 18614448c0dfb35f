// Trains one recipe (a plain detector or a distillation) with the generic Trainer and writes
// `result.json` beside the checkpoints: the final metrics, time per step, the student's parameters
// and MACs. `detkd train`, `detkd distill`, `detkd compare` and the demo all go through here, so
// a baseline and its distilled variants are built, seeded and measured the same way.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DetkdError } from '../core/errors.ts';
import { native } from '../core/native.ts';
import { manualSeed } from '../core/random.ts';
import type { Tensor } from '../core/tensor.ts';
import { emptyReason } from '../data/coco.ts';
import { DetectionLoader } from '../data/loader.ts';
import { evalTransforms, type ResizeSpec, trainTransforms } from '../data/transforms.ts';
import { type Detector, detectorLosses } from '../detection/any-detector.ts';
import { buildDetector } from '../detection/models/build.ts';
import { Distiller, inheritNeckAndHead } from '../distill/distiller.ts';
import { Frozen } from '../distill/frozen.ts';
import { describeTerm } from '../distill/term.ts';
import type { Batch } from '../structures/tensor-batch.ts';
import type { JsonValue } from '../train/checkpoint.ts';
import { detectionSource, type Metrics, type Task, type TrainContext } from '../train/task.ts';
import { type FitResult, Trainer } from '../train/trainer.ts';
import {
  describeReport,
  disposeMapped,
  isPthFile,
  loadDetectorWeights,
  readMappedPth,
} from './checkpoint-load.ts';
import { type DistillRecipe, isDistillRecipe, teacherOf } from './distill-recipe.ts';
import { evaluateDetector } from './evaluate.ts';
import { countDetectorMacs } from './model-info.ts';
import { type DetectionRecipe, prepareData, type RecipeDatasets } from './recipe.ts';
import { checkRunDir } from './run-dir.ts';
import type { WeightFormat } from './weights/mapping.ts';

export interface RunRecipeOptions {
  runDir: string;
  resume?: boolean;
  overwrite?: boolean;
  device?: string;
  /** Overrides the distill recipe's teacher checkpoint. */
  teacherCheckpoint?: string;
  /** The parameter layout of a .pth teacher (overrides the recipe's distill.teacher.format). */
  teacherFormat?: WeightFormat;
  /** Overrides recipe.train.seed (compare runs every arm with the same seeds). */
  seed?: number;
  log?: (s: string) => void;
  /** Stops training after the current step, writing last.safetensors (the CLI's Ctrl-C). */
  signal?: AbortSignal;
}

/** What `result.json` holds. */
export interface RunResult {
  recipe: string;
  seed: number;
  status: FitResult['status'];
  /** Metrics of the last evaluation (the end of training): what a comparison reports. */
  final: Metrics | null;
  best: { metric: string; value: number; epoch: number } | null;
  /** Median seconds per training iteration over the log windows (warm-up window excluded). */
  sPerIt: number | null;
  studentParams: number;
  /** Student MACs for one image at the recipe's input size. */
  studentMacs: number | null;
  teacher?: { checkpoint: string; params: number };
  terms?: string[];
}

/**
 * The recipe's detector. With `model.backbone.pretrained` (a .pth), the backbone starts from that
 * checkpoint (mapped strictly from `model.backbone.format`'s layout, the classifier ignored) and,
 * unless the recipe sets them, with frozenStages 1 and normEval true; `log` says so.
 * `o.pretrained: false` builds the same detector without reading the file (a teacher whose
 * checkpoint replaces every weight).
 */
export function detectorFor(
  recipe: DetectionRecipe,
  data: RecipeDatasets,
  o: { log?: (s: string) => void; pretrained?: boolean } = {},
): Detector {
  const n = data.train.categories.size;
  if (recipe.model.numClasses !== n) {
    throw new DetkdError(
      `recipe ${recipe.name}: model.numClasses is ${recipe.model.numClasses} but ${data.train.annFile} has ${n} categories`,
    );
  }
  const bb = recipe.model.backbone;
  if (bb.pretrained === undefined) {
    if (bb.format !== undefined) {
      throw new DetkdError(
        `recipe ${recipe.name}: model.backbone.format is set but model.backbone.pretrained is not (the checkpoint it describes)`,
      );
    }
    return buildDetector(recipe.model);
  }
  const path = bb.pretrained;
  const format = bb.format;
  if (format === undefined) {
    throw new DetkdError(
      `recipe ${recipe.name}: model.backbone.pretrained ${path} needs model.backbone.format ('torchvision' or 'mmdet': whose parameter names the file has)`,
    );
  }
  if (existsSync(path) && !isPthFile(path)) {
    throw new DetkdError(
      `recipe ${recipe.name}: model.backbone.pretrained ${path} is not a PyTorch checkpoint (.pth); a detkd safetensors file goes to --checkpoint or distill.teacher instead`,
    );
  }
  const defaults: string[] = [];
  if (bb.frozenStages === undefined) defaults.push('frozenStages 1 (stem and stage 1 frozen)');
  if (bb.normEval === undefined) defaults.push('normEval true (BN statistics kept)');
  const det = buildDetector({
    ...recipe.model,
    backbone: { ...bb, frozenStages: bb.frozenStages ?? 1, normEval: bb.normEval ?? true },
  });
  if (o.pretrained === false) return det;
  try {
    const mapped = readMappedPth(det.backbone, path, format, recipe.name);
    try {
      det.backbone.loadStateDict(mapped.stateDict, { strict: false });
    } finally {
      disposeMapped(mapped);
    }
    const log = o.log ?? (() => {});
    log(`  backbone: pretrained ${path} (${format} layout), loaded ${mapped.report.loaded} tensors`);
    for (const line of [...mapped.pthNotes, ...mapped.report.notes]) log(`    ${line}`);
    if (defaults.length > 0) {
      log(
        `    a pretrained backbone defaults to ${defaults.join(' and ')}; set them in model.backbone to change it`,
      );
    }
  } catch (e) {
    det.dispose();
    if (e instanceof DetkdError) {
      throw new DetkdError(`recipe ${recipe.name}: model.backbone.pretrained: ${e.message}`);
    }
    throw e;
  }
  return det;
}

/**
 * COCO metrics as the trainer logs them; with a two-stage detector's proposal recall, also
 * 'AR@100' and 'AR@1000' (mmdet's names for the RPN's class-agnostic recall).
 */
export function cocoMetrics(
  s: { [k: string]: number },
  proposals?: { metrics: Record<string, number> },
): Metrics {
  const out: Metrics = {};
  for (const k of ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100']) out[k] = s[k]!;
  if (proposals !== undefined) {
    for (const k of ['AR@100', 'AR@1000']) out[k] = proposals.metrics[k]!;
  }
  return out;
}

/** The input size MACs are counted at: the fixed size, or the short x max side for a ratio resize. */
function macsInput(resize: ResizeSpec | null): [number, number] | null {
  if (resize === null) return null;
  if (resize.kind === 'fixed') return [resize.height, resize.width];
  return null;
}

export function studentMacs(det: Detector, resize: ResizeSpec | null, device: string): number | null {
  const hw = macsInput(resize);
  if (hw === null) return null;
  const wasTraining = det.training;
  det.eval();
  try {
    return countDetectorMacs(det, hw, device).total;
  } finally {
    det.train(wasTraining);
  }
}

/**
 * Median s_per_it over the train records' windows in log.jsonl, without the first window (warm-up,
 * cache fill). The median, not the mean: a window slowed by another process on the machine (two
 * runs sharing 2 cores) does not move it.
 */
export function medianStepTime(runDir: string): number | null {
  const path = join(runDir, 'log.jsonl');
  if (!existsSync(path)) return null;
  const xs: number[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{"type":"train"')) continue;
    try {
      const r = JSON.parse(line) as { s_per_it?: number };
      if (typeof r.s_per_it === 'number') xs.push(r.s_per_it);
    } catch {
      // a torn last line of an interrupted run
    }
  }
  const use = (xs.length > 2 ? xs.slice(1) : xs).sort((a, b) => a - b);
  if (use.length === 0) return null;
  const h = use.length >> 1;
  return use.length % 2 === 1 ? use[h]! : (use[h - 1]! + use[h]!) / 2;
}

/**
 * Builds the frozen teacher of a distill recipe from its checkpoint: detkd safetensors, or a
 * PyTorch .pth in `format`'s layout (default the recipe's distill.teacher.format), whose mmdet
 * class names must be the training set's.
 */
export function loadTeacher(
  r: DistillRecipe,
  data: RecipeDatasets,
  checkpoint: string,
  device: string,
  log: (s: string) => void,
  format?: WeightFormat,
): Frozen<Detector> {
  const spec = teacherOf(r);
  const tr = spec.recipe;
  const teacher = detectorFor(tr, data, { pretrained: false });
  if (device !== 'cpu') teacher.to(device);
  const fmt = format ?? spec.format;
  const info = loadDetectorWeights(teacher, checkpoint, tr, {
    device,
    ...(fmt ? { format: fmt } : {}),
    formatHint: `add --teacher-format torchvision|mmdet to 'detkd distill' (or format: 'torchvision' | 'mmdet' in the recipe's distill.teacher)`,
    classes: data.train.categories.categories.map((c) => c.name),
  });
  if (info.report !== undefined) {
    log(`  teacher weights: ${checkpoint} (${fmt} layout)`);
    for (const line of describeReport(info.report)) log(`    ${line}`);
  }
  for (const n of info.notes) log(`  note: ${n}`);
  return new Frozen(teacher);
}

/** Refuses a train set with no image or no box, or too few images for one batch, and an empty val set. */
function checkTrainable(data: RecipeDatasets, batchSize: number): void {
  const why = emptyReason(data.train) ?? emptyReason(data.val, false);
  if (why !== null) throw new DetkdError(why);
  if (data.train.length < batchSize) {
    throw new DetkdError(
      `${data.train.annFile}: ${data.train.length} usable image(s), fewer than data.batchSize (${batchSize}): an epoch would have no step`,
    );
  }
}

/** Trains `recipe` into `o.runDir` and writes result.json there. */
export async function runRecipe(recipe: DetectionRecipe, o: RunRecipeOptions): Promise<RunResult> {
  const log = o.log ?? console.log;
  const device = o.device ?? 'cpu';
  const seed = o.seed ?? recipe.train.seed ?? 0;
  // Before the data and the model: a refused run directory should not cost a dataset load.
  checkRunDir(o.runDir, o, log);
  const data = await prepareData(recipe, log);
  checkTrainable(data, recipe.data.batchSize);
  log(
    `  train ${data.train.length} images, val ${data.val.length} images, ${data.train.categories.size} classes`,
  );
  // The initial weights come from the global generator: seed it before building, so a recipe and
  // seed give the same run every time, and a baseline and its distilled variants start from the
  // same student weights (the student is built first; teacher and adapters after it).
  manualSeed(seed);
  const student = detectorFor(recipe, data, { log });
  if (device !== 'cpu') student.to(device);
  const params = student.numParameters();
  const macs = studentMacs(student, recipe.data.resize, device);
  log(
    `  student: ${recipe.model.kind}, ${(params / 1e6).toFixed(2)} M parameters${macs === null ? '' : `, ${(macs / 1e9).toFixed(3)} GMACs/image`}`,
  );

  let module: Detector | Distiller = student;
  let losses: (b: Batch, ctx: TrainContext) => Record<string, Tensor> = (b) => detectorLosses(student, b);
  let teacherInfo: RunResult['teacher'];
  let termNames: string[] | undefined;
  let teacherName: string | undefined;
  if (isDistillRecipe(recipe)) {
    const spec = teacherOf(recipe);
    teacherName = spec.recipe.name;
    const ckpt = o.teacherCheckpoint ?? spec.checkpoint;
    const teacher = loadTeacher(recipe, data, ckpt, device, log, o.teacherFormat);
    teacherInfo = { checkpoint: ckpt, params: teacher.numParameters() };
    log(
      `  teacher: ${teacherName} from ${ckpt}, ${(teacherInfo.params / 1e6).toFixed(2)} M parameters (frozen)`,
    );
    if (recipe.distill.inherit) {
      const n = inheritNeckAndHead(student, teacher);
      log(`  inherit: copied ${n} neck/head tensors from the teacher`);
    }
    const pair = { student, teacher };
    const terms = recipe.distill.terms(pair);
    const d = new Distiller({
      student,
      teacher,
      terms,
      ...(recipe.distill.assignment ? { assignment: recipe.distill.assignment(pair) } : {}),
    });
    if (device !== 'cpu') d.to(device);
    termNames = terms.map((t) => t.name);
    const extra = d.numParameters() - params;
    log(
      `  distill: ${terms.length > 0 ? terms.map(describeTerm).join(' + ') : 'no loss terms'}${recipe.distill.assignment ? ' + teacher assignment (LAD)' : ''}${extra > 0 ? `; ${extra} trainable distillation parameters (not exported)` : ''}`,
    );
    module = d;
    losses = (b, ctx) => d.losses(b, ctx);
  }

  const dcfg = recipe.data;
  const loader = new DetectionLoader(data.train, {
    batchSize: dcfg.batchSize,
    transforms: dcfg.augment === false ? evalTransforms(dcfg.resize) : trainTransforms(dcfg.resize),
    seed,
    numWorkers: dcfg.numWorkers ?? 1,
    dropLast: true,
    cacheBytes: (dcfg.cacheMB ?? 1024) * 2 ** 20,
  });
  const task: Task<Batch> = {
    module,
    losses,
    evaluate: async () => {
      const e = await evaluateDetector(student, data.val, {
        resize: dcfg.resize,
        batchSize: dcfg.batchSize,
        device,
      });
      const ar = e.proposals
        ? `, AR@100 ${(e.proposals.AR100 * 100).toFixed(1)}, AR@1000 ${(e.proposals.AR1000 * 100).toFixed(1)}`
        : '';
      log(
        `  eval: AP ${(e.coco.stats.AP * 100).toFixed(1)}, AP50 ${(e.coco.stats.AP50 * 100).toFixed(1)}${ar} (${e.imagesPerSecond.toFixed(1)} img/s)`,
      );
      return cocoMetrics({ ...e.coco.stats }, e.proposals);
    },
    exportModule: () => student,
  };
  const stored = JSON.parse(
    JSON.stringify({
      ...recipe,
      train: { ...recipe.train, seed },
      ...(data.synthHash ? { synthHash: data.synthHash } : {}),
      ...(termNames
        ? { distill: { teacher: teacherName, checkpoint: teacherInfo?.checkpoint, terms: termNames } }
        : {}),
    }),
  ) as JsonValue;
  const trainer = new Trainer(task, detectionSource(loader, device), {
    ...recipe.train,
    seed,
    best: recipe.train.best ?? { metric: 'AP' },
    runDir: o.runDir,
    resume: o.resume ?? false,
    overwrite: o.overwrite ?? false,
    recipe: stored,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  let fit: FitResult;
  try {
    fit = await trainer.fit();
  } finally {
    await loader.close();
    module.dispose();
    // Hand the cached blocks of this run back, so the next run in this process (compare) starts
    // from the state a fresh process would.
    native.emptyCache();
  }
  const last = fit.history[fit.history.length - 1];
  const result: RunResult = {
    recipe: recipe.name,
    seed,
    status: fit.status,
    final: last ? { ...last.metrics } : null,
    best: fit.best ? { metric: 'AP', value: fit.best.value, epoch: fit.best.epoch } : null,
    sPerIt: medianStepTime(o.runDir),
    studentParams: params,
    studentMacs: macs,
    ...(teacherInfo ? { teacher: teacherInfo } : {}),
    ...(termNames ? { terms: termNames } : {}),
  };
  if (fit.status === 'finished') {
    const tmp = join(o.runDir, 'result.json.tmp');
    writeFileSync(tmp, `${JSON.stringify(result, null, 2)}\n`);
    renameSync(tmp, join(o.runDir, 'result.json'));
  }
  log(
    `done (${fit.status}): ${last ? `AP ${(Number(last.metrics.AP) * 100).toFixed(1)}` : 'no evaluation'}; run dir ${fit.runDir}`,
  );
  return result;
}
