// The built-in synthetic dataset: `detkd data synth --out DIR --preset tiny|demo [--seed S]`.
// Writes DIR/train.json, DIR/val.json (COCO), DIR/images/{train,val}/NNNNNN.png and
// DIR/synth.json (a manifest with the generator version, preset, seed and the dataset hash).
//
// Dataset hash (datasetHash): sha256 over the two json files' bytes and every image's decoded
// pixels (in json order), so it identifies the content, not the PNG encoder's bytes. The
// generator computes it from what it rendered; datasetHash(dir) recomputes it from the files.
// Bump SYNTH_VERSION whenever the generator's output for a (preset, seed) changes.
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { DetkdError } from '../../core/errors.ts';
import { decodeImageFile } from '../decode.ts';
import { WorkerPool } from '../workers.ts';
import { SYNTH_CLASSES } from './classes.ts';
import { getPreset, type SynthPreset } from './presets.ts';
import { runSynthTask, type Split, type SynthTask, type SynthTaskResult } from './render.ts';

export const SYNTH_GENERATOR = 'detkd-synth';
export const SYNTH_VERSION = 2; // 2: demo preset at 192 px

export interface SynthManifest {
  generator: typeof SYNTH_GENERATOR;
  version: number;
  preset: SynthPreset['name'];
  seed: number;
  size: number;
  train: number;
  val: number;
  annotations: { train: number; val: number };
  hash: string;
}

export interface SynthOptions {
  out: string;
  preset: SynthPreset['name'] | SynthPreset;
  seed?: number;
  /** Rendering workers; 0 renders in-process (default: min(2, cores), 0 under 200 images). */
  workers?: number;
  /** Override the preset's image counts (tests). */
  counts?: { train?: number; val?: number };
  onProgress?: (done: number, total: number) => void;
}

export function imageFileName(split: Split, index: number): string {
  return `${split}/${String(index).padStart(6, '0')}.png`;
}

function cocoJson(
  preset: SynthPreset,
  seed: number,
  split: Split,
  results: SynthTaskResult[],
): { text: string; annotations: number } {
  const images = results.map((_, i) => ({
    id: i + 1,
    file_name: imageFileName(split, i),
    width: preset.size,
    height: preset.size,
  }));
  const annotations: object[] = [];
  results.forEach((r, i) => {
    for (const a of r.annotations) {
      annotations.push({
        id: annotations.length + 1,
        image_id: i + 1,
        category_id: a.categoryId,
        bbox: a.bbox,
        area: a.area,
        iscrowd: a.iscrowd,
        visibility: a.visibility,
      });
    }
  });
  const json = {
    info: {
      description: `detkd synthetic shapes (${preset.name}, ${split})`,
      generator: SYNTH_GENERATOR,
      version: SYNTH_VERSION,
      preset: preset.name,
      seed,
    },
    images,
    annotations,
    categories: SYNTH_CLASSES.map((c) => ({ id: c.id, name: c.name, supercategory: c.shape })),
  };
  return { text: `${JSON.stringify(json)}\n`, annotations: annotations.length };
}

/** Combines json bytes and per-image pixel digests into the dataset hash. */
export function combineHash(parts: { json: string | Uint8Array; pixelDigests: string[] }[]): string {
  const h = createHash('sha256').update(`${SYNTH_GENERATOR}-dataset-hash-v1\n`);
  for (const p of parts) {
    h.update(createHash('sha256').update(p.json).digest('hex'));
    h.update('\n');
    for (const d of p.pixelDigests) h.update(`${d}\n`);
  }
  return h.digest('hex');
}

/**
 * Generates the dataset. Deterministic in (preset, seed, SYNTH_VERSION) whatever `workers` is.
 *
 * @example
 * const m = await generateSynth({ out: 'data/synth-tiny', preset: 'tiny' });
 * m.hash; // stamps checkpoints trained on it
 */
