// Recipes: typed TypeScript configs (docs/architecture.md). A recipe module under recipes/
// (or anywhere) exports `recipe = defineRecipe({...})`; a variant imports another and spreads it.
import { existsSync, readFileSync } from 'node:fs';
import { register } from 'node:module';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DetkdError } from '../core/errors.ts';
import { parseStrict, type Same, z } from '../core/schema.ts';
import { type CocoDataset, loadCoco } from '../data/coco.ts';
import { generateSynth, SYNTH_VERSION } from '../data/synth/generate.ts';
import type { SynthPreset } from '../data/synth/presets.ts';
import type { ResizeSpec } from '../data/transforms.ts';
import { detectorConfigSchema } from '../detection/models/config.ts';
import { recipeTrainSchema } from '../train/config.ts';
import { distillSectionSchema } from './distill-recipe.ts';

const count = z.number().int().positive();
const cocoFiles = z.strictObject({ ann: z.string().min(1), images: z.string().min(1) });

/** Resize target: keep aspect ratio within (short side, long side max), or a fixed size. */
const resizeSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('keepRatio'), short: count, max: count }),
  z.strictObject({ kind: z.literal('fixed'), height: count, width: count }),
]);

export const recipeDataSchema = z.strictObject({
  /** The built-in synthetic dataset: generated into `dir` (default data/synth-<preset>-<seed>) when missing. */
  synth: z
    .strictObject({
      preset: z.enum(['tiny', 'demo']),
      seed: z.number().int().nonnegative().optional(),
      dir: z.string().min(1).optional(),
    })
    .optional(),
  /** A COCO dataset of your own (paths relative to the working directory). */
  train: cocoFiles.optional(),
  val: cocoFiles.optional(),
  /** Training and evaluation input size. */
  resize: resizeSchema,
  batchSize: count,
  /** Loader worker threads (default 1). */
  numWorkers: z.number().int().nonnegative().optional(),
  /** Horizontal flip and photometric jitter during training (default true). */
  augment: z.boolean().optional(),
  /**
   * Decoded images kept in memory, in MiB (default 1024; 0 turns it off): after the first epoch
   * only the transforms run, so decoding stops competing with the training step for cores.
   */
  cacheMB: z.number().nonnegative().optional(),
});

export type RecipeData = z.infer<typeof recipeDataSchema>;
export type { RecipeTrain } from '../train/config.ts';

/** A detection recipe: the single source of the type and of the check made at load. */
export const detectionRecipeSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string(),
  data: recipeDataSchema,
  model: detectorConfigSchema,
  train: recipeTrainSchema,
});

export type DetectionRecipe = z.infer<typeof detectionRecipeSchema>;

/** A distillation recipe: a detection recipe plus `distill`, whose teacher recipe is checked too. */
const teacherSchema = distillSectionSchema.shape.teacher.unwrap();
export const distillRecipeSchema = detectionRecipeSchema.extend({
  distill: distillSectionSchema.extend({
    teacher: teacherSchema.extend({ recipe: detectionRecipeSchema }).optional(),
  }),
});

// Drift checks against the types the data layer owns.
true satisfies Same<z.infer<typeof resizeSchema>, ResizeSpec>;
true satisfies Same<NonNullable<RecipeData['synth']>['preset'], SynthPreset['name']>;

/**
 * Checks a recipe object against its schema (a distillation recipe when it has `distill`); a
 * DetkdError naming `where` (the file), every offending key's path, and the nearest valid key.
 */
export function validateRecipe(r: unknown, where: string): void {
  const distill = r !== null && typeof r === 'object' && 'distill' in r;
  parseStrict(distill ? distillRecipeSchema : detectionRecipeSchema, r, `recipe ${where}`);
}

/**
 * Identity with type checking, and the schema check at run time (`export const recipe =
 * defineRecipe({ ... })`): a mistake is reported against the file that calls it.
 */
export function defineRecipe<R extends DetectionRecipe>(r: R): R {
  validateRecipe(r, callerFile(defineRecipe) ?? `'${String(Reflect.get(r, 'name'))}'`);
  return r;
}

