// Anchors as mmdetection 2.x's AnchorGenerator (mmdet/core/anchor/anchor_generator.py):
// base anchors per level from base size (= stride), scales and ratios, centred at
// center_offset * base size (0 in v2.0: no +1 widths and no rounding; the rounded, pixel-centred
// boxes are LegacyAnchorGenerator's, which is not reproduced here), then shifted over the grid by
// (x * stride, y * stride). Layout: level by level, row-major over locations (y then x), the A
// anchors of a location together. Every step below uses the same float32 tensor ops in the same
// order as mmdet's, so the boxes are bit-identical to it.
import { arange, cat, type Device, noGrad, stack, type Tensor, tensor, tidy } from '../../core/tensor.ts';
import { libmPow } from '../../nn/libm.ts';
import type { Priors } from '../types.ts';

export interface AnchorGeneratorOptions {
  /** Stride of each level (square strides). */
  strides: readonly number[];
  /** Height / width ratios. */
  ratios: readonly number[];
  /** Scales of the base size; give either these or octaveBaseScale + scalesPerOctave. */
  scales?: readonly number[];
  /** RetinaNet: scales = octaveBaseScale * 2^(i / scalesPerOctave), i < scalesPerOctave. */
  octaveBaseScale?: number;
  scalesPerOctave?: number;
  /** Base size of each level (default: the strides). */
  baseSizes?: readonly number[];
  /** Scales vary fastest within a ratio (mmdet's scale_major, default true). */
  scaleMajor?: boolean;
  /** Centre offset as a fraction of the base size (default 0). */
  centerOffset?: number;
  /**
   * Round the base anchors to integers, half to even (torchvision's AnchorGenerator does; mmdet's
   * does not). Default false.
   */
  roundBase?: boolean;
}

/**
 * Grid anchors. gridPriors(featSizes) -> Priors with boxes [sum_l H_l*W_l*A, 4] xyxy in input
 * pixels. The two configurations the dense detectors use are retinaAnchors() (9 per location)
 * and atssAnchors() (one square anchor of side 8 * stride; ATSS, GFL, PAA).
 */
export class AnchorGenerator {
  readonly strides: readonly number[];
  readonly ratios: readonly number[];
  /** float64 scales as mmdet computes them (cast to float32 when anchors are made). */
  readonly scales: readonly number[];
  readonly baseSizes: readonly number[];
  readonly scaleMajor: boolean;
  readonly centerOffset: number;
  readonly roundBase: boolean;

  constructor(o: AnchorGeneratorOptions) {
    const octave = o.octaveBaseScale !== undefined && o.scalesPerOctave !== undefined;
    if (octave === (o.scales !== undefined)) {
      throw new TypeError('AnchorGenerator: give either scales or octaveBaseScale with scalesPerOctave');
    }
    const centerOffset = o.centerOffset ?? 0;
    if (!(centerOffset >= 0 && centerOffset <= 1)) {
      throw new RangeError(`AnchorGenerator: centerOffset must be in [0, 1], got ${centerOffset}`);
    }
    this.strides = [...o.strides];
    this.ratios = [...o.ratios];
    if (o.scales !== undefined) {
      this.scales = [...o.scales];
    } else {
      const spo = o.scalesPerOctave ?? 1;
      const base = o.octaveBaseScale ?? 1;
      // numpy: np.array([2**(i / spo) ...]) * base; Python's float ** is libm pow.
      this.scales = Array.from({ length: spo }, (_, i) => libmPow(2, i / spo) * base);
    }
    this.baseSizes = [...(o.baseSizes ?? o.strides)];
    if (this.baseSizes.length !== this.strides.length) {
      throw new RangeError('AnchorGenerator: baseSizes and strides differ in length');
    }
    this.scaleMajor = o.scaleMajor ?? true;
    this.centerOffset = centerOffset;
    this.roundBase = o.roundBase ?? false;
  }

  get numLevels(): number {
    return this.strides.length;
  }

  /** Anchors per location (A = ratios x scales). */
  get numBaseAnchors(): number {
    return this.ratios.length * this.scales.length;
  }

  /** Base anchors of a level, centred at the origin + offset: [A, 4] xyxy float32 on the CPU. */
  baseAnchors(level: number): Tensor {
    const size = this.baseSizes[level];
    if (size === undefined) throw new RangeError(`AnchorGenerator: no level ${level}`);
    return noGrad(() =>
      tidy(() => {
        const scales = tensor(Float32Array.from(this.scales));
        const ratios = tensor(Float32Array.from(this.ratios));
        const xc = this.centerOffset * size;
        const yc = this.centerOffset * size;
        const hRatios = ratios.sqrt();
        const wRatios = hRatios.reciprocal(); // Python's 1 / t is reciprocal(t) * 1
        let ws: Tensor;
        let hs: Tensor;
        if (this.scaleMajor) {
          ws = wRatios.unsqueeze(1).mul(size).mul(scales.unsqueeze(0)).view(-1);
          hs = hRatios.unsqueeze(1).mul(size).mul(scales.unsqueeze(0)).view(-1);
        } else {
          ws = scales.unsqueeze(1).mul(size).mul(wRatios.unsqueeze(0)).view(-1);
          hs = scales.unsqueeze(1).mul(size).mul(hRatios.unsqueeze(0)).view(-1);
        }
        const hw = ws.mul(0.5);
        const hh = hs.mul(0.5);
        const base = stack([hw.rsub(xc), hh.rsub(yc), hw.add(xc), hh.add(yc)], -1);
        return this.roundBase ? base.round() : base;
      }),
    );
  }

