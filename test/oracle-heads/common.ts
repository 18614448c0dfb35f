// Shared setup of the head-loss oracle tests: the images' ground truth, the prior layout, fixture
// files (written by export-inputs.ts and scripts/fixtures/head_loss_oracle.py; the tests load them
// with test/support/oracle.ts) and tolerance checks that report the observed error.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Tensor, tensor, zeros } from '../../src/core/tensor.ts';
import type { FcosTargetConfig } from '../../src/detection/assigners/fcos.ts';
import type { GtTargets } from '../../src/detection/assigners/types.ts';

export const NUM_CLASSES = 3;
/** Input [H, W]; 3 levels, strides 8/16/32: feature maps ceil(H/s) x ceil(W/s). */
export const IMG: [number, number] = [64, 96];
export const STRIDES = [8, 16, 32];
export const FEAT_SIZES: [number, number][] = STRIDES.map((s) => [
  Math.ceil(IMG[0] / s),
  Math.ceil(IMG[1] / s),
]);
/** Crowd regions are switched on in the anchor assigners so that some priors are IGNORE. */
export const IGNORE_IOF_THR = 0.5;
/** Regress ranges scaled to the 64x96 image so that every level gets FCOS positives. */
export const FCOS_TARGETS: FcosTargetConfig = {
  centerSampling: true,
  centerSampleRadius: 1.5,
  normOnBbox: false,
  regressRanges: [
    [-1, 20],
    [20, 40],
    [40, 100000000],
  ],
};

interface ImageGt {
  boxes: number[][];
  labels: number[];
  ignore: number[][];
}

/**
 * a: four boxes (two overlapping, different classes) and a crowd region over one of them;
 * b: no ground truth, only a crowd region; c: one box.
 */
export const IMAGES: Record<'a' | 'b' | 'c', ImageGt> = {
  a: {
    boxes: [
      [4, 6, 40, 50],
      [30, 10, 90, 60],
      [52, 28, 74, 58],
      [8, 36, 30, 62],
    ],
    labels: [0, 2, 1, 1],
    ignore: [[36, 0, 96, 40]],
  },
  b: { boxes: [], labels: [], ignore: [[0, 0, 40, 30]] },
  c: { boxes: [[20, 12, 62, 54]], labels: [2], ignore: [] },
};

/** Batches of the oracle: [a, c] (every image has GT) and [a, b] (one image without GT). */
export const BATCHES = { ac: ['a', 'c'], ab: ['a', 'b'] } as const;
export type BatchName = keyof typeof BATCHES;

function boxTensor(rows: number[][]): Tensor {
  return rows.length === 0 ? zeros([0, 4]) : tensor(rows);
}

/** The ground truth of an image as the assigners and losses take it. */
export function gtOf(name: string): GtTargets {
  const g = IMAGES[name as keyof typeof IMAGES];
  if (g === undefined) throw new Error(`no image '${name}'`);
  return {
    boxes: boxTensor(g.boxes),
    labels: tensor(g.labels, { dtype: 'int64' }).reshape(-1),
    ignore: boxTensor(g.ignore),
  };
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const INPUTS_FILE = join(HERE, 'fixtures', 'inputs.safetensors');
export const ORACLE_FILE = join(HERE, 'fixtures', 'head-losses.safetensors');

/**
 * max |got - want| / max |want| over the tensor (a scalar: the plain relative error). Gradient
 * elements near zero carry only summation-order noise, so the error is taken against the
 * tensor's scale rather than elementwise.
 */
export function relErr(got: Tensor, want: Tensor): number {
  assert.deepEqual(got.shape, want.shape, 'shape');
  const x = got.toArray();
  const y = want.toArray();
  let num = 0;
  let den = 0;
  y.forEach((w, i) => {
    const d = Math.abs((x[i] ?? Number.NaN) - w);
    num = d > num || Number.isNaN(d) ? d : num;
    den = Math.max(den, Math.abs(w));
  });
  if (Number.isNaN(num)) return Number.NaN;
  return den === 0 ? num : num / den;
}

/** The worst error seen per label, printed by the oracle test at the end. */
export const observed = new Map<string, number>();

export function record(what: string, e: number): void {
  observed.set(what, Math.max(observed.get(what) ?? 0, Number.isNaN(e) ? Number.POSITIVE_INFINITY : e));
}
