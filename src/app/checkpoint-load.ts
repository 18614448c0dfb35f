// Loading a trained detector for `detkd eval --recipe`, `detkd predict` (and whatever runs a
// trained model from the command line): the recipe's class list and a checkpoint's weights, with
// errors a user can act on (which file, which keys, which shapes) instead of stack traces.
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { DetkdError } from '../core/errors.ts';
import { loadStateDictFile } from '../core/serialize.ts';
import { dispose, type Tensor } from '../core/tensor.ts';
import { type CategoryInfo, CategoryMap } from '../data/categories.ts';
import { type CocoDataset, loadCoco } from '../data/coco.ts';
import type { Detector } from '../detection/any-detector.ts';
import type { ResNet } from '../detection/backbones/resnet.ts';
import { readPth } from '../interop/pth.ts';
import type { Module } from '../nn/module.ts';
import { CHECKPOINT_FORMAT, MODEL_FORMAT } from '../train/checkpoint.ts';
import { type DetectionRecipe, prepareData, synthDir } from './recipe.ts';
import { type MappingReport, mapWeights, mmdetConventions, type WeightFormat } from './weights/mapping.ts';

/** What kind of file a checkpoint was: by its `format` metadata, or a PyTorch `.pth` ('pth'). */
export type CheckpointKind = 'checkpoint' | 'model' | 'plain' | 'pth';

export interface LoadedCheckpoint {
  path: string;
  /** 'checkpoint': resumable (model tensors under `model.`); 'model': a deliverable; 'plain': no detkd metadata. */
  kind: CheckpointKind;
  /** The recipe name stored in the file, when there is one. */
  recipeName: string | null;
  detkdVersion: string | null;
  /** Things worth telling the user that did not stop the load (another recipe's weights that fit). */
  notes: string[];
  /** A `.pth` file's mapping report (what was loaded, left out, not filled). */
  report?: MappingReport;
}

/** How many keys each list shows in an error message. */
const SHOW = 3;

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function listSome<T>(items: readonly T[], show: (x: T) => string): string {
  const head = items.slice(0, SHOW).map(show).join(', ');
  return items.length > SHOW ? `${head} and ${items.length - SHOW} more` : head;
}

/** JSON with sorted object keys, so configs compare equal whatever the key order. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(Reflect.get(v, k))}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * "gfl, 13 classes, ResNet-18 x0.25, 32 channels" or "faster-rcnn (mmdet preset), 13 classes,
 * ResNet-18 x0.25, FPN 32 P2-P5" from a recipe's model config (any JSON: a stored recipe may be
 * of another detkd version).
 */
export function describeModel(model: unknown): string {
  if (model === null || typeof model !== 'object') return 'unknown model';
  const get = (o: unknown, k: string): unknown =>
    o !== null && typeof o === 'object' ? Reflect.get(o, k) : undefined;
  const bb = get(model, 'backbone');
  const wm = get(bb, 'widthMultiplier');
  const kind = String(get(model, 'kind') ?? '?');
  const classes = `${String(get(model, 'numClasses') ?? '?')} classes`;
  const backbone = `ResNet-${String(get(bb, 'depth') ?? '?')}${typeof wm === 'number' && wm !== 1 ? ` x${wm}` : ''}`;
  const channels = String(get(model, 'channels') ?? '?');
  if (kind === 'faster-rcnn') {
    // The schema's defaults: the mmdet preset, P2..P6.
    const preset = get(model, 'preset');
    const levels = get(model, 'levels');
    const first = typeof get(levels, 'first') === 'number' ? (get(levels, 'first') as number) : 2;
    const count = typeof get(levels, 'count') === 'number' ? (get(levels, 'count') as number) : 5;
    return [
      `faster-rcnn (${typeof preset === 'string' ? preset : 'mmdet'} preset)`,
      classes,
      backbone,
      `FPN ${channels} P${first}-P${first + count - 1}`,
    ].join(', ');
  }
  return [kind, classes, backbone, `${channels} channels`].join(', ');
}

/** 'dense' or 'two-stage' from a model config's kind (any JSON); null without a kind. */
function familyOf(model: unknown): 'dense' | 'two-stage' | null {
  const kind = model !== null && typeof model === 'object' ? Reflect.get(model, 'kind') : undefined;
  if (typeof kind !== 'string') return null;
  return kind === 'faster-rcnn' ? 'two-stage' : 'dense';
}

