// RoIAlign (Mask R-CNN, He et al. 2017, sec. 3) as an ATen composite with no backward of its own:
// the sample points of every bin and their bilinear corners and weights are computed as
// torchvision 0.14's CPU kernel computes them (torchvision/csrc/ops/cpu/roi_align_kernel.cpp,
// pre_calc_for_bilinear_interpolate: a point in [-1, 0] reads 0, one in [size-1, size] reads
// size-1, one outside [-1, size] is dropped), and each output bin is the weighted sum of those
// feature rows (one embedding_bag, sum mode, per-sample weights) divided by the bin's grid count
// (invalid points included, as the kernel). libtorch's autograd differentiates embedding_bag with
// respect to the features (a scatter-add of the weighted gradient), so gradients reach the
// features; the RoIs are detached (torchvision has no gradient for them either). No per-sample
// tensor of features is made, so memory stays the output's, as the kernel's.
import * as ops from '../../core/ops.generated.ts';
import { arange, cat, stack, type Tensor, tensor, tidy, where, zeros } from '../../core/tensor.ts';

export interface RoiAlignOptions {
  /** Output bins (oh, ow), or one number for a square output. */
  outputSize: number | readonly [number, number];
  /** Multiplies the RoI coordinates into feature-map pixels (1 / stride). */
  spatialScale: number;
  /** Sample points per bin side; 0 (or negative, as torchvision) = adaptive ceil(roi size / bins). */
  samplingRatio: number;
  /** true: shift the box by -0.5 pixel (Detectron2); false: the legacy op, RoI sides at least 1. */
  aligned: boolean;
}

/** (oh, ow) from a number or a pair, checked. */
export function outputPair(outputSize: number | readonly [number, number]): [number, number] {
  const [oh, ow] = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (!Number.isInteger(oh) || !Number.isInteger(ow) || oh < 1 || ow < 1)
    throw new RangeError(`roiAlign: outputSize must be positive integers, got ${String(outputSize)}`);
  return [oh, ow];
}

/**
 * features [B,C,H,W], rois [K,5] (batch index, x1, y1, x2, y2 in the units spatialScale maps to
 * feature pixels) -> [K,C,oh,ow], in RoI order, the features' dtype. Equals torchvision's
 * roi_align to rounding (docs/roi-align.md). K = 0 gives [0,C,oh,ow]; a RoI whose adaptive grid is
 * empty (zero or negative size with aligned) gives zeros, as torchvision.
 */
export function roiAlign(
  features: Tensor /* [B,C,H,W] */,
  rois: Tensor /* [K,5] */,
  o: RoiAlignOptions,
): Tensor {
  const { spatialScale, ...rest } = o;
  return roiAlignLevels([{ features, spatialScale }], rois, null, rest);
}

/** One feature map RoIs are pooled from, and the scale from RoI units to its pixels. */
export interface RoiLevel {
  features: Tensor /* [B,C,H,W] */;
  spatialScale: number;
}

/**
 * roiAlign over several maps of the same batch and channels at once: RoI k is pooled from
 * levels[level[k]] (level null: every RoI from levels[0]) and the result is [K,C,oh,ow] in RoI
 * order, each row equal to roiAlign on its own level. One embedding_bag for all levels: no
 * per-level results to concatenate and reorder (MultiScaleRoIAlign's path).
 */
