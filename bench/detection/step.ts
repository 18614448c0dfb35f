// detkd side of bench/detection: one training step (forward + assign + loss + backward + SGD
// step) of detkd's RetinaNet or FCOS on ResNet-18 + FPN, batch 8, 3x256x256, configured like
// torchvision's models in step.py (frozen BN backbone, every stage trainable, FPN 256 P3..P7
// without norm, 4-conv towers, no head norm for RetinaNet and GN(32) for FCOS). Inputs come from
// the files step.py make-data writes, so both sides see the same images and boxes.
//   node --import tsx bench/detection/step.ts retina|fcos DIR [threads] [warmup] [steps] [--profile]
// Prints one JSON line: per-step times (ms), peak RSS (MiB), the last losses; with --profile also
// the mean ms per phase, the share of each phase spent inside native op calls, and the ops that
// took the most time per phase (JS wrapper cost = phase time - native time), and the peak bytes
// of live tensors seen after any op call of each phase.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type NativeArg, native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { keep, type Tensor, tensor, tidy, zeros } from '../../src/core/tensor.ts';
import type { DenseDetector } from '../../src/detection/detector.ts';
import { DenseDetector as Det } from '../../src/detection/detector.ts';
import { buildDetector } from '../../src/detection/models/build.ts';
import type { LossDict } from '../../src/detection/types.ts';
import { SGD } from '../../src/nn/optim/sgd.ts';
import type { ImageMeta } from '../../src/structures/instances.ts';
import type { Batch } from '../../src/structures/tensor-batch.ts';

const argv = process.argv.slice(2);
const profile = argv.includes('--profile');
const pos = argv.filter((a) => !a.startsWith('--'));
const kind = pos[0];
if (kind !== 'retina' && kind !== 'fcos') throw new Error(`step.ts: kind must be retina|fcos, got ${kind}`);
const dataDir = pos[1] ?? '.cache/bench-detection';
const [threads = 2, warmup = 3, steps = 10] = pos.slice(2).map(Number);
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

function makeBatch(): Batch {
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
  return {
    images: keep(tensor(px, { shape: [B, 3, S, S] })), // [B, 3, S, S] 0..255
    metas,
    gtBoxes: meta.targets.map((t) =>
      keep(tensor(new Float32Array(t.boxes.flat()), { shape: [t.boxes.length, 4] })),
    ),
    gtLabels: meta.targets.map((t) => keep(tidy(() => tensor(new Float32Array(t.labels)).to('int64')))),
    ignoreBoxes: meta.targets.map(() => keep(zeros([0, 4]))),
  };
}

