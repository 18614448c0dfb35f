// Recipes: typed TypeScript configs (docs/architecture.md). A recipe module under recipes/
// (or anywhere) exports `recipe = defineRecipe({...})`; a variant imports another and spreads it.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DetkdError } from '../core/errors.ts';
import { type CocoDataset, loadCoco } from '../data/coco.ts';
import { generateSynth, SYNTH_VERSION } from '../data/synth/generate.ts';
import type { SynthPreset } from '../data/synth/presets.ts';
import type { ResizeSpec } from '../data/transforms.ts';
import type { DetectorConfig } from '../detection/models/build.ts';
import type { TrainerOptions } from '../train/trainer.ts';

export interface RecipeData {
  /** The built-in synthetic dataset: generated into `dir` (default data/synth-<preset>-<seed>) when missing. */
  synth?: { preset: SynthPreset['name']; seed?: number; dir?: string };
  /** A COCO dataset of your own (paths relative to the working directory). */
  train?: { ann: string; images: string };
  val?: { ann: string; images: string };
  /** Training and evaluation input size. */
  resize: ResizeSpec;
  batchSize: number;
  /** Loader worker threads (default 1). */
  numWorkers?: number;
  /** Horizontal flip and photometric jitter during training (default true). */
  augment?: boolean;
  /**
   * Decoded images kept in memory, in MiB (default 1024; 0 turns it off): after the first epoch
   * only the transforms run, so decoding stops competing with the training step for cores.
   */
  cacheMB?: number;
}

export type RecipeTrain = Omit<
  TrainerOptions,
  'runDir' | 'out' | 'signal' | 'recipe' | 'resume' | 'overwrite' | 'stopAtIter'
>;

export interface DetectionRecipe {
  name: string;
  description: string;
  data: RecipeData;
  model: DetectorConfig;
  train: RecipeTrain;
}

/** Identity with type checking: `export const recipe = defineRecipe({ ... })`. */
export function defineRecipe(r: DetectionRecipe): DetectionRecipe {
  return r;
}

/** Loads a recipe module by path (a .ts file runs through tsx, which bin/detkd.js registers). */
export async function loadRecipe(path: string): Promise<DetectionRecipe> {
  const abs = isAbsolute(path) ? path : resolve(path);
  if (!existsSync(abs)) throw new DetkdError(`recipe ${path}: file not found`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    throw new DetkdError(
      `recipe ${path}: cannot load it (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`,
    );
  }
  const r = mod.recipe ?? mod.default;
  if (!isRecipe(r)) {
    throw new DetkdError(
      `recipe ${path}: expected an export 'recipe' made with defineRecipe({ name, data, model, train })`,
    );
  }
  return r;
}

function isRecipe(v: unknown): v is DetectionRecipe {
  if (v === null || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return (
    typeof o.name === 'string' &&
    typeof o.data === 'object' &&
    typeof o.model === 'object' &&
    typeof o.train === 'object'
  );
}

export interface RecipeDatasets {
  train: CocoDataset;
  val: CocoDataset;
  /** The synthetic dataset's hash, when the recipe uses one. */
  synthHash?: string;
}

/** Where a synthetic dataset lives. */
export function synthDir(d: RecipeData): string | null {
  if (!d.synth) return null;
  return d.synth.dir ?? join('data', `synth-${d.synth.preset}-${d.synth.seed ?? 0}`);
}

/** Generates the synthetic dataset if needed, then loads train and val. */
export async function prepareData(
  r: DetectionRecipe,
  log: (s: string) => void = console.log,
): Promise<RecipeDatasets> {
  const d = r.data;
  let train = d.train;
  let val = d.val;
  let synthHash: string | undefined;
  const dir = synthDir(d);
  if (dir !== null && d.synth) {
    if (!existsSync(join(dir, 'synth.json'))) {
      log(`generating the synthetic '${d.synth.preset}' dataset into ${dir} ...`);
      const t0 = performance.now();
      let last = 0;
      const m = await generateSynth({
        out: dir,
        preset: d.synth.preset,
        seed: d.synth.seed ?? 0,
        onProgress: (done, total) => {
          const now = performance.now();
          if (now - last > 5000 || done === total) {
            last = now;
            log(`  ${done}/${total} images`);
          }
        },
      });
      synthHash = m.hash;
      log(`  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    if (synthHash === undefined) {
      // Already there: the manifest carries the hash (and the generator version) it was made with.
      const m = readSynthManifest(dir);
      synthHash = m.hash;
      if (m.version !== SYNTH_VERSION) {
        log(
          `note: ${dir} was made by synthetic generator v${m.version}; this detkd writes v${SYNTH_VERSION} (delete the folder to regenerate)`,
        );
      }
    }
    train = { ann: join(dir, 'train.json'), images: join(dir, 'images') };
    val = { ann: join(dir, 'val.json'), images: join(dir, 'images') };
  }
  if (!train || !val)
    throw new DetkdError(`recipe ${r.name}: data needs either 'synth' or both 'train' and 'val'`);
  return {
    train: await loadCoco({ annFile: train.ann, imageDir: train.images }),
    val: await loadCoco({ annFile: val.ann, imageDir: val.images }),
    ...(synthHash ? { synthHash } : {}),
  };
}

/** The manifest (`synth.json`) of a generated dataset: generator version and dataset hash. */
export function readSynthManifest(dir: string): { version: number; hash: string } {
  const path = join(dir, 'synth.json');
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new DetkdError(`${path}: cannot read the synthetic dataset manifest (${(e as Error).message})`);
  }
  const version = m !== null && typeof m === 'object' ? Reflect.get(m, 'version') : undefined;
  const hash = m !== null && typeof m === 'object' ? Reflect.get(m, 'hash') : undefined;
  if (typeof version !== 'number' || typeof hash !== 'string') {
    throw new DetkdError(
      `${path}: expected numeric 'version' and string 'hash' fields; delete the folder to regenerate`,
    );
  }
  return { version, hash };
}