  /** Anchors of one level: [H*W*A, 4] xyxy, location (0,0)'s A anchors first, then (0,1), ... */
  singleLevelGridPriors(featSize: readonly [number, number], level: number, device: Device = 'cpu'): Tensor {
    const stride = this.strides[level];
    if (stride === undefined) throw new RangeError(`AnchorGenerator: no level ${level}`);
    const [h, w] = featSize;
    return noGrad(() =>
      tidy(() => {
        const base = this.baseAnchors(level).to(device); // [A, 4]
        const shiftX = arange(0, w, 1, { dtype: 'float32', device }).mul(stride); // [W]
        const shiftY = arange(0, h, 1, { dtype: 'float32', device }).mul(stride); // [H]
        const xx = shiftX.repeat(h); // [H*W]
        const yy = shiftY.view(-1, 1).repeat(1, w).view(-1); // [H*W]
        const shifts = stack([xx, yy, xx, yy], -1); // [H*W, 4]
        return base.unsqueeze(0).add(shifts.unsqueeze(1)).view(-1, 4);
      }),
    );
  }

  /** Anchors of every level, flattened level by level (featSizes [h, w] per level). */
  gridPriors(featSizes: readonly (readonly [number, number])[], device: Device = 'cpu'): Priors {
    if (featSizes.length !== this.numLevels) {
      throw new RangeError(
        `AnchorGenerator: ${this.numLevels} levels, got ${featSizes.length} feature sizes`,
      );
    }
    const a = this.numBaseAnchors;
    const numPerLevel = featSizes.map(([h, w]) => h * w * a);
    const levelOffsets: number[] = [];
    let acc = 0;
    for (const n of numPerLevel) {
      levelOffsets.push(acc);
      acc += n;
    }
    const boxes = tidy(() =>
      cat(
        featSizes.map((s, l) => this.singleLevelGridPriors(s, l, device)),
        0,
      ),
    );
    return {
      boxes,
      numPerLevel,
      levelOffsets,
      strides: [...this.strides],
      featSizes: featSizes.map(([h, w]) => [h, w]),
      perLocation: a,
      kind: 'anchor',
    };
  }

  /**
   * mmdet's valid_flags: [sum_l H_l*W_l*A] bool, false for anchors of locations outside the
   * un-padded image (valid size per level ceil(padShape / stride), clipped to the feature size).
   */
  validFlags(
    featSizes: readonly (readonly [number, number])[],
    imageShape: readonly [number, number],
    device: Device = 'cpu',
  ): Tensor {
    return noGrad(() =>
      tidy(() =>
        cat(
          featSizes.map(([fh, fw], l) => {
            const s = this.strides[l] ?? 1;
            const vh = Math.min(Math.ceil(imageShape[0] / s), fh);
            const vw = Math.min(Math.ceil(imageShape[1] / s), fw);
            const vx = arange(0, fw, 1, { device }).lt(vw); // [W]
            const vy = arange(0, fh, 1, { device }).lt(vh); // [H]
            const valid = vx.repeat(fh).logicalAnd(vy.view(-1, 1).repeat(1, fw).view(-1)); // [H*W]
            return valid
              .unsqueeze(1)
              .expand(fh * fw, this.numBaseAnchors)
              .reshape(-1);
          }),
          0,
        ),
      ),
    );
  }
}

/** RetinaNet's anchors: octave base scale 4, 3 scales per octave, ratios 0.5/1/2 (9 per location). */
export function retinaAnchors(strides: readonly number[] = [8, 16, 32, 64, 128]): AnchorGenerator {
  return new AnchorGenerator({ strides, ratios: [0.5, 1.0, 2.0], octaveBaseScale: 4, scalesPerOctave: 3 });
}

/**
 * The RPN's anchors: one size per level (torchvision: 32, 64, 128, 256, 512 on strides 4..64),
 * ratios 0.5/1/2 (3 per location, in ratio order as both references), `rounded` as torchvision's
 * (default) or float as mmdet's (there: scales [8] of base size = stride, the same boxes up to
 * rounding of size = 8 * stride).
 */
export function rpnAnchors(
  o: {
    strides?: readonly number[];
    sizes?: readonly number[];
    ratios?: readonly number[];
    rounded?: boolean;
  } = {},
): AnchorGenerator {
  const strides = o.strides ?? [4, 8, 16, 32, 64];
  const sizes = o.sizes ?? strides.map((s) => 8 * s);
  return new AnchorGenerator({
    strides,
    baseSizes: sizes,
    scales: [1],
    ratios: o.ratios ?? [0.5, 1.0, 2.0],
    roundBase: o.rounded ?? true,
  });
}

/** ATSS / GFL / PAA: one square anchor of side 8 * stride per location. */
export function atssAnchors(strides: readonly number[] = [8, 16, 32, 64, 128]): AnchorGenerator {
  return new AnchorGenerator({ strides, ratios: [1.0], octaveBaseScale: 8, scalesPerOctave: 1 });
}
