#!/usr/bin/env node
// Faster R-CNN training-step benchmark, detkd vs torchvision 0.14 eager (Debian's python3-torch
// 1.13) on this machine, side by side in one run, alternating which side goes first each round:
//   Faster R-CNN R18-FPN (P2..P6), batch 8, 3xSxS (default 256), 12 classes + background,
//   4 GT boxes per image, training proposals 2000 / 2000, RoI batch 512 per image.
//   node bench/faster-rcnn/run.mjs [--rounds 3] [--threads 2] [--warmup 2] [--steps 5]
//        [--size 256] [--norm bn|frozen-bn] [--allocator same|default|both]
// A step is zero-grad + forward + RPN assignment + RoI sampling + the four losses + backward +
// SGD (lr 0.01, momentum 0.9, weight decay 1e-4) in train mode. Like with like (step.py's build()
// and step.ts's header say it in detail):
//   - the same inputs: step.py make-data writes 8 random uint8 images and 4 random boxes per image
//     (fixed seed) into .cache/bench-faster-rcnn-<size>; both sides read those files;
//   - the same model: detkd's buildFasterRcnn({ preset: 'torchvision' }) against torchvision's
//     FasterRCNN(resnet_fpn_backbone('resnet18', trainable_layers=5)); --norm bn (default) is
//     train-mode BatchNorm2d on both sides, frozen-bn FrozenBatchNorm2d on both. Before timing,
//     both sides print their trainable parameter count and sorted parameter shapes: the run stops
//     if they differ;
//   - SxS on both sides: torchvision's GeneralizedRCNNTransform gets min_size = max_size = S, so
//     it only normalises (and resizes at scale 1);
//   - same intra-op threads (--threads), one process at a time, never two at once.
// --allocator same (the default): both sides under jemalloc (LD_PRELOAD) and detkd on the system
//   allocator path, so the ratios compare the engines, not the allocators (bench/engine's rule).
// --allocator default: each side as a user gets it (detkd's caching allocator, PyTorch on glibc).
// Peak RSS is each process's ru_maxrss (process.resourceUsage().maxRSS / resource.getrusage).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '2' },
    steps: { type: 'string', default: '5' },
    size: { type: 'string', default: '256' },
    norm: { type: 'string', default: 'bn' },
    allocator: { type: 'string', default: 'same' },
  },
});
const rounds = Number(values.rounds);
const size = Number(values.size);
if (!Number.isInteger(size) || size < 64 || size % 32 !== 0)
  throw new Error(`--size: a multiple of 32 from 64 (P6 needs stride 64), got ${values.size}`);
if (values.norm !== 'bn' && values.norm !== 'frozen-bn')
  throw new Error(`--norm: bn|frozen-bn, got ${values.norm}`);
if (!['same', 'default', 'both'].includes(values.allocator))
  throw new Error(`--allocator: same|default|both, got ${values.allocator}`);
// Targets of detkd issue 11.
const TIME_TARGET = 1.05;
const RSS_TARGET = 1.1;
const PY = '/usr/bin/python3';
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
const dataDir = join(root, '.cache', `bench-faster-rcnn-${size}`);

