#!/usr/bin/env node
// Distillation training-step benchmark, detkd vs eager PyTorch 1.13 / torchvision 0.14 on this
// machine, side by side in one run, alternating which side goes first each round. One step:
// a frozen RetinaNet R50-FPN teacher's forward (no grad, eval), a RetinaNet R18-FPN student's
// forward + its losses, CWD on the 5 FPN levels, backward and SGD on the student; batch 8,
// 3x256x256, 80 classes (step.py and step.ts say how the two sides are made alike).
//   node bench/distill/run.mjs [--rounds 3] [--threads 2] [--warmup 2] [--steps 5]
//        [--allocator same|default]
// --allocator same (default): both processes under jemalloc and detkd on the system allocator
//   path, so the ratio compares the engines (bench/engine's rule); default: each as a user gets it.
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
    allocator: { type: 'string', default: 'same' },
  },
});
const PY = '/usr/bin/python3';
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
const dataDir = join(root, '.cache', 'bench-detection');
const env = { ...process.env };
for (const k of ['LD_PRELOAD', 'MALLOC_CONF', 'DETKD_ALLOCATOR']) delete env[k];
if (values.allocator === 'same') {
  if (!existsSync(JEMALLOC))
    throw new Error(`--allocator same needs ${JEMALLOC} (apt-get install libjemalloc2)`);
  env.LD_PRELOAD = JEMALLOC;
  env.MALLOC_CONF = 'oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1';
  env.DETKD_ALLOCATOR = 'system';
} else if (values.allocator !== 'default') {
  throw new Error(`--allocator: same|default, got ${values.allocator}`);
}
if (!existsSync(join(dataDir, 'targets.json'))) {
  execFileSync(PY, [join(root, 'bench/detection/step.py'), 'make-data', dataDir], { stdio: 'inherit' });
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const run = (cmd, args) =>
  JSON.parse(execFileSync(cmd, args, { env, encoding: 'utf8', cwd: root }).trim().split('\n').pop());
const args = [dataDir, values.threads, values.warmup, values.steps];
const node = () => run(process.execPath, ['--import', 'tsx', join(here, 'step.ts'), ...args]);
const py = () => run(PY, [join(here, 'step.py'), ...args]);

const rounds = Number(values.rounds);
console.log(
  `distillation train-step bench (CWD, R50 teacher -> R18 student, RetinaNet): ${rounds} rounds x ` +
    `(${values.warmup} warm-up + ${values.steps} timed steps), ${values.threads} threads, allocator=${values.allocator}`,
);
const d = [];
const p = [];
for (let r = 0; r < rounds; r++) {
  if (r % 2 === 0) p.push(py());
  d.push(node());
  if (r % 2 === 1) p.push(py());
  const dm = median(d.at(-1).times);
  const pm = median(p.at(-1).times);
  console.log(
    `  round ${r + 1}: detkd ${dm.toFixed(0)} ms, pytorch ${pm.toFixed(0)} ms, ratio ${(dm / pm).toFixed(3)}`,
  );
}
const dm = median(d.map((x) => median(x.times)));
const pm = median(p.map((x) => median(x.times)));
console.log(
  `  parameters: student ${d[0].studentParams} / ${p[0].studentParams}, teacher ${d[0].teacherParams} / ${p[0].teacherParams} (detkd / pytorch)`,
);
console.log(
  `CWD distillation step (batch 8, 3x256x256): detkd ${dm.toFixed(0)} ms, pytorch ${pm.toFixed(0)} ms, ` +
    `ratio detkd/pytorch ${(dm / pm).toFixed(3)} (median of ${rounds} round medians)`,
);
const rss = (xs) => Math.max(...xs.map((x) => x.peakRssMiB)).toFixed(0);
console.log(`  peak RSS: detkd ${rss(d)} MiB, pytorch ${rss(p)} MiB`);
const fmt = (x) =>
  Object.entries(x.losses)
    .map(([k, v]) => `${k} ${v.toPrecision(4)}`)
    .join(', ');
console.log(`  last-step losses (different random inits): detkd [${fmt(d[0])}], pytorch [${fmt(p[0])}]`);
