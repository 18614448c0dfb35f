// Multi-scale RoIAlign over FPN levels: each RoI is pooled from one level chosen by its size, one
// roiAlign per level, results back in RoI order. Two level mappers:
// - 'torchvision' (torchvision/ops/poolers.py LevelMapper, 0.14; FPN paper eq. 1):
//   lvl = floor(canonicalLevel + log2(sqrt(area) / canonicalScale) + 1e-6), clamped to the levels
//   present (k_min = log2(first stride) .. k_max = log2(last stride)), minus k_min.
// - 'mmdet' (mmdet SingleRoIExtractor.map_roi_levels):
//   lvl = floor(log2(sqrt(area) / finestScale + 1e-6)), clamped to [0, numLevels - 1].
// Both use area = (x2 - x1) * (y2 - y1) in the RoIs' dtype. The eps sits outside the log in one
// and inside in the other, so they can differ for a RoI a hair below a level boundary.
import { noGrad, type Tensor, tidy } from '../../core/tensor.ts';
import { outputPair, roiAlignLevels } from './roi-align.ts';

export type LevelMapperKind = 'torchvision' | 'mmdet';

export interface LevelMapperOptions {
  /** One stride per level, finest first (powers of two, doubling, for the torchvision mapper). */
  featmapStrides: readonly number[];
  /** Default 'torchvision'. */
  mapper?: LevelMapperKind;
  /** torchvision: the RoI side pooled from canonicalLevel (default 224). */
  canonicalScale?: number;
  /** torchvision: k0 of the FPN paper's eq. 1 (default 4). */
  canonicalLevel?: number;
  /** mmdet: RoIs with sqrt(area) below 2 * finestScale go to the first level (default 56). */
  finestScale?: number;
}

export interface MultiScaleRoIAlignOptions extends LevelMapperOptions {
  outputSize: number | readonly [number, number];
  samplingRatio: number;
  aligned: boolean;
}

const EPS = 1e-6;

function checkStrides(o: LevelMapperOptions): void {
  const s = o.featmapStrides;
  if (s.length === 0) throw new RangeError('MultiScaleRoIAlign: featmapStrides is empty');
  for (const v of s) if (!(v > 0)) throw new RangeError(`MultiScaleRoIAlign: stride ${v} is not positive`);
  if ((o.mapper ?? 'torchvision') === 'torchvision')
    s.forEach((v, l) => {
      if (!Number.isInteger(Math.log2(v)) || (l > 0 && v !== 2 * (s[l - 1] as number)))
        throw new RangeError(
          `MultiScaleRoIAlign: the torchvision mapper needs power-of-two strides doubling per level, got [${s.join(', ')}]`,
        );
    });
}

/**
 * The level index (0 = finest) each RoI is pooled from: rois [K,5] (batch index, x1, y1, x2, y2
 * in image pixels) -> [K] int64. No gradient.
 */
export function mapRoiLevels(rois: Tensor /* [K,5] */, o: LevelMapperOptions): Tensor /* [K] int64 */ {
  checkStrides(o);
  if (rois.ndim !== 2 || rois.shape[1] !== 5)
    throw new RangeError(`mapRoiLevels: rois must be [K,5], got [${rois.shape}]`);
  const numLevels = o.featmapStrides.length;
  return noGrad(() =>
    tidy(() => {
      const r = rois.detach();
      const b = r.dtype === 'float64' || r.dtype === 'float32' ? r : r.float(); // [K,5]
      const area = b
        .select(1, 3)
        .sub(b.select(1, 1))
        .mul(b.select(1, 4).sub(b.select(1, 2))); // [K]
      const scale = area.sqrt(); // [K]
      const mapper = o.mapper ?? 'torchvision';
      switch (mapper) {
        case 'torchvision': {
          const kMin = Math.log2(o.featmapStrides[0] as number);
          const kMax = kMin + numLevels - 1;
          return scale
            .div(o.canonicalScale ?? 224)
            .log2()
            .add(o.canonicalLevel ?? 4)
            .add(EPS)
            .floor()
            .clamp(kMin, kMax)
            .long()
            .sub(kMin);
        }
        case 'mmdet':
          return scale
            .div(o.finestScale ?? 56)
            .add(EPS)
            .log2()
            .floor()
            .clamp(0, numLevels - 1)
            .long();
        default: {
          const never: never = mapper;
          throw new RangeError(`mapRoiLevels: unknown mapper '${String(never)}'`);
        }
      }
    }),
  );
}

/** RoIAlign over FPN levels (no parameters, so not a Module). */
export class MultiScaleRoIAlign {
  readonly options: Readonly<MultiScaleRoIAlignOptions>;
  readonly outputSize: readonly [number, number];

  constructor(o: MultiScaleRoIAlignOptions) {
    checkStrides(o);
    this.outputSize = outputPair(o.outputSize);
    this.options = { ...o, featmapStrides: [...o.featmapStrides] };
  }

  /**
   * feats: one [B,C,H_l,W_l] per level, finest first; rois [K,5] (batch index, x1, y1, x2, y2 in
   * image pixels) -> [K,C,oh,ow] in RoI order.
   */
  forward(
    feats: readonly Tensor[] /* [B,C,H_l,W_l] per level */,
    rois: Tensor /* [K,5] */,
  ): Tensor /* [K,C,oh,ow] */ {
    const o = this.options;
    if (feats.length !== o.featmapStrides.length)
      throw new RangeError(
        `MultiScaleRoIAlign: ${feats.length} feature levels for ${o.featmapStrides.length} strides`,
      );
    const common = { outputSize: this.outputSize, samplingRatio: o.samplingRatio, aligned: o.aligned };
    const levels = feats.map((features, l) => ({
      features,
      spatialScale: 1 / (o.featmapStrides[l] as number),
    }));
    return tidy(() => {
      const K = rois.shape[0] as number;
      if (K === 0 || feats.length === 1) return roiAlignLevels(levels.slice(0, 1), rois, null, common);
      // one pass over every level, results already in RoI order
      return roiAlignLevels(levels, rois, mapRoiLevels(rois, o).toArray(), common);
    });
  }
}
