// RoIAlign (Mask R-CNN, He et al. 2017, sec. 3) as an ATen composite with no backward of its own:
// the sample points of every bin are computed as torchvision 0.14's CPU kernel computes them
// (torchvision/csrc/ops/cpu/roi_align_kernel.cpp, pre_calc_for_bilinear_interpolate), read with
// grid_sampler (bilinear, border padding, align_corners false: the kernel's clamp of a point in
// [-1, 0] to 0 and in [size-1, size] to size-1), zeroed where the kernel zeroes a point (outside
// [-1, W] x [-1, H]), and averaged over the bin's grid (the kernel divides by the full grid count,
// invalid points included). libtorch's autograd differentiates grid_sampler, so gradients reach
// the features; the RoIs are detached (torchvision has no gradient for them either).
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

const BILINEAR = 0;
const BORDER = 1;

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
    // group the RoIs by grid size: each group is one grid_sampler call
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
    // every group's sample points go through one grid_sampler call (one gradient buffer for the
    // map however many grid sizes there are); each image reads its own RoIs' points
    const sampled: SampledGroup[] = [];
    const pointOffset = new Array<number>(B).fill(0); // points so far per image
    const order: number[] = [];
    for (const g of groups.values()) {
      order.push(...g.idx);
      if (g.gh === 0 || g.gw === 0) continue;
      const sel = tensor(g.idx, { dtype: 'int64', device }); // [n]
      const pts = groupPoints(features, {
        startH: startH.indexSelect(0, sel),
        startW: startW.indexSelect(0, sel),
        binH: binH.indexSelect(0, sel),
        binW: binW.indexSelect(0, sel),
        gh: g.gh,
        gw: g.gw,
        oh,
        ow,
      });
      const size = oh * g.gh * ow * g.gw; // points per RoI
      const base = g.idx.map((k) => {
        const b = batch[k] as number;
        const at = pointOffset[b] as number;
        pointOffset[b] = at + size;
        return { b, at };
      });
      sampled.push({ ...g, ...pts, base });
    }
    const perImage = Math.max(0, ...pointOffset);
    let values: Tensor | null = null; // [B*perImage, C]: every point's C values
    const positions: Tensor[] = []; // per group: [n*P*Q] rows of `values`
    if (perImage > 0) {
      const grid = zeros([B * perImage, 2], { dtype, device }); // unused slots read the centre
      const parts: Tensor[] = [];
      for (const g of sampled) {
        const size = g.grid.shape[1] as number;
        const start = tensor(
          g.base.map(({ b, at }) => b * perImage + at),
          { dtype: 'int64', device },
        ); // [n]
        const pos = start
          .view(-1, 1)
          .add(arange(0, size, 1, { dtype: 'int64', device }).view(1, size))
          .view(-1); // [n*P*Q]
        positions.push(pos);
        parts.push(g.grid.reshape(-1, 2));
      }
      const all = grid.indexPut([cat(positions, 0)], cat(parts, 0)).view(B, perImage, 1, 2); // [B,perImage,1,2]
      values = ops
        .grid_sampler(features, all, BILINEAR, BORDER, false) // [B,C,perImage,1]
        .view(B, C, perImage)
        .transpose(1, 2)
        .reshape(B * perImage, C);
    }
    const outs: Tensor[] = [];
    let s = 0;
    for (const g of groups.values()) {
      const n = g.idx.length;
      if (g.gh === 0 || g.gw === 0) {
        outs.push(zeroRois(n));
        continue;
      }
      const sg = sampled[s] as SampledGroup;
      const pos = positions[s] as Tensor;
      s++;
      const P = oh * g.gh;
      const Q = ow * g.gw;
      const v = (values as Tensor).indexSelect(0, pos).view(n, P, Q, C).permute(0, 3, 1, 2); // [n,C,P,Q]
      outs.push(
        where(sg.valid, v, 0)
          .reshape(n, C, oh, g.gh, ow, g.gw)
          .sum([3, 5])
          .div(g.gh * g.gw), // [n,C,oh,ow]
      );
    }
    const out = outs.length === 1 ? (outs[0] as Tensor) : cat(outs, 0); // [K,C,oh,ow] in group order
    if (order.every((k, i) => k === i)) return out;
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

interface SampledGroup {
  gh: number;
  gw: number;
  idx: number[];
  grid: Tensor; // [n,P*Q,2]
  valid: Tensor; // [n,1,P,Q]
  base: { b: number; at: number }[];
}

/**
 * The sample points of n RoIs that all have a gh x gw grid per bin, as grid_sampler coordinates
 * grid [n, P*Q, 2] (P = oh*gh rows, Q = ow*gw columns), and where the kernel keeps them, valid
 * [n,1,P,Q].
 */
function groupPoints(features: Tensor /* [B,C,H,W] */, g: GroupGeometry): { grid: Tensor; valid: Tensor } {
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
  const y = along(g.startH, g.binH, oh, gh); // [n,P] feature pixels
  const x = along(g.startW, g.binW, ow, gw); // [n,Q]
  // the kernel zeroes a point with y < -1 || y > H || x < -1 || x > W
  const valid = y
    .ge(-1)
    .logicalAnd(y.le(H))
    .view(n, 1, P, 1)
    .logicalAnd(x.ge(-1).logicalAnd(x.le(W)).view(n, 1, 1, Q)); // [n,1,P,Q]
  // pixel -> grid_sampler's normalised coordinate (align_corners false: x = ((u + 1) * W - 1) / 2)
  const u = x.mul(2).add(1).div(W).sub(1).view(n, 1, Q).expand(n, P, Q); // [n,P,Q]
  const v = y.mul(2).add(1).div(H).sub(1).view(n, P, 1).expand(n, P, Q); // [n,P,Q]
  return { grid: stack([u, v], -1).view(n, P * Q, 2), valid };
}