/** The file (relative to the working directory when under it) that called `fn`, if known. */
function callerFile(fn: (...a: never[]) => unknown): string | null {
  const prepare = Error.prepareStackTrace;
  let sites: NodeJS.CallSite[] = [];
  try {
    Error.prepareStackTrace = (_e, cs) => cs;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, fn);
    if (Array.isArray(holder.stack)) sites = holder.stack as NodeJS.CallSite[];
  } finally {
    Error.prepareStackTrace = prepare;
  }
  const name = sites[0]?.getFileName();
  if (name === undefined || name === null) return null;
  return displayPath(name.startsWith('file:') ? fileURLToPath(name) : name);
}

function displayPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

/**
 * Loads a recipe module by path (a .ts file runs through tsx, which bin/detkd.js registers) and
 * validates it. Nothing here loads libtorch: a recipe that imports only recipe helpers is checked
 * before the addon is initialised.
 */
export async function loadRecipe(path: string): Promise<DetectionRecipe> {
  const abs = isAbsolute(path) ? path : resolve(path);
  if (!existsSync(abs)) throw new DetkdError(`recipe ${path}: file not found`);
  registerRecipeHooks();
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(abs).href)) as Record<string, unknown>;
  } catch (e) {
    // defineRecipe's own check already names the file (maybe a base recipe's) and the key.
    if (e instanceof DetkdError) {
      throw e.message.startsWith('recipe ') ? e : new DetkdError(`recipe ${path}: ${e.message}`);
    }
    throw new DetkdError(`recipe ${path}: ${loadFailure(e)}`);
  }
  const r = mod.recipe ?? mod.default;
  if (r === null || typeof r !== 'object') {
    throw new DetkdError(
      `recipe ${path}: expected an export 'recipe' made with defineRecipe({ name, description, data, model, train })`,
    );
  }
  validateRecipe(r, path);
  return r as DetectionRecipe;
}

const HOOKS = Symbol.for('detkd.recipeHooks');

/**
 * Once per process: recipe-hooks.mjs makes `import ... from 'detkd'` resolve to this checkout
 * from any folder, and loads a .ts recipe outside a `"type": "module"` package as an ES module.
 * Here rather than in bin/detkd.js so that every caller of loadRecipe (tests, scripts) gets them.
 */
function registerRecipeHooks(): void {
  const g = globalThis as { [HOOKS]?: boolean };
  if (g[HOOKS]) return;
  g[HOOKS] = true;
  register('./recipe-hooks.mjs', import.meta.url, {
    data: { selfParent: new URL('../../package.json', import.meta.url).href },
  });
}

/**
 * Why a recipe module failed to load. A syntax error comes from esbuild (through tsx) as
 * `Transform failed with N error(s):` followed by `file:line:col: ERROR: text` lines: those lines,
 * each with the offending source line and a caret, are the message.
 */
function loadFailure(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const lines = message.split('\n');
  if (e instanceof Error && /^Transform failed with \d+ errors?:/.test(lines[0] ?? '')) {
    const out: string[] = [];
    for (const l of lines.slice(1)) {
      const m = /^(.*):(\d+):(\d+): (?:ERROR|error): (.*)$/.exec(l);
      if (m === null) continue;
      const [, file, line, col, text] = m as unknown as [string, string, string, string, string];
      // esbuild counts columns from 0, editors from 1.
      out.push(`${displayPath(file)}:${line}:${Number(col) + 1}: ${text}`);
      const src = sourceLine(file, Number(line));
      if (src !== null) {
        const gutter = `${line} | `;
        out.push(`    ${gutter}${src}`, `    ${' '.repeat(gutter.length + Number(col))}^`);
      }
    }
    if (out.length > 0) return `syntax error\n  ${out.join('\n  ')}`;
  }
  return `cannot load it (${lines[0]})`;
}

function sourceLine(file: string, line: number): string | null {
  try {
    const l = readFileSync(file, 'utf8').split(/\r?\n/)[line - 1];
    return l === undefined ? null : l.replace(/\t/g, ' ');
  } catch {
    return null;
  }
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
