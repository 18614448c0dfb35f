// detkd side of bench/distill: one feature-distillation training step through the Distiller,
// configured like step.py: a frozen RetinaNet ResNet-50 + FPN 256 teacher, a RetinaNet ResNet-18 +
// FPN 256 student (frozen-BN backbones, every stage trainable, no norm in FPN or heads), CWD on
// the 5 FPN levels (cwdFpn: tau 1, weight 10), SGD (lr 1e-5, see step.py) on the student. Batch 8, 3x256x256, 80
// classes, the inputs bench/detection/step.py make-data writes.
//   node --import tsx bench/distill/step.ts DIR [threads] [warmup] [steps] [lr]
// Prints one JSON line: per-step times (ms), peak RSS (MiB), the last losses, parameter counts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { keep, type Tensor, tensor, tidy, zeros } from '../../src/core/tensor.ts';
import { buildDetector, type DetectorConfig } from '../../src/detection/models/build.ts';
import { Distiller } from '../../src/distill/distiller.ts';
import { Frozen } from '../../src/distill/frozen.ts';
import { cwdFpn } from '../../src/distill/methods/features.ts';
import { SGD } from '../../src/nn/optim/sgd.ts';
import type { ImageMeta } from '../../src/structures/instances.ts';
import type { Batch } from '../../src/structures/tensor-batch.ts';

const pos = process.argv.slice(2);
const dataDir = pos[0] ?? '.cache/bench-detection';
const [threads = 2, warmup = 2, steps = 5, lr = 1e-5] = pos.slice(1).map(Number);
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
const raw = readFileSync(join(dataDir, 'images.u8'));
const px = new Float32Array(raw.length);
for (let i = 0; i < raw.length; i++) px[i] = raw[i]!;
const metas: ImageMeta[] = Array.from({ length: B }, (_, i) => ({
  imageId: i + 1,
  fileName: `bench-${i}`,
  oriShape: [S, S],
  imgShape: [S, S],
  padShape: [S, S],
  scaleFactor: [1, 1],
  flipped: false,
}));
const batch: Batch = {
  images: keep(tensor(px, { shape: [B, 3, S, S] })),
  metas,
  gtBoxes: meta.targets.map((t) =>
    keep(tensor(new Float32Array(t.boxes.flat()), { shape: [t.boxes.length, 4] })),
  ),
  gtLabels: meta.targets.map((t) => keep(tidy(() => tensor(new Float32Array(t.labels)).to('int64')))),
  ignoreBoxes: meta.targets.map(() => keep(zeros([0, 4]))),
};

const cfg = (depth: 18 | 50): DetectorConfig => ({
  kind: 'retina',
  numClasses: meta.numClasses,
  backbone: { depth, norm: 'frozen-bn' },
  channels: 256,
  stackedConvs: 4,
  numLevels: 5,
  neckNorm: null,
  headNorm: null,
});
const student = buildDetector(cfg(18));
const teacher = new Frozen(buildDetector(cfg(50)));
const teacherParams = teacher.numParameters();
const d = new Distiller({ student, teacher, terms: [cwdFpn({ student, teacher })] });
d.train();
const params = d.trainableParameters();
const opt = new SGD(params, { lr, momentum: 0.9, weightDecay: 1e-4 });

const times: number[] = [];
let losses: Record<string, number> = {};
for (let i = 0; i < warmup + steps; i++) {
  const t0 = performance.now();
  tidy(() => {
    opt.zeroGrad();
    const l = d.losses(batch, { epoch: 0, step: i, iter: i });
    const vs = Object.values(l);
    const total: Tensor = vs.slice(1).reduce((a, b) => a.add(b), vs[0]!);
    total.backward();
    opt.step();
    if (i === warmup + steps - 1)
      losses = Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.item()]));
    else total.item();
  });
  if (i >= warmup) times.push(performance.now() - t0);
}
const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(
  JSON.stringify({
    side: 'detkd',
    times,
    peakRssMiB: hwm ? Number(hwm[1]) / 1024 : 0,
    losses,
    studentParams: params.reduce((n, p) => n + p.numel, 0),
    teacherParams,
    allocator: native.allocatorStats().kind,
  }),
);
