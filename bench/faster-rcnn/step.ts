// detkd side of bench/faster-rcnn: one training step (zero-grad + forward with training proposals
// + RPN assignment + RoI sampling + the four losses + backward + SGD step) of detkd's Faster R-CNN
// R18-FPN, batch 8, built with buildFasterRcnn({ preset: 'torchvision' }) so every setting matches
// torchvision 0.14's FasterRCNN in step.py row for row (docs/two-stage.md, "Presets"): ResNet-18
// (every stage trainable) with train-mode BN ('bn', default) or frozen BN ('frozen-bn'), FPN 256
// P2..P6 without norm and a max-pooled P6, RPN with 3 anchors per location, training proposals
// 2000 / 2000, RPN sampler 256 at 0.5, MultiScaleRoIAlign 7x7 on P2..P5 (sampling ratio 2,
// aligned false), RoI sampler 512 at 0.25, Shared2FC 1024, class-specific box regression. Inputs
// come from the files step.py make-data writes (0..1 images, normalised with ImageNet mean / std
// inside the detector, as torchvision's transform does).
//   node --import tsx bench/faster-rcnn/step.ts info DIR [--norm bn|frozen-bn]
//   node --import tsx bench/faster-rcnn/step.ts step DIR [threads] [warmup] [steps] [--norm bn|frozen-bn]
// `info` prints one JSON line with the trainable parameter count and the sorted parameter shapes;
// `step` one JSON line with per-step times (ms), peak RSS (MiB, process.resourceUsage().maxRSS),
// the last step's losses and the parameter count.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { keep, type Tensor, tensor, tidy } from '../../src/core/tensor.ts';
import type { NormKind } from '../../src/detection/backbones/norm.ts';
import { buildFasterRcnn } from '../../src/detection/models/faster-rcnn-presets.ts';
import { randpermSource } from '../../src/detection/samplers/random-sampler.ts';
import type { TwoStageGt } from '../../src/detection/two-stage.ts';
import { SGD } from '../../src/nn/optim/sgd.ts';

const argv = process.argv.slice(2);
let norm: NormKind = 'bn';
const ni = argv.indexOf('--norm');
if (ni >= 0) {
  const v = argv[ni + 1];
  if (v !== 'bn' && v !== 'frozen-bn') throw new Error(`step.ts: --norm must be bn|frozen-bn, got ${v}`);
  norm = v;
  argv.splice(ni, 2);
}
const pos = argv.filter((a) => !a.startsWith('--'));
const mode = pos[0];
if (mode !== 'info' && mode !== 'step') throw new Error(`step.ts: mode must be info|step, got ${mode}`);
const dataDir = pos[1] ?? '.cache/bench-faster-rcnn-256';
const [threads = 2, warmup = 2, steps = 5] = pos.slice(2).map(Number);
native.setNumThreads(threads);
manualSeed(0);

interface TargetsFile {
  batch: number;
  size: number;
  numClasses: number;
  targets: { boxes: number[][]; labels: number[] }[];
}
const meta = JSON.parse(readFileSync(join(dataDir, 'targets.json'), 'utf8')) as TargetsFile;
const B = meta.batch;
const S = meta.size;

const det = buildFasterRcnn({
  preset: 'torchvision',
  numClasses: meta.numClasses,
  backbone: { depth: 18, norm },
});
const params = det.trainableParameters();
const nParams = params.reduce((n, p) => n + p.numel, 0);
if (mode === 'info') {
  const shapes = params.map((p) => p.shape.join('x')).sort();
  console.log(JSON.stringify({ side: 'detkd', norm, params: nParams, shapes }));
  process.exit(0);
}

// [B, 3, S, S] in 0..1: uint8 -> float32 / 255 as a tensor op, as step.py's im.float().div(255).
const raw = readFileSync(join(dataDir, 'images.u8'));
const images = keep(tidy(() => tensor(Float32Array.from(raw), { shape: [B, 3, S, S] }).div(255)));
// Labels 0..N-1 contiguous (torchvision's 1..N minus 1).
const gts: TwoStageGt[] = meta.targets.map((t) => ({
  boxes: keep(tensor(new Float32Array(t.boxes.flat()), { shape: [t.boxes.length, 4] })),
  labels: keep(tidy(() => tensor(new Float32Array(t.labels)).to('int64'))),
}));

det.train();
const opt = new SGD(params, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
// The samplers draw from the global generator, as torchvision's torch.randperm.
const sources = { rpnSource: randpermSource(null), roiSource: randpermSource(null) };

const times: number[] = [];
let losses: Record<string, number> = {};
let lossValue = 0;
for (let i = 0; i < warmup + steps; i++) {
  const t0 = performance.now();
  tidy(() => {
    opt.zeroGrad();
    const l = det.losses(images, gts, sources);
    const vs: Tensor[] = Object.values(l);
    const total = vs.slice(1).reduce((a, b) => a.add(b), vs[0]!);
    total.backward();
    opt.step();
    lossValue = total.item();
    if (i === warmup + steps - 1)
      losses = Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.item()]));
  });
  const dt = performance.now() - t0;
  if (i >= warmup) times.push(dt);
}
console.log(
  JSON.stringify({
    side: 'detkd',
    norm,
    times,
    // maxRSS is in KiB: the process's high-water resident set (ru_maxrss, as step.py reads).
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    loss: lossValue,
    losses,
    params: nParams,
    allocator: native.allocatorStats().kind,
  }),
);
