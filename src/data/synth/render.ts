// One synthetic image from (preset, seed, split, index): the pure function the generator and its
// workers call. Nothing else feeds it randomness, so output is independent of worker count.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { encodePng } from '../decode.ts';
import { hashKey, Rng } from '../rng.ts';
import type { SynthPreset } from './presets.ts';
import { computeVisibility, layoutScene, type SceneAnnotation, sceneAnnotations } from './scene-layout.ts';
import { renderScene } from './scene-render.ts';

export type Split = 'train' | 'val';
const SPLIT_ID: Record<Split, number> = { train: 0, val: 1 };
const SYNTH_STREAM = 0x53594e54; // 'SYNT'

/** The random stream of one image. */
export function imageRng(seed: number, split: Split, index: number): Rng {
  return new Rng(hashKey(SYNTH_STREAM, seed, SPLIT_ID[split], index));
}

/** Annotations of one image without rendering its pixels (layout + visibility only). */
export function synthAnnotations(
  preset: SynthPreset,
  seed: number,
  split: Split,
  index: number,
): SceneAnnotation[] {
  const scene = layoutScene(imageRng(seed, split, index), preset);
  return sceneAnnotations(scene, computeVisibility(scene));
}

/** Renders one image: RGB bytes [size, size, 3] and its annotations. */
export function synthImage(
  preset: SynthPreset,
  seed: number,
  split: Split,
  index: number,
): { rgb: Uint8Array; annotations: SceneAnnotation[] } {
  const scene = layoutScene(imageRng(seed, split, index), preset);
  const { rgb, visibility } = renderScene(scene);
  return { rgb, annotations: sceneAnnotations(scene, visibility) };
}

/** sha256 of an image's pixels as the dataset hash defines it: "WxH\n" then RGB bytes. */
export function pixelDigest(rgb: Uint8Array, height: number, width: number): string {
  return createHash('sha256').update(`${width}x${height}\n`).update(rgb).digest('hex');
}

export interface SynthTask {
  preset: SynthPreset;
  seed: number;
  split: Split;
  index: number;
  /** Where to write the PNG. */
  outPath: string;
}

export interface SynthTaskResult {
  annotations: SceneAnnotation[];
  digest: string;
}

/** Renders, encodes and writes one image. */
export async function runSynthTask(t: SynthTask): Promise<SynthTaskResult> {
  const { rgb, annotations } = synthImage(t.preset, t.seed, t.split, t.index);
  const png = await encodePng({ data: rgb, height: t.preset.size, width: t.preset.size });
  await mkdir(dirname(t.outPath), { recursive: true });
  await writeFile(t.outPath, png);
  return { annotations, digest: pixelDigest(rgb, t.preset.size, t.preset.size) };
}
