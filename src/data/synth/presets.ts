// Presets of the synthetic dataset. Sizes are given as box-area bands at the preset's resolution,
// which is also its training resolution: the min-side rule (every object box side >= minSide =
// 12 px = 1.5 x the finest stride 8) holds there. Training at a smaller input scale shrinks
// objects below it; resize up, not down.

export interface SizeBand {
  /** Objects of this band per image, uniform integer in [min, max]. */
  count: readonly [number, number];
  /** Box area in px², log-uniform in [lo, hi). */
  area: readonly [number, number];
}

export interface SynthPreset {
  name: 'tiny' | 'demo';
  /** Square images of size x size pixels. */
  size: number;
  train: number;
  val: number;
  /** Bands, placed (and drawn) in this order: put large first so smaller objects overlap them. */
  bands: readonly SizeBand[];
  /** Probability that an image is crowded, and the extra band it then gets. */
  crowded: { prob: number; band: SizeBand } | null;
  distractors: readonly [number, number];
  /** Smallest allowed box side (px). */
  minSide: number;
  /** Largest allowed box side as a fraction of the image size. */
  maxSideFrac: number;
  /** Background clutter lines per image. */
  clutter: readonly [number, number];
  /** Per-pixel noise amplitude range (0..255 units). */
  noise: readonly [number, number];
}

/** The finest feature stride the min-side rule is stated for. */
export const FINEST_STRIDE = 8;
export const MIN_SIDE = 1.5 * FINEST_STRIDE; // 12 px

export const PRESETS: Record<SynthPreset['name'], SynthPreset> = {
  // CI's golden run: a few dozen 128 px images, few large objects, mild clutter. Seconds to make.
  tiny: {
    name: 'tiny',
    size: 128,
    train: 48,
    val: 16,
    bands: [
      { count: [0, 1], area: [56 * 56, 76 * 76] },
      { count: [2, 4], area: [26 * 26, 52 * 52] },
    ],
    crowded: null,
    distractors: [0, 2],
    minSide: MIN_SIDE,
    maxSideFrac: 0.7,
    clutter: [0, 2],
    noise: [2, 5],
  },
  // The demo: 2,000 train / 500 val at 192 px (the demo recipes train at their native size, where
  // the min-side rule holds; 192 px keeps a teacher's training within tens of minutes on 2 cores);
  // COCO buckets small < 32², medium 32²..96², large > 96² each hold >= 15% of the boxes
  // (checked in scene.test.ts).
  demo: {
    name: 'demo',
    size: 192,
    train: 2000,
    val: 500,
    bands: [
      { count: [2, 3], area: [96 * 96, 128 * 128] },
      { count: [2, 5], area: [32 * 32, 96 * 96] },
      { count: [2, 6], area: [MIN_SIDE * MIN_SIDE, 32 * 32] },
    ],
    crowded: { prob: 0.15, band: { count: [6, 14], area: [MIN_SIDE * MIN_SIDE, 32 * 32] } },
    distractors: [2, 7],
    minSide: MIN_SIDE,
    maxSideFrac: 0.7,
    clutter: [0, 6],
    noise: [2, 7],
  },
};

export function getPreset(name: string): SynthPreset {
  if (name !== 'tiny' && name !== 'demo') throw new RangeError(`unknown synth preset '${name}' (tiny|demo)`);
  return PRESETS[name];
}