interface StoredRecipe {
  name: string | null;
  model: unknown;
}

function storedRecipe(text: string | undefined): StoredRecipe | null {
  if (text === undefined) return null;
  try {
    const r: unknown = JSON.parse(text);
    if (r === null || typeof r !== 'object') return null;
    const name: unknown = Reflect.get(r, 'name');
    return { name: typeof name === 'string' ? name : null, model: Reflect.get(r, 'model') };
  } catch {
    return null;
  }
}

export interface LoadWeightsOptions {
  device?: string;
  /**
   * The parameter layout of a PyTorch `.pth` file ('torchvision' or 'mmdet'): required for one,
   * ignored for safetensors (detkd's own names).
   */
  format?: WeightFormat;
  /** How the refusal of a `.pth` without a format names the way to give one (a flag, a recipe field). */
  formatHint?: string;
  /**
   * The recipe's class names in label order: checked against an mmdetection checkpoint's class
   * names (meta.CLASSES or meta.dataset_meta.classes) when it has them.
   */
  classes?: readonly string[];
}

const PTH_EXTENSIONS = new Set(['.pth', '.pt', '.ckpt', '.bin']);

/**
 * Whether `path` is a PyTorch checkpoint rather than safetensors: by its extension (.pth, .pt,
 * .ckpt, .bin) or its first bytes (a zip archive, or the legacy format's pickle header). Neither
 * can start a safetensors file, whose first 8 bytes are a small little-endian header length.
 */
