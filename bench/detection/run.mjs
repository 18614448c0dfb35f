#!/usr/bin/env node
// Detection training-step benchmarks, detkd vs torchvision 0.14 (Debian's python3-torch 1.13) on
// this machine, side by side in one run, alternating which side goes first each round:
//   RetinaNet R18-FPN and FCOS R18-FPN, batch 8, 3x256x256, 80 classes, 5 GT boxes per image.
//   node bench/detection/run.mjs [--rounds 5] [--threads 2] [--warmup 3] [--steps 10]
//        [--allocator same|default|both] [--only retina|fcos] [--profile]
// A step is zero-grad + forward + assignment + loss + backward + SGD(lr 0.01, momentum 0.9,
// weight decay 1e-4) in train mode. Like with like (step.py's build() says it in detail):
//   - the same inputs: step.py make-data writes 8 random uint8 images and 5 random boxes per image
//     (sides 16..160 px, fixed seed) into .cache/bench-detection; both sides read those files;
//   - the same model: ResNet-18 with frozen BN (torchvision's FrozenBatchNorm2d default; detkd
//     backbone.norm 'frozen-bn'), all stages trainable, FPN 256 P3..P7 with no norm, 4-conv towers
//     of 256 channels; RetinaNet heads without norm (9 anchors), FCOS heads with GN(32). Both
//     print their trainable parameter count: equal for RetinaNet (21,400,500), 2,043 apart for
//     FCOS (conv biases before GN and Scale parameters, see below);
//   - 256x256 on both sides: torchvision's GeneralizedRCNNTransform gets min_size = max_size =
//     256 (its default 800 would upsample), so it only normalises (and resizes at scale 1);
//   - same intra-op threads (--threads), one process per side per round.
// --allocator same (the default): both sides under jemalloc (LD_PRELOAD) and detkd on the system
//   allocator path, so the ratio compares the engines, not the allocators (bench/engine's rule).
// --allocator default: each side as a user gets it (detkd's caching allocator, PyTorch on glibc).
// --profile: after the timed rounds, one profiled run per side prints where the step goes
//   (forward / assign / loss / backward / optimizer; detkd also its top ops per phase).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    allocator: { type: 'string', default: 'same' },
    only: { type: 'string' },
    warmup: { type: 'string', default: '3' },
    steps: { type: 'string', default: '10' },
    profile: { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const PY = '/usr/bin/python3';
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
const dataDir = join(root, '.cache', 'bench-detection');

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
  execFileSync(PY, [join(here, 'step.py'), 'make-data', dataDir], { stdio: 'inherit' });
}

const allocators = values.allocator === 'both' ? ['same', 'default'] : [values.allocator];
const kinds = values.only ? [values.only] : ['retina', 'fcos'];
const fmt = (x) => x.toFixed(1);

for (const allocator of allocators) {
  const env = envFor(allocator);
  const node = (args) => run(env, process.execPath, ['--import', 'tsx', join(here, 'step.ts'), ...args]);
  const py = (args) => run(env, PY, [join(here, 'step.py'), ...args]);
  console.log(
    `detection train-step bench: ${rounds} rounds x (${values.warmup} warm-up + ${values.steps} timed steps), ` +
      `${values.threads} threads, allocator=${allocator}`,
  );
  for (const kind of kinds) {
    const args = [kind, dataDir, values.threads, values.warmup, values.steps];
    const d = [];
    const p = [];
    for (let r = 0; r < rounds; r++) {
      const first = r % 2 === 0;
      if (first) p.push(py(args));
      d.push(node(args));
      if (!first) p.push(py(args));
      const dm = median(d[d.length - 1].times);
      const pm = median(p[p.length - 1].times);
      console.log(
        `  ${kind} round ${r + 1}: detkd ${fmt(dm)} ms, torchvision ${fmt(pm)} ms, ratio ${(dm / pm).toFixed(3)}`,
      );
    }
    // FCOS differs by 2,043 on purpose: torchvision's tower convs keep their biases before GN
    // (8 x 256), detkd's ConvModule drops them (mmdet's bias='auto'), and detkd has 5 Scale
    // parameters. A bias before GN is cancelled by it; the cost is 8 bias adds.
    console.log(`  trainable parameters: detkd ${d[0].params}, torchvision ${p[0].params}`);
    const dm = median(d.map((x) => median(x.times)));
    const pm = median(p.map((x) => median(x.times)));
    const rss = (xs) => Math.max(...xs.map((x) => x.peakRssMiB)).toFixed(0);
    console.log(
      `${kind} R18-FPN train step (batch 8, 3x256x256): detkd ${fmt(dm)} ms, ` +
        `torchvision ${fmt(pm)} ms, ratio detkd/torchvision ${(dm / pm).toFixed(3)} (median of ${rounds} round medians)`,
    );
    console.log(`  peak RSS: detkd ${rss(d)} MiB, torchvision ${rss(p)} MiB`);
    const losses = (x) => Object.values(x.losses).map((v) => v.toFixed(4));
    console.log(`  last-step losses: detkd [${losses(d[0])}], torchvision [${losses(p[0])}]`);
    if (values.profile) {
      const dp = node([...args, '--profile']);
      const pp = py([...args, '--profile']);
      console.log(`  ${kind} profile, mean ms per timed step (one profiled run per side):`);
      console.log('    phase       detkd (in native ops, op calls, peak live MiB)   torchvision');
      for (const ph of ['forward', 'assign', 'loss', 'backward', 'optimizer']) {
        console.log(
          `    ${ph.padEnd(10)} ${fmt(dp.phasesMs[ph]).padStart(8)} (${fmt(dp.nativeMs[ph]).padStart(8)}, ` +
            `${String(dp.opCalls[ph]).padStart(4)} calls, ${(dp.opCalls[ph] ? fmt(dp.peakLiveMiB[ph]) : '-').padStart(7)} MiB) ` +
            `${fmt(pp.phasesMs[ph]).padStart(9)}`,
        );
      }
      for (const [ph, ops] of Object.entries(dp.topOps)) {
        const top = ops
          .slice(0, 5)
          .map((o) => `${o.op.replace('aten::', '')} ${o.calls}x ${fmt(o.ms)}`)
          .join(', ');
        console.log(`    detkd ${ph} top ops: ${top}`);
      }
    }
  }
}