function envFor(allocator) {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  delete env.MALLOC_CONF;
  delete env.DETKD_ALLOCATOR;
  if (allocator === 'same') {
    if (!existsSync(JEMALLOC))
      throw new Error(`--allocator same needs ${JEMALLOC} (apt-get install libjemalloc2)`);
    env.LD_PRELOAD = JEMALLOC;
    // As the engine probe measured: no decay, so neither side page-faults on reused memory.
    env.MALLOC_CONF = 'oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1';
    env.DETKD_ALLOCATOR = 'system';
  }
  return env;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const run = (env, cmd, args) =>
  JSON.parse(
    execFileSync(cmd, args, { env, encoding: 'utf8', cwd: root, maxBuffer: 1 << 26 })
      .trim()
      .split('\n')
      .pop(),
  );

if (!existsSync(join(dataDir, 'targets.json')) || !existsSync(join(dataDir, 'images.u8'))) {
  execFileSync(PY, [join(here, 'step.py'), 'make-data', dataDir, String(size)], { stdio: 'inherit' });
}

const fmt = (x) => x.toFixed(1);
const normArgs = ['--norm', values.norm];
const nodeSide = (env, args) =>
  run(env, process.execPath, ['--import', 'tsx', join(here, 'step.ts'), ...args, ...normArgs]);
const pySide = (env, args) => run(env, PY, [join(here, 'step.py'), ...args, ...normArgs]);

// Same model on both sides: trainable parameter count and the multiset of parameter shapes.
{
  const env = envFor('default');
  const di = nodeSide(env, ['info', dataDir]);
  const pi = pySide(env, ['info', dataDir]);
  console.log(`trainable parameters: detkd ${di.params}, torchvision ${pi.params}`);
  if (di.params !== pi.params) {
    console.error(`parameter counts differ: detkd ${di.params}, torchvision ${pi.params}`);
    process.exit(1);
  }
  const ds = JSON.stringify(di.shapes);
  if (ds !== JSON.stringify(pi.shapes)) {
    console.error(
      `parameter shapes differ:\n  detkd       ${ds}\n  torchvision ${JSON.stringify(pi.shapes)}`,
    );
    process.exit(1);
  }
  console.log(`  ${di.shapes.length} parameter tensors, the same shapes on both sides`);
}

const allocators = values.allocator === 'both' ? ['same', 'default'] : [values.allocator];
const label = `Faster R-CNN R18-FPN train step (batch 8, 3x${size}x${size}, norm ${values.norm})`;
for (const allocator of allocators) {
  const env = envFor(allocator);
  const args = ['step', dataDir, values.threads, values.warmup, values.steps];
  console.log(
    `faster-rcnn train-step bench: ${rounds} rounds x (${values.warmup} warm-up + ${values.steps} timed steps), ` +
      `${values.threads} threads, allocator=${allocator}`,
  );
  const d = [];
  const p = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    if (first) p.push(pySide(env, args));
    d.push(nodeSide(env, args));
    if (!first) p.push(pySide(env, args));
    const dr = d[d.length - 1];
    const pr = p[p.length - 1];
    const dm = median(dr.times);
    const pm = median(pr.times);
    console.log(
      `  round ${r + 1} (${first ? 'torchvision' : 'detkd'} first): detkd ${fmt(dm)} ms/step, ` +
        `torchvision ${fmt(pm)} ms/step, ratio ${(dm / pm).toFixed(3)}; peak RSS detkd ` +
        `${dr.peakRssMiB.toFixed(0)} MiB, torchvision ${pr.peakRssMiB.toFixed(0)} MiB, ` +
        `ratio ${(dr.peakRssMiB / pr.peakRssMiB).toFixed(3)}`,
    );
  }
  const dm = median(d.map((x) => median(x.times)));
  const pm = median(p.map((x) => median(x.times)));
  const drss = Math.max(...d.map((x) => x.peakRssMiB));
  const prss = Math.max(...p.map((x) => x.peakRssMiB));
  const tr = dm / pm;
  const rr = drss / prss;
  const verdict = (x, t) => `${x.toFixed(3)} (target <= ${t}: ${x <= t ? 'met' : 'not met'})`;
  console.log(
    `${label}, allocator=${allocator}: detkd ${fmt(dm)} ms, torchvision ${fmt(pm)} ms, ` +
      `ratio detkd/torchvision ${verdict(tr, TIME_TARGET)} (median of ${rounds} round medians)`,
  );
  console.log(
    `  peak RSS (max over rounds): detkd ${drss.toFixed(0)} MiB (${d[0].allocator} allocator), ` +
      `torchvision ${prss.toFixed(0)} MiB, ratio ${verdict(rr, RSS_TARGET)}`,
  );
  const names = ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg'];
  const losses = (x) => names.map((n) => x.losses[n].toFixed(4)).join(', ');
  console.log(
    `  last-step losses [objectness, rpn box, classifier, box]: detkd [${losses(d[0])}], ` +
      `torchvision [${losses(p[0])}]`,
  );
}