export function isPthFile(path: string): boolean {
  if (PTH_EXTENSIONS.has(extname(path).toLowerCase())) return true;
  const head = Buffer.alloc(4);
  let n = 0;
  try {
    const fd = openSync(path, 'r');
    try {
      n = readSync(fd, head, 0, 4, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
  if (n < 4) return false;
  const zip = head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
  // PROTO 2, LONG1 of 10 bytes: the legacy format's magic number
  const legacy = head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a && head[3] === 0x0a;
  return zip || legacy;
}

/** An mmdetection checkpoint's class names (2.x meta.CLASSES, 3.x meta.dataset_meta.classes), or null. */
export function checkpointClasses(meta: unknown): string[] | null {
  const get = (o: unknown, k: string): unknown =>
    o !== null && typeof o === 'object' && !Array.isArray(o) ? Reflect.get(o, k) : undefined;
  for (const v of [get(meta, 'CLASSES'), get(get(meta, 'dataset_meta'), 'classes')]) {
    if (Array.isArray(v) && v.length > 0 && v.every((c) => typeof c === 'string')) return v as string[];
  }
  return null;
}

/** Refuses a checkpoint whose class names are not the recipe's (same names, same order). */
export function checkClasses(
  path: string,
  fileClasses: readonly string[] | null,
  recipeClasses: readonly string[] | undefined,
  recipeName: string,
): void {
  if (fileClasses === null || recipeClasses === undefined) return;
  if (fileClasses.length === recipeClasses.length && fileClasses.every((c, i) => c === recipeClasses[i]))
    return;
  const show = (xs: readonly string[]) =>
    `[${xs
      .slice(0, 20)
      .map((x) => `'${x}'`)
      .join(', ')}${xs.length > 20 ? `, ... ${xs.length - 20} more` : ''}]`;
  throw new DetkdError(
    `checkpoint ${path} was trained on ${fileClasses.length} classes ${show(fileClasses)}, but recipe '${recipeName}' has ${recipeClasses.length} classes ${show(recipeClasses)}: the detector's labels would mean other classes (the names and their order must match)`,
  );
}

function checkFile(path: string): void {
  if (!existsSync(path)) throw new DetkdError(`checkpoint ${path}: file not found`);
  if (statSync(path).isDirectory()) {
    throw new DetkdError(
      `checkpoint ${path}: is a directory; pass a file such as ${join(path, 'model_best.safetensors')} or ${join(path, 'last.safetensors')}`,
    );
  }
}

function isDetector(m: Module): m is Detector {
  const kind: unknown = Reflect.get(m, 'detectorKind');
  return kind === 'dense' || kind === 'two-stage';
}

/**
 * A `.pth` file's state dict mapped onto `target` (a detector, or a bare ResNet backbone) from
 * `format`'s layout, strictly (src/app/weights/mapping.ts): a DetkdError listing every key that
 * does not fit. mmdetection class names in the file are checked against `opts.classes`. The
 * caller owns `stateDict` (dispose it with `disposeMapped`).
 */
export function readMappedPth(
  target: Detector | ResNet,
  path: string,
  format: WeightFormat,
  recipeName: string,
  opts: { classes?: readonly string[] } = {},
): {
  stateDict: Map<string, Tensor>;
  report: MappingReport;
  source: Map<string, Tensor>;
  pthNotes: string[];
} {
  checkFile(path);
  const pth = readPth(path);
  try {
    checkClasses(path, checkpointClasses(pth.meta), opts.classes, recipeName);
    const { stateDict, report } = mapWeights(target, pth.tensors, format, {
      what: path,
      ...(format === 'mmdet' ? mmdetConventions(pth.meta) : {}),
    });
    return { stateDict, report, source: pth.tensors, pthNotes: pth.notes };
  } catch (e) {
    dispose([...pth.tensors.values()]);
    throw e;
  }
}

/** Frees what readMappedPth returned (mapped tensors may be the source's own). */
export function disposeMapped(m: { stateDict: Map<string, Tensor>; source: Map<string, Tensor> }): void {
  dispose([...new Set([...m.stateDict.values(), ...m.source.values()])]);
}

/** One line per mapping: how many tensors loaded, and what was left on either side. */
export function describeReport(r: MappingReport): string[] {
  const some = (xs: readonly string[]) => listSome(xs, (x) => x);
  return [
    `loaded ${r.loaded} tensors`,
    `unused source keys: ${r.unusedSource.length === 0 ? 'none' : `${r.unusedSource.length} (${some(r.unusedSource)})`}`,
    `unfilled parameters: ${r.unfilledTarget.length === 0 ? 'none' : `${r.unfilledTarget.length} (${some(r.unfilledTarget)})`}`,
    ...r.notes,
  ];
}

/**
 * Loads a detector's weights from `path` into `model` (already on its device), whatever the file:
 *  - a PyTorch `.pth` (by extension or content): read without running anything (src/interop/pth.ts)
 *    and mapped from `opts.format`'s layout ('torchvision' | 'mmdet'), strictly; refused without a
 *    format, with `opts.formatHint` saying how to give one;
 *  - safetensors: a resumable checkpoint (`detkd.checkpoint/1`, tensors under `model.`), a
 *    deliverable (`detkd.model/1`, plain keys) or a file without detkd metadata (plain keys).
 *
 * Every mismatch (missing or unexpected keys, shapes, dtypes) is collected and reported in one
 * DetkdError naming the file, the first few keys of each kind with their shapes, and the recipe
 * the file was saved with when that differs from `recipe`. Nothing is loaded on error.
 */
export function loadDetectorWeights(
  model: Module,
  path: string,
  recipe: Pick<DetectionRecipe, 'name' | 'model'>,
  opts: LoadWeightsOptions = {},
): LoadedCheckpoint {
  checkFile(path);
  if (!isPthFile(path)) return loadSafetensors(model, path, recipe, opts);
  if (opts.format === undefined) {
    throw new DetkdError(
      `checkpoint ${path} is a PyTorch checkpoint, and loading one needs its parameter layout (torchvision or mmdet): ${opts.formatHint ?? `convert it first with 'detkd convert ${path} --from torchvision|mmdet --recipe RECIPE --out OUT.safetensors'`}`,
    );
  }
  if (!isDetector(model)) throw new TypeError('loadDetectorWeights: a .pth file loads into a Detector only');
  const mapped = readMappedPth(model, path, opts.format, recipe.name, {
    ...(opts.classes ? { classes: opts.classes } : {}),
  });
  try {
    // mapWeights checked every name and shape; strict: false lets BN step counters that the
    // detector's norms ignore through.
    model.loadStateDict(mapped.stateDict, { strict: false });
  } finally {
    disposeMapped(mapped);
  }
  return {
    path,
    kind: 'pth',
    recipeName: null,
    detkdVersion: null,
    notes: mapped.pthNotes,
    report: mapped.report,
  };
}

/** loadDetectorWeights under the name eval and predict call it by. */
export const loadDetectorCheckpoint = loadDetectorWeights;

function loadSafetensors(
  model: Module,
  path: string,
  recipe: Pick<DetectionRecipe, 'name' | 'model'>,
  opts: { device?: string } = {},
): LoadedCheckpoint {
  let file: { tensors: Map<string, Tensor>; metadata: Record<string, string> };
  try {
    file = loadStateDictFile(path, opts.device === undefined ? {} : { device: opts.device });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new DetkdError(
      `checkpoint ${path}: cannot read it as a safetensors file (${msg.startsWith(path) ? msg.slice(path.length + 2) : msg}); is it a complete file written by detkd train?`,
    );
  }
  const { tensors, metadata } = file;
  try {
    const format = metadata.format;
    let kind: CheckpointKind;
    const weights = new Map<string, Tensor>();
    if (format === CHECKPOINT_FORMAT) {
      kind = 'checkpoint';
      for (const [k, t] of tensors) if (k.startsWith('model.')) weights.set(k.slice('model.'.length), t);
      if (weights.size === 0) {
        throw new DetkdError(`checkpoint ${path}: a detkd checkpoint without any 'model.*' tensors`);
      }
    } else if (format === MODEL_FORMAT || format === undefined) {
      kind = format === undefined ? 'plain' : 'model';
      for (const [k, t] of tensors) weights.set(k, t);
    } else {
      throw new DetkdError(
        `checkpoint ${path}: format '${format}' is not one detkd reads (expected '${CHECKPOINT_FORMAT}' or '${MODEL_FORMAT}')`,
      );
    }
    const stored = storedRecipe(metadata.recipe);
    const otherRecipe =
      stored !== null &&
      stored.model !== undefined &&
      canonical(stored.model) !== canonical(JSON.parse(JSON.stringify(recipe.model)));
    const savedWith =
      stored === null ? '' : `recipe '${stored.name ?? '?'}' (${describeModel(stored.model)})`;

    // Compare shapes ourselves: Module.loadStateDict lists every problem, which for a checkpoint of
    // another architecture is hundreds of lines; one paragraph with the first few says as much.
    const live = model.stateDict();
    const mismatched: string[] = [];
    const missing: string[] = [];
    try {
      for (const [k, dst] of live) {
        const src = weights.get(k);
        if (src === undefined) missing.push(`'${k}' ${fmtShape(dst.shape)}`);
        else if (src.shape.length !== dst.shape.length || src.shape.some((d, i) => d !== dst.shape[i])) {
          mismatched.push(`'${k}' checkpoint ${fmtShape(src.shape)} vs model ${fmtShape(dst.shape)}`);
        } else if (src.dtype !== dst.dtype && !(halfStorage(src.dtype) && dst.dtype === 'float32')) {
          mismatched.push(`'${k}' checkpoint ${src.dtype} vs model ${dst.dtype}`);
        }
      }
    } finally {
      dispose([...live.values()]);
    }
    // Keys the model does not have, minus the ones it ignores by design (FrozenBatchNorm's
    // num_batches_tracked): loadStateDict with only those keys copies nothing and lists them.
    const extra = new Map([...weights].filter(([k]) => !live.has(k)));
    const unexpected = extra.size === 0 ? [] : model.loadStateDict(extra, { strict: false }).unexpected;
    if (missing.length + mismatched.length + unexpected.length > 0) {
      const problems: string[] = [];
      if (mismatched.length > 0)
        problems.push(`${mismatched.length} shape mismatch(es): ${listSome(mismatched, (s) => s)}`);
      if (missing.length > 0)
        problems.push(`${missing.length} missing key(s): ${listSome(missing, (s) => s)}`);
      if (unexpected.length > 0) {
        problems.push(
          `${unexpected.length} unexpected key(s): ${listSome(unexpected, (k) => `'${k}' ${fmtShape(weights.get(k)?.shape ?? [])}`)}`,
        );
      }
      const fromFamily = stored === null ? null : familyOf(stored.model);
      const toFamily = familyOf(recipe.model);
      const family =
        fromFamily !== null && toFamily !== null && fromFamily !== toFamily
          ? ` (a ${fromFamily} detector's weights cannot load into a ${toFamily} one)`
          : '';
      const why = otherRecipe
        ? ` The file was saved by ${savedWith}, but recipe '${recipe.name}' builds ${describeModel(recipe.model)}${family}: pass the recipe it was trained with.`
        : stored === null
          ? ' The file has no recipe metadata; check that it holds weights of this detector.'
          : ` Check that --checkpoint belongs to recipe '${recipe.name}'.`;
      throw new DetkdError(
        `checkpoint ${path} does not fit recipe '${recipe.name}' (${kind === 'checkpoint' ? 'resumable checkpoint' : kind === 'model' ? 'model file' : 'plain safetensors'}, ${weights.size} tensors; model ${model.constructor.name} has ${live.size}): ${problems.join('; ')}.${why}`,
      );
    }
    // Half-precision storage (a committed fp16 teacher) is widened to the model's float32.
    const widened: Tensor[] = [];
    for (const [k, t] of weights) {
      if (halfStorage(t.dtype) && live.has(k)) {
        const f = t.float();
        widened.push(f);
        weights.set(k, f);
      }
    }
    // strict: false only lets the ignored keys through; everything else was checked above.
    try {
      model.loadStateDict(weights, { strict: false });
    } finally {
      dispose(widened);
    }
    const notes: string[] = [];
    if (otherRecipe) {
      notes.push(
        `${path} was saved by ${savedWith}; its weights fit recipe '${recipe.name}', whose model config differs (postprocessing, priors or norms may not match)`,
      );
    }
    return {
      path,
      kind,
      recipeName: stored?.name ?? null,
      detkdVersion: metadata.detkd_version ?? null,
      notes,
    };
  } finally {
    dispose([...tensors.values()]);
  }
}

function parseCategories(annFile: string): CategoryMap {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(annFile, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DetkdError(
      `${annFile}: cannot read the categories (${code === 'ENOENT' ? 'file not found' : (e as Error).message})`,
    );
  }
  const cats: unknown =
    json !== null && typeof json === 'object' ? Reflect.get(json, 'categories') : undefined;
  if (!Array.isArray(cats)) throw new DetkdError(`${annFile}: no 'categories' list`);
  const out: CategoryInfo[] = cats.map((c: unknown, i) => {
    const id: unknown = c !== null && typeof c === 'object' ? Reflect.get(c, 'id') : undefined;
    const name: unknown = c !== null && typeof c === 'object' ? Reflect.get(c, 'name') : undefined;
    if (typeof id !== 'number' || !Number.isInteger(id)) {
      throw new DetkdError(`${annFile}: categories[${i}] has no integer 'id'`);
    }
    return { id, name: typeof name === 'string' ? name : String(id) };
  });
  try {
    return new CategoryMap(out);
  } catch (e) {
    throw new DetkdError(`${annFile}: ${(e as Error).message}`);
  }
}

/**
 * The recipe's classes (ids and names, in label order) from its train annotation file, without
 * loading the dataset. A synthetic dataset that is not there yet is generated first.
 */
export async function recipeCategories(
  recipe: DetectionRecipe,
  log: (s: string) => void = (s) => console.error(s),
): Promise<{ categories: CategoryMap; annFile: string }> {
  const dir = synthDir(recipe.data);
  let annFile = dir !== null ? join(dir, 'train.json') : recipe.data.train?.ann;
  if (dir !== null && !existsSync(annFile ?? '')) {
    const d = await prepareData(recipe, log);
    annFile = d.train.annFile;
  }
  if (annFile === undefined) {
    throw new DetkdError(`recipe ${recipe.name}: data needs either 'synth' or both 'train' and 'val'`);
  }
  const categories = parseCategories(annFile);
  if (categories.size !== recipe.model.numClasses) {
    throw new DetkdError(
      `recipe ${recipe.name}: model.numClasses is ${recipe.model.numClasses} but ${annFile} has ${categories.size} categories`,
    );
  }
  return { categories, annFile };
}

/** The recipe's val set (generating a synthetic dataset first when it is not there yet). */
export async function recipeValSet(
  recipe: DetectionRecipe,
  log: (s: string) => void = (s) => console.error(s),
): Promise<CocoDataset> {
  const dir = synthDir(recipe.data);
  if (dir !== null) {
    if (!existsSync(join(dir, 'val.json'))) return (await prepareData(recipe, log)).val;
    return loadCoco({ annFile: join(dir, 'val.json'), imageDir: join(dir, 'images') });
  }
  const v = recipe.data.val;
  if (v === undefined)
    throw new DetkdError(`recipe ${recipe.name}: data needs either 'synth' or both 'train' and 'val'`);
  return loadCoco({ annFile: v.ann, imageDir: v.images });
}

/** fp16/bf16 tensors in a file are storage only: they load into float32 parameters. */
function halfStorage(d: string): boolean {
  return d === 'float16' || d === 'bfloat16';
}