export async function generateSynth(opts: SynthOptions): Promise<SynthManifest> {
  const base = typeof opts.preset === 'string' ? getPreset(opts.preset) : opts.preset;
  const preset: SynthPreset = {
    ...base,
    train: opts.counts?.train ?? base.train,
    val: opts.counts?.val ?? base.val,
  };
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0)
    throw new DetkdError(`synth: --seed must be a non-negative integer, got ${seed}`);
  await mkdir(join(opts.out, 'images'), { recursive: true });
  const tasks: SynthTask[] = [];
  for (const split of ['train', 'val'] as const) {
    const n = split === 'train' ? preset.train : preset.val;
    for (let i = 0; i < n; i++) {
      tasks.push({
        preset,
        seed,
        split,
        index: i,
        outPath: join(opts.out, 'images', imageFileName(split, i)),
      });
    }
  }
  // Small jobs render faster in-process than it takes to start workers under tsx.
  const nWorkers = opts.workers ?? (tasks.length < 200 ? 0 : Math.min(2, availableParallelism()));
  const results: SynthTaskResult[] = new Array(tasks.length);
  let done = 0;
  const pool =
    nWorkers > 0 ? new WorkerPool<SynthTask, SynthTaskResult>(import.meta.url, './worker', nWorkers) : null;
  try {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < tasks.length) {
        const k = next++;
        results[k] = pool !== null ? await pool.run(tasks[k]!) : await runSynthTask(tasks[k]!);
        opts.onProgress?.(++done, tasks.length);
      }
    };
    // A few requests per worker keep them busy without flooding the queue.
    await Promise.all(Array.from({ length: Math.max(1, nWorkers * 3) }, lane));
  } finally {
    await pool?.close();
  }
  const train = cocoJson(preset, seed, 'train', results.slice(0, preset.train));
  const val = cocoJson(preset, seed, 'val', results.slice(preset.train));
  await writeFile(join(opts.out, 'train.json'), train.text);
  await writeFile(join(opts.out, 'val.json'), val.text);
  const hash = combineHash([
    { json: train.text, pixelDigests: results.slice(0, preset.train).map((r) => r.digest) },
    { json: val.text, pixelDigests: results.slice(preset.train).map((r) => r.digest) },
  ]);
  const manifest: SynthManifest = {
    generator: SYNTH_GENERATOR,
    version: SYNTH_VERSION,
    preset: preset.name,
    seed,
    size: preset.size,
    train: preset.train,
    val: preset.val,
    annotations: { train: train.annotations, val: val.annotations },
    hash,
  };
  await writeFile(join(opts.out, 'synth.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Recomputes the dataset hash of a directory holding train.json and val.json (image paths
 * relative to DIR/images): sha256 over the json bytes and every image's decoded pixels.
 * Works on any COCO dataset laid out that way, not only synthetic ones.
 */
export async function datasetHash(
  dir: string,
  onProgress?: (done: number, total: number) => void,
): Promise<string> {
  const parts: { json: Uint8Array; pixelDigests: string[] }[] = [];
  const files: { split: string; json: Uint8Array; names: string[] }[] = [];
  for (const split of ['train', 'val']) {
    const path = join(dir, `${split}.json`);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch {
      throw new DetkdError(`${path}: cannot read (datasetHash needs train.json and val.json)`);
    }
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as { images: { file_name: string }[] };
    files.push({ split, json: bytes, names: parsed.images.map((im) => im.file_name) });
  }
  const total = files.reduce((s, f) => s + f.names.length, 0);
  let done = 0;
  for (const f of files) {
    const digests: string[] = [];
    for (const name of f.names) {
      const img = await decodeImageFile(join(dir, 'images', name));
      digests.push(
        createHash('sha256').update(`${img.width}x${img.height}\n`).update(img.data).digest('hex'),
      );
      onProgress?.(++done, total);
    }
    parts.push({ json: f.json, pixelDigests: digests });
  }
  return combineHash(parts);
}
