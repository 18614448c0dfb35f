// detkd side of bench/roi: multi-scale RoIAlign over 4 FPN levels, forward + backward, on the
// RoIs roi_align.py make-data wrote (see roi_align.py for the configurations). Prints one JSON line.
//   node --import tsx bench/roi/roi-align.ts tv|mmdet DIR [threads] [warmup] [steps]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { keep, randn, tensor, tidy } from '../../src/core/tensor.ts';
import { MultiScaleRoIAlign } from '../../src/detection/roi/multi-scale-roi-align.ts';

const [config = 'tv', dir = '.cache/bench-roi', ...rest] = process.argv.slice(2);
const [threads = 2, warmup = 3, steps = 10] = rest.map(Number);
native.setNumThreads(threads);
manualSeed(0);

const d = JSON.parse(readFileSync(join(dir, 'rois.json'), 'utf8')) as {
  batch: number;
  channels: number;
  size: number;
  strides: number[];
  rois: number[][];
};
const rois = keep(tensor(new Float32Array(d.rois.flat())).reshape(d.rois.length, 5)); // [K, 5]
const feats = d.strides.map((s) =>
  keep(randn([d.batch, d.channels, d.size / s, d.size / s])).requiresGrad_(true),
);
const cot = keep(randn([d.rois.length, d.channels, 7, 7]));
const pool =
  config === 'tv'
    ? new MultiScaleRoIAlign({ featmapStrides: d.strides, outputSize: 7, samplingRatio: 2, aligned: false })
    : new MultiScaleRoIAlign({
        featmapStrides: d.strides,
        outputSize: 7,
        samplingRatio: 0,
        aligned: true,
        mapper: 'mmdet',
      });

const times: number[] = [];
for (let i = 0; i < warmup + steps; i++) {
  const t0 = performance.now();
  tidy(() => {
    for (const f of feats) f.grad = null; // as PyTorch's grad = None
    pool.forward(feats, rois).mul(cot).sum().backward();
  });
  const dt = performance.now() - t0;
  if (i >= warmup) times.push(dt);
}
const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(JSON.stringify({ side: 'detkd', times, peakRssMiB: hwm ? Number(hwm[1]) / 1024 : 0 }));
