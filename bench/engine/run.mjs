#!/usr/bin/env node
// Engine benchmarks, detkd vs PyTorch eager (Debian's python3-torch) on this machine, side by
// side in one run, alternating which side goes first each round.
//   node bench/engine/run.mjs [--rounds 5] [--threads 2] [--allocator same|default] [--only resnet|ops]
// --allocator same (the default): both sides run under jemalloc (LD_PRELOAD) and detkd uses the
//   system allocator path, so the ratio compares the engines, not the allocators.
// --allocator default: each side as a user gets it (detkd's caching allocator, PyTorch on glibc).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    allocator: { type: 'string', default: 'same' },
    only: { type: 'string' },
    // V8 flags for the detkd side; the detkd CLI runs with --single-threaded-gc (V8's GC helper
    // threads otherwise compete with libtorch's threads on few cores).
    'node-flags': { type: 'string', default: '--single-threaded-gc' },
    warmup: { type: 'string', default: '3' },
    steps: { type: 'string', default: '10' },
  },
});
const rounds = Number(values.rounds);
const PY = '/usr/bin/python3';
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';
const env = { ...process.env };
if (values.allocator === 'same') {
  if (!existsSync(JEMALLOC))
    throw new Error(`--allocator same needs ${JEMALLOC} (apt-get install libjemalloc2)`);
  env.LD_PRELOAD = JEMALLOC;
  // As the engine probe measured: no decay, so neither side page-faults on reused memory.
  env.MALLOC_CONF = 'oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1';
  env.DETKD_ALLOCATOR = 'system';
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const run = (cmd, args) =>
  JSON.parse(execFileSync(cmd, args, { env, encoding: 'utf8' }).trim().split('\n').pop());
const nodeFlags = values['node-flags'].split(' ').filter(Boolean);
const node = (script, args) =>
  run(process.execPath, [...nodeFlags, '--import', 'tsx', join(here, script), ...args]);
const py = (script, args) => run(PY, [join(here, script), ...args]);

console.log(
  `engine bench: ${rounds} rounds, ${values.threads} threads, allocator=${values.allocator}, node flags '${nodeFlags.join(' ')}'`,
);
if (!values.only || values.only === 'ops') {
  const d = [];
  const p = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    if (first) p.push(py('op-overhead.py', ['100000']));
    d.push(node('op-overhead.ts', ['100000']));
    if (!first) p.push(py('op-overhead.py', ['100000']));
  }
  for (const k of ['add', 'addRequiresGrad']) {
    const dm = median(d.map((x) => x.usPerOp[k]));
    const pm = median(p.map((x) => x.usPerOp[k]));
    console.log(
      `tiny ${k}: detkd ${dm.toFixed(2)} us/op, pytorch ${pm.toFixed(2)} us/op, ratio ${(dm / pm).toFixed(2)}`,
    );
  }
}
if (!values.only || values.only === 'resnet') {
  const args = [values.threads, values.warmup, values.steps];
  const d = [];
  const p = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    if (first) p.push(py('resnet18.py', args));
    d.push(node('resnet18.ts', args));
    if (!first) p.push(py('resnet18.py', args));
    const dm = median(d[d.length - 1].times);
    const pm = median(p[p.length - 1].times);
    console.log(
      `  round ${r + 1}: detkd ${dm.toFixed(1)} ms, pytorch ${pm.toFixed(1)} ms, ratio ${(dm / pm).toFixed(3)}`,
    );
  }
  const dm = median(d.map((x) => median(x.times)));
  const pm = median(p.map((x) => median(x.times)));
  const rss = (xs) => Math.max(...xs.map((x) => x.peakRssMiB)).toFixed(0);
  console.log(
    `resnet18 train step (batch 8, 3x256x256): detkd ${dm.toFixed(1)} ms, pytorch ${pm.toFixed(1)} ms, ratio ${(dm / pm).toFixed(3)} (median of ${rounds} round medians)`,
  );
  console.log(`peak RSS: detkd ${rss(d)} MiB, pytorch ${rss(p)} MiB`);
}