const det: DenseDetector = buildDetector({
  kind,
  numClasses: meta.numClasses,
  backbone: { depth: 18, norm: 'frozen-bn' },
  channels: 256,
  stackedConvs: 4,
  numLevels: 5,
  neckNorm: null,
  headNorm: kind === 'retina' ? null : 'gn',
});
det.train();
const params = det.trainableParameters();
const opt = new SGD(params, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
const batch = makeBatch();

// --- profiling: time per phase and per native op call ---------------------------------------
type Phase = 'forward' | 'assign' | 'loss' | 'backward' | 'optimizer';
const PHASES: Phase[] = ['forward', 'assign', 'loss', 'backward', 'optimizer'];
const phaseMs = new Map<Phase, number>(PHASES.map((p) => [p, 0]));
const nativeMs = new Map<Phase, number>(PHASES.map((p) => [p, 0]));
// Peak bytes held by live tensor handles, sampled after every op call of the phase.
const peakLiveMiB = new Map<Phase, number>(PHASES.map((p) => [p, 0]));
const opStats = new Map<Phase, Map<string, { calls: number; ms: number }>>(PHASES.map((p) => [p, new Map()]));
let current: Phase = 'forward';
let recording = false;
if (profile) {
  const names = native.opTable().map((o) => o.name);
  type Call = (id: number, ...args: NativeArg[]) => unknown;
  const wrapCall = <F extends Call>(f: F): F =>
    ((id: number, ...args: NativeArg[]) => {
      if (!recording) return f(id, ...args);
      const t0 = performance.now();
      try {
        return f(id, ...args);
      } finally {
        const dt = performance.now() - t0;
        const live = native.liveHandles().bytes / 2 ** 20;
        if (live > peakLiveMiB.get(current)!) peakLiveMiB.set(current, live);
        nativeMs.set(current, nativeMs.get(current)! + dt);
        const m = opStats.get(current)!;
        const n = names[id] ?? `op#${id}`;
        const s = m.get(n) ?? { calls: 0, ms: 0 };
        s.calls++;
        s.ms += dt;
        m.set(n, s);
      }
    }) as F;
  native.callTensor = wrapCall(native.callTensor.bind(native));
  native.callTensors = wrapCall(native.callTensors.bind(native));
  native.callVoid = wrapCall(native.callVoid.bind(native));
  native.callValue = wrapCall(native.callValue.bind(native));
  const backward = native.backward.bind(native);
  native.backward = (...a: Parameters<typeof backward>) => {
    const t0 = performance.now();
    backward(...a);
    if (recording) nativeMs.set(current, nativeMs.get(current)! + performance.now() - t0);
  };
}
function phase<T>(p: Phase, fn: () => T): T {
  current = p;
  const t0 = performance.now();
  const r = fn();
  if (recording) phaseMs.set(p, phaseMs.get(p)! + performance.now() - t0);
  return r;
}

function sumLosses(l: LossDict): Tensor {
  const vs = Object.values(l);
  return vs.slice(1).reduce((a, b) => a.add(b), vs[0]!);
}

const times: number[] = [];
let losses: Record<string, number> = {};
let lossValue = 0;
for (let i = 0; i < warmup + steps; i++) {
  recording = profile && i >= warmup;
  const t0 = performance.now();
  tidy(() => {
    opt.zeroGrad();
    let total: Tensor;
    if (profile) {
      // The same work as det.losses(batch), phase by phase.
      const fwd = phase('forward', () => det.forward(batch.images, batch.metas));
      const gts = Det.gts(batch);
      const a = phase('assign', () => det.assign(fwd, gts));
      const l = phase('loss', () => det.headLosses(fwd, gts, a));
      total = phase('loss', () => sumLosses(l));
      losses = Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.item()]));
    } else {
      const l = det.losses(batch);
      total = sumLosses(l);
      if (i === warmup + steps - 1)
        losses = Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.item()]));
    }
    phase('backward', () => total.backward());
    phase('optimizer', () => opt.step());
    lossValue = total.item();
  });
  const dt = performance.now() - t0;
  if (i >= warmup) times.push(dt);
}
const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
const out: Record<string, unknown> = {
  side: 'detkd',
  kind,
  times,
  peakRssMiB: hwm ? Number(hwm[1]) / 1024 : 0,
  loss: lossValue,
  losses,
  params: params.reduce((n, p) => n + p.numel, 0),
  allocator: native.allocatorStats().kind,
};
if (profile) {
  out.phasesMs = Object.fromEntries(PHASES.map((p) => [p, phaseMs.get(p)! / steps]));
  out.nativeMs = Object.fromEntries(PHASES.map((p) => [p, nativeMs.get(p)! / steps]));
  out.topOps = Object.fromEntries(
    PHASES.filter((p) => p !== 'backward').map((p) => [
      p,
      [...opStats.get(p)!.entries()]
        .sort((a, b) => b[1].ms - a[1].ms)
        .slice(0, 8)
        .map(([n, s]) => ({ op: n, calls: s.calls / steps, ms: s.ms / steps })),
    ]),
  );
  out.peakLiveMiB = Object.fromEntries(PHASES.map((p) => [p, peakLiveMiB.get(p)!]));
  out.opCalls = Object.fromEntries(
    PHASES.map((p) => [p, [...opStats.get(p)!.values()].reduce((n, s) => n + s.calls, 0) / steps]),
  );
}
console.log(JSON.stringify(out));
