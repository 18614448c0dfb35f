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
  if (features.ndim !== 4)
    throw new RangeError(`roiAlign: features must be [B,C,H,W], got [${features.shape}]`);
  if (rois.ndim !== 2 || rois.shape[1] !== 5)
    throw new RangeError(`roiAlign: rois must be [K,5] (batch index, x1, y1, x2, y2), got [${rois.shape}]`);
  if (!Number.isInteger(o.samplingRatio))
    throw new RangeError(`roiAlign: samplingRatio must be an integer, got ${o.samplingRatio}`);
  if (!(o.spatialScale > 0))
    throw new RangeError(`roiAlign: spatialScale must be > 0, got ${o.spatialScale}`);
  const [oh, ow] = outputPair(o.outputSize);
  const [B, C] = features.shape as [number, number, number, number];
  const K = rois.shape[0] as number;
  const dtype = features.dtype;
  const device = features.device;
  return tidy(() => {
    // zeros that still hang on the features' graph, so a loss over them can run backward
    const zeroRois = (n: number): Tensor /* [n,C,oh,ow] */ =>
      zeros([n, C, oh, ow], { dtype, device }).add(features.narrow(0, 0, 0).sum());
    if (K === 0) return zeroRois(0);
    const r = rois.detach().to(dtype); // [K,5]
    const batch = r
      .select(1, 0)
      .toArray()
      .map((b) => Math.trunc(b)); // the kernel's (int) cast
    for (const b of batch)
      if (!(b >= 0 && b < B)) throw new RangeError(`roiAlign: RoI batch index ${b} outside [0, ${B})`);
    // the kernel's arithmetic, in the features' dtype and its order
    const offset = o.aligned ? 0.5 : 0;
    const startW = r.select(1, 1).mul(o.spatialScale).sub(offset); // [K]
    const startH = r.select(1, 2).mul(o.spatialScale).sub(offset); // [K]
    let roiW = r.select(1, 3).mul(o.spatialScale).sub(offset).sub(startW); // [K]
    let roiH = r.select(1, 4).mul(o.spatialScale).sub(offset).sub(startH); // [K]
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
    // group the RoIs by grid size: each group's bins are bags of the same size
    const groups = new Map<string, { gh: number; gw: number; idx: number[] }>();
    for (let k = 0; k < K; k++) {
      const gh = Math.max(gridH[k] as number, 0);
      const gw = Math.max(gridW[k] as number, 0);
      const key = gh === 0 || gw === 0 ? 'empty' : `${gh}x${gw}`;
      let g = groups.get(key);
      if (!g) {
        g = { gh, gw, idx: [] };
        groups.set(key, g);
      }
      g.idx.push(k);
    }
    // Every output bin is a weighted bag of feature rows: its grid's sample points, each with its
    // 4 bilinear corners (the kernel's pre_calc: indices and weights, zero weight for a point it
    // drops), summed by one embedding_bag over the features laid out [B*H*W, C] and divided by
    // the grid count. Autograd's embedding_bag backward scatters the gradient to those rows: no
    // per-sample tensor is ever made, forward or backward.
    const [, , H, W] = features.shape as [number, number, number, number];
    const idxParts: Tensor[] = [];
    const wParts: Tensor[] = [];
    const bagSize: number[] = []; // per group: entries per output bin
    const order: number[] = [];
    for (const g of groups.values()) {
      order.push(...g.idx);
      if (g.gh === 0 || g.gw === 0) {
        bagSize.push(0);
        continue;
      }
      const sel = tensor(g.idx, { dtype: 'int64', device }); // [n]
      const c = groupCorners(features, {
        startH: startH.indexSelect(0, sel),
        startW: startW.indexSelect(0, sel),
        binH: binH.indexSelect(0, sel),
        binW: binW.indexSelect(0, sel),
        gh: g.gh,
        gw: g.gw,
        oh,
        ow,
      });
      const image = tensor(
        g.idx.map((k) => (batch[k] as number) * H * W),
        { dtype: 'int64', device },
      ).view(-1, 1); // [n,1]
      idxParts.push(c.index.add(image).view(-1));
      wParts.push(c.weight.view(-1));
      bagSize.push(g.gh * g.gw * 4);
    }
    // bag offsets: the groups' bins in group order, each group's bins of its own size
    const offsets: number[] = [];
    const divisor: number[] = [];
    let at = 0;
    let gi = 0;
    for (const g of groups.values()) {
      const size = bagSize[gi++] as number;
      const count = Math.max(g.gh * g.gw, 1);
      for (let r = 0; r < g.idx.length * oh * ow; r++) {
        offsets.push(at);
        divisor.push(count);
        at += size;
      }
    }
    const rows = features.permute(0, 2, 3, 1).reshape(B * H * W, C); // [B*H*W, C]
    const index = idxParts.length > 0 ? cat(idxParts, 0) : zeros([0], { dtype: 'int64', device });
    const weight = wParts.length > 0 ? cat(wParts, 0) : zeros([0], { dtype, device });
    const [bags] = ops.embedding_bag(
      rows,
      index,
      tensor(offsets, { dtype: 'int64', device }),
      false,
      0, // sum
      false,
      weight,
      false,
    ); // [K*oh*ow, C] in group order
    const out = bags
      .div(tensor(divisor, { dtype, device }).view(-1, 1))
      .view(K, oh, ow, C)
      .permute(0, 3, 1, 2); // [K,C,oh,ow]
    if (order.every((k, i) => k === i)) return out.contiguous();
    const inverse = new Array<number>(K);
    order.forEach((k, i) => {
      inverse[k] = i;
    });
    return out.indexSelect(0, tensor(inverse, { dtype: 'int64', device }));
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
function groupCorners(features: Tensor /* [B,C,H,W] */, g: GroupGeometry): { index: Tensor; weight: Tensor } {
  const [, , H, W] = features.shape as [number, number, number, number];
  const { gh, gw, oh, ow } = g;
  const n = g.startH.shape[0] as number;
  const dtype = features.dtype;
  const device = features.device;
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