export function roiAlignLevels(
  levels: readonly RoiLevel[],
  rois: Tensor /* [K,5] */,
  level: readonly number[] | null,
  o: Omit<RoiAlignOptions, 'spatialScale'>,
): Tensor {
  if (levels.length === 0) throw new RangeError('roiAlign: no feature map');
  for (const { features, spatialScale } of levels) {
    if (features.ndim !== 4)
      throw new RangeError(`roiAlign: features must be [B,C,H,W], got [${features.shape}]`);
    if (!(spatialScale > 0)) throw new RangeError(`roiAlign: spatialScale must be > 0, got ${spatialScale}`);
  }
  if (rois.ndim !== 2 || rois.shape[1] !== 5)
    throw new RangeError(`roiAlign: rois must be [K,5] (batch index, x1, y1, x2, y2), got [${rois.shape}]`);
  if (!Number.isInteger(o.samplingRatio))
    throw new RangeError(`roiAlign: samplingRatio must be an integer, got ${o.samplingRatio}`);
  const [oh, ow] = outputPair(o.outputSize);
  const first = (levels[0] as RoiLevel).features;
  const [B, C] = first.shape as [number, number, number, number];
  for (const { features } of levels) {
    if (features.shape[0] !== B || features.shape[1] !== C)
      throw new RangeError(
        `roiAlign: levels differ in batch or channels: [${features.shape}] vs [${first.shape}]`,
      );
  }
  const K = rois.shape[0] as number;
  if (level !== null && level.length !== K)
    throw new RangeError(`roiAlign: ${level.length} level indices for ${K} RoIs`);
  const dtype = first.dtype;
  const device = first.device;
  return tidy(() => {
    if (K === 0) {
      // zeros that still hang on every map's graph, so a loss over them can run backward
      let z = zeros([0, C, oh, ow], { dtype, device });
      for (const { features } of levels) z = z.add(features.narrow(0, 0, 0).sum());
      return z;
    }
    const lv = level ?? new Array<number>(K).fill(0);
    for (const l of lv)
      if (!(Number.isInteger(l) && l >= 0 && l < levels.length))
        throw new RangeError(`roiAlign: level ${l} outside [0, ${levels.length})`);
    const r = rois.detach().to(dtype); // [K,5]
    const batch = r
      .select(1, 0)
      .toArray()
      .map((b) => Math.trunc(b)); // the kernel's (int) cast
    for (const b of batch)
      if (!(b >= 0 && b < B)) throw new RangeError(`roiAlign: RoI batch index ${b} outside [0, ${B})`);
    // the kernel's arithmetic, in the features' dtype and its order, each RoI at its level's scale
    const scale = tensor(
      lv.map((l) => (levels[l] as RoiLevel).spatialScale),
      { dtype, device },
    ); // [K]
    const offset = o.aligned ? 0.5 : 0;
    const startW = r.select(1, 1).mul(scale).sub(offset); // [K]
    const startH = r.select(1, 2).mul(scale).sub(offset); // [K]
    let roiW = r.select(1, 3).mul(scale).sub(offset).sub(startW); // [K]
    let roiH = r.select(1, 4).mul(scale).sub(offset).sub(startH); // [K]
    if (!o.aligned) {
      roiW = roiW.clampMin(1);
      roiH = roiH.clampMin(1);
    }
    const binW = roiW.div(ow); // [K]
    const binH = roiH.div(oh); // [K]
    let gridH: number[];
    let gridW: number[];
    if (o.samplingRatio > 0) {
      gridH = new Array<number>(K).fill(o.samplingRatio);
      gridW = gridH;
    } else {
      gridH = binH.ceil().toArray();
      gridW = binW.ceil().toArray();
    }
    // Every output bin is a weighted bag of feature rows: its grid's sample points, each with its
    // 4 bilinear corners (the kernel's pre_calc: indices and weights, zero weight for a point it
    // drops), summed by one embedding_bag over every level's features laid out [B*H*W, C] one
    // after another, and divided by the grid count. Autograd's embedding_bag backward scatters the
    // gradient to those rows: no per-sample tensor is ever made, forward or backward.
    const rowBase: number[] = []; // first row of each level
    let rowsSoFar = 0;
    for (const { features } of levels) {
      rowBase.push(rowsSoFar);
      rowsSoFar += B * (features.shape[2] as number) * (features.shape[3] as number);
    }
    // bags in RoI order: RoI k's oh*ow bins each hold gh_k*gw_k*4 entries
    const per = (k: number) => Math.max(gridH[k] as number, 0) * Math.max(gridW[k] as number, 0);
    const entryStart: number[] = [];
    const offsets: number[] = [];
    const divisor: number[] = [];
    let at = 0;
    for (let k = 0; k < K; k++) {
      entryStart.push(at);
      const size = per(k) * 4;
      const count = Math.max(per(k), 1);
      for (let j = 0; j < oh * ow; j++) {
        offsets.push(at);
        divisor.push(count);
        at += size;
      }
    }
    const index = zeros([at], { dtype: 'int64', device });
    const weight = zeros([at], { dtype, device });
    // the RoIs of one level and grid size share their corners' computation
    const groups = new Map<string, { l: number; gh: number; gw: number; idx: number[] }>();
    for (let k = 0; k < K; k++) {
      if (per(k) === 0) continue; // an empty bag: zeros
      const l = lv[k] as number;
      const key = `${l}:${gridH[k]}x${gridW[k]}`;
      let g = groups.get(key);
      if (!g) {
        g = { l, gh: gridH[k] as number, gw: gridW[k] as number, idx: [] };
        groups.set(key, g);
      }
      g.idx.push(k);
    }
    for (const g of groups.values()) {
      const f = (levels[g.l] as RoiLevel).features;
      const [H, W] = [f.shape[2] as number, f.shape[3] as number];
      const sel = tensor(g.idx, { dtype: 'int64', device }); // [n]
      const c = groupCorners(H, W, dtype, device, {
        startH: startH.indexSelect(0, sel),
        startW: startW.indexSelect(0, sel),
        binH: binH.indexSelect(0, sel),
        binW: binW.indexSelect(0, sel),
        gh: g.gh,
        gw: g.gw,
        oh,
        ow,
      });
      const E = oh * ow * g.gh * g.gw * 4; // entries per RoI
      const image = tensor(
        g.idx.map((k) => (rowBase[g.l] as number) + (batch[k] as number) * H * W),
        { dtype: 'int64', device },
      ).view(-1, 1); // [n,1]
      const pos = tensor(
        g.idx.map((k) => entryStart[k] as number),
        { dtype: 'int64', device },
      )
        .view(-1, 1)
        .add(arange(0, E, 1, { dtype: 'int64', device }).view(1, E))
        .view(-1); // [n*E]
      index.indexPut_([pos], c.index.add(image).view(-1));
      weight.indexPut_([pos], c.weight.view(-1));
    }
    const rows = cat(
      levels.map(({ features }) => features.permute(0, 2, 3, 1).reshape(-1, C)),
      0,
    ); // [sum_l B*H_l*W_l, C]
    const [bags] = ops.embedding_bag(
      rows,
      index,
      tensor(offsets, { dtype: 'int64', device }),
      false,
      0, // sum
      false,
      weight,
      false,
    ); // [K*oh*ow, C]
    return bags
      .div_(tensor(divisor, { dtype, device }).view(-1, 1))
      .view(K, oh, ow, C)
      .permute(0, 3, 1, 2)
      .contiguous(); // [K,C,oh,ow]
  });
}

