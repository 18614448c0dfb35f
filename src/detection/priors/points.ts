// Point priors as mmdetection's MlvlPointGenerator (mmdet/core/anchor/point_generator.py) with
// with_stride=True: one point per location at ((j + offset) * stride, (i + offset) * stride),
// offset 0.5 for FCOS (the centre of the cell), row-major (y then x), level by level. The same
// float32 ops in the same order as mmdet, so the values are bit-identical to it.
import { arange, cat, type Device, fullLike, noGrad, stack, type Tensor, tidy } from '../../core/tensor.ts';
import type { Priors } from '../types.ts';

export class PointGenerator {
  readonly strides: readonly number[];
  readonly offset: number;

  /** strides per level (square); offset as a fraction of the stride (default 0.5). */
  constructor(strides: readonly number[] = [8, 16, 32, 64, 128], offset = 0.5) {
    this.strides = [...strides];
    this.offset = offset;
  }

  get numLevels(): number {
    return this.strides.length;
  }

  /** Points of one level: [H*W, 4] = (x, y, stride, stride). */
  singleLevelGridPriors(featSize: readonly [number, number], level: number, device: Device = 'cpu'): Tensor {
    const stride = this.strides[level];
    if (stride === undefined) throw new RangeError(`PointGenerator: no level ${level}`);
    const [h, w] = featSize;
    return noGrad(() =>
      tidy(() => {
        const shiftX = arange(0, w, 1, { dtype: 'float32', device }).add(this.offset).mul(stride); // [W]
        const shiftY = arange(0, h, 1, { dtype: 'float32', device }).add(this.offset).mul(stride); // [H]
        const xx = shiftX.repeat(h); // [H*W]
        const yy = shiftY.view(-1, 1).repeat(1, w).view(-1); // [H*W]
        const s = fullLike(xx, stride);
        return stack([xx, yy, s, s], -1);
      }),
    );
  }

  /** Points of every level, flattened level by level: Priors of kind 'point', boxes [A, 4]. */
  gridPriors(featSizes: readonly (readonly [number, number])[], device: Device = 'cpu'): Priors {
    if (featSizes.length !== this.numLevels) {
      throw new RangeError(`PointGenerator: ${this.numLevels} levels, got ${featSizes.length} feature sizes`);
    }
    const numPerLevel = featSizes.map(([h, w]) => h * w);
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
      perLocation: 1,
      kind: 'point',
    };
  }

  /**
   * mmdet's valid_flags: [sum_l H_l*W_l] bool, false for points of locations beyond
   * ceil(imageShape / stride) (padding added by batching).
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
            const vx = arange(0, fw, 1, { device }).lt(vw);
            const vy = arange(0, fh, 1, { device }).lt(vh);
            return vx.repeat(fh).logicalAnd(vy.view(-1, 1).repeat(1, fw).view(-1));
          }),
          0,
        ),
      ),
    );
  }
}

/** FCOS's points: strides 8..128, offset 0.5. */
export function fcosPoints(strides: readonly number[] = [8, 16, 32, 64, 128]): PointGenerator {
  return new PointGenerator(strides, 0.5);
}