interface GroupGeometry {
  startH: Tensor; // [n]
  startW: Tensor; // [n]
  binH: Tensor; // [n]
  binW: Tensor; // [n]
  gh: number;
  gw: number;
  oh: number;
  ow: number;
}

/**
 * The bilinear corners of n RoIs that all have a gh x gw grid per bin, as the kernel's pre_calc
 * computes them: per output bin (row-major), per sample (iy, ix), 4 flat indices y*W + x into one
 * image's H x W map and their weights (hy*hx, hy*lx, ly*hx, ly*lx; 0 for a point outside
 * [-1, H] x [-1, W]). index and weight [n, oh*ow*gh*gw*4].
 */
function groupCorners(
  H: number,
  W: number,
  dtype: Tensor['dtype'],
  device: Tensor['device'],
  g: GroupGeometry,
): { index: Tensor; weight: Tensor } {
  const { gh, gw, oh, ow } = g;
  const n = g.startH.shape[0] as number;
  const P = oh * gh;
  const Q = ow * gw;
  // y = roi_start_h + ph * bin_size_h + (iy + .5) * bin_size_h / roi_bin_grid_h (the kernel's order)
  const along = (
    start: Tensor /* [n] */,
    bin: Tensor /* [n] */,
    bins: number,
    grid: number,
  ): Tensor /* [n, bins*grid] */ => {
    const p = arange(0, bins, 1, { dtype, device }).view(1, bins, 1); // [1,bins,1]
    const i = arange(0, grid, 1, { dtype, device }).add(0.5).view(1, 1, grid); // [1,1,grid]
    const b = bin.view(n, 1, 1); // [n,1,1]
    return start
      .view(n, 1, 1)
      .add(p.mul(b))
      .add(i.mul(b).div(grid))
      .reshape(n, bins * grid);
  };
  // One axis: a point in [-1, 0] reads 0, one at or past size-1 reads size-1 (low = high there),
  // else low = floor, high = low + 1; l = v - low, h = 1 - l.
  const axis = (v: Tensor, size: number) => {
    const inside = v.ge(-1).logicalAnd(v.le(size));
    const c = v.clampMin(0);
    const edge = c.floor().ge(size - 1);
    const low = where(edge, size - 1, c.floor());
    const high = where(edge, size - 1, low.add(1));
    const l = where(edge, 0, c.sub(low));
    return { inside, low: low.to('int64'), high: high.to('int64'), l, h: l.rsub(1) };
  };
  const y = axis(along(g.startH, g.binH, oh, gh), H); // [n,P]
  const x = axis(along(g.startW, g.binW, ow, gw), W); // [n,Q]
  const Y = (t: Tensor) => t.view(n, P, 1);
  const X = (t: Tensor) => t.view(n, 1, Q);
  const valid = Y(y.inside).logicalAnd(X(x.inside)).to(dtype); // [n,P,Q]
  const index = stack(
    [
      Y(y.low).mul(W).add(X(x.low)),
      Y(y.low).mul(W).add(X(x.high)),
      Y(y.high).mul(W).add(X(x.low)),
      Y(y.high).mul(W).add(X(x.high)),
    ],
    -1,
  ); // [n,P,Q,4]
  const weight = stack(
    [Y(y.h).mul(X(x.h)), Y(y.h).mul(X(x.l)), Y(y.l).mul(X(x.h)), Y(y.l).mul(X(x.l))],
    -1,
  ).mul(valid.unsqueeze(-1)); // [n,P,Q,4]
  // [n, oh, gh, ow, gw, 4] -> bins row-major, then each bin's samples (iy, ix) and corners
  const perBin = (t: Tensor) =>
    t
      .view(n, oh, gh, ow, gw, 4)
      .permute(0, 1, 3, 2, 4, 5)
      .reshape(n, oh * ow * gh * gw * 4);
  return { index: perBin(index), weight: perBin(weight) };
}
