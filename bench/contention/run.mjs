#!/usr/bin/env node
// Two trainings sharing this machine: the ResNet-18 training step of bench/engine, alone and two
// processes at once, for detkd and PyTorch eager side by side, under several OpenMP wait
// policies. libtorch's intra-op threads are libgomp threads; by default a libgomp thread that
// finishes its share of a parallel region spins for a while before sleeping, and with two
// processes on two cores that spinning steals the core the other process needs.
//   node bench/contention/run.mjs [--rounds 2] [--threads 2] [--steps 6] [--warmup 2]
//                                 [--policies detkd,libgomp,PASSIVE,spin:10000] [--sides detkd,pytorch]
// Policies (the same environment for both sides):
//   detkd    nothing set: what detkd chooses (src/core/omp-policy.ts); PyTorch gets the same
//   libgomp  GOMP_SPINCOUNT=300000, libgomp's own default spin, made explicit so detkd keeps it
//   ACTIVE / PASSIVE   OMP_WAIT_POLICY
//   spin:N   GOMP_SPINCOUNT=N
// Prints, per policy and side: the solo step, the step of each of two concurrent runs, the
// concurrent/solo ratio, and the solo step against the libgomp default.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const engine = join(here, '..', 'engine');
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '2' },
    steps: { type: 'string', default: '6' },
    policies: { type: 'string', default: 'libgomp,detkd,PASSIVE,spin:10000' },
    sides: { type: 'string', default: 'detkd,pytorch' },
  },
});
const args = [values.threads, values.warmup, values.steps];
const PY = '/usr/bin/python3';

// What detkd sets when the user sets nothing (src/core/omp-policy.ts), for PyTorch's side of the
// 'detkd' policy: both sides run under the same environment.
const detkdDefault = Object.fromEntries(
  [
    ...readFileSync(join(here, '..', '..', 'src', 'core', 'omp-policy.ts'), 'utf8')
      .match(/DEFAULT_OMP_ENV[^{]*\{([^}]*)\}/)[1]
      .matchAll(/(\w+):\s*'([^']*)'/g),
  ].map((m) => [m[1], m[2]]),
);

function policyEnv(p, side) {
  const env = { ...process.env };
  delete env.OMP_WAIT_POLICY;
  delete env.GOMP_SPINCOUNT;
  if (p === 'detkd' && side === 'pytorch') Object.assign(env, detkdDefault);
  if (p === 'libgomp') env.GOMP_SPINCOUNT = '300000';
  else if (p === 'ACTIVE' || p === 'PASSIVE') env.OMP_WAIT_POLICY = p;
  else if (p.startsWith('spin:')) env.GOMP_SPINCOUNT = p.slice(5);
  else if (p !== 'detkd') throw new Error(`unknown policy '${p}'`);
  return env;
}

function start(side, env) {
  const [cmd, argv] =
    side === 'detkd'
      ? [process.execPath, ['--single-threaded-gc', '--import', 'tsx', join(engine, 'resnet18.ts'), ...args]]
      : [PY, [join(engine, 'resnet18.py'), ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${side} exited ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const policies = values.policies.split(',');
const wanted = values.sides.split(',');
const rounds = Number(values.rounds);
const res = {}; // res[policy][side] = { solo: [], pair: [] }
console.log(
  `contention bench: ResNet-18 train step (batch 8, 3x256x256), ${values.threads} threads per process, ${rounds} rounds, ${values.steps} timed steps`,
);
for (let r = 0; r < rounds; r++) {
  for (const p of policies) {
    res[p] ??= {};
    // Alternate which side goes first each round.
    const sides = r % 2 === 0 ? [...wanted] : [...wanted].reverse();
    for (const side of sides) {
      res[p][side] ??= { solo: [], pair: [] };
      const env = policyEnv(p, side);
      const solo = median((await start(side, env)).times);
      const both = await Promise.all([start(side, env), start(side, env)]);
      const pair = (median(both[0].times) + median(both[1].times)) / 2;
      res[p][side].solo.push(solo);
      res[p][side].pair.push(pair);
      console.log(
        `  round ${r + 1} ${p.padEnd(11)} ${side.padEnd(7)} solo ${solo.toFixed(0)} ms, two at once ${pair.toFixed(0)} ms each (${(pair / solo).toFixed(2)}x)`,
      );
    }
  }
}
console.log('\nmedian over rounds (ms per step):');
console.log('policy       side     solo  two-at-once  ratio  solo vs libgomp default');
const base = res.libgomp;
for (const p of policies) {
  for (const side of wanted) {
    const s = median(res[p][side].solo);
    const c = median(res[p][side].pair);
    const vs = base ? `${((s / median(base[side].solo) - 1) * 100).toFixed(1)}%` : '-';
    console.log(
      `${p.padEnd(12)} ${side.padEnd(7)} ${s.toFixed(0).padStart(5)}  ${c.toFixed(0).padStart(11)}  ${(c / s).toFixed(2).padStart(5)}  ${vs.padStart(8)}`,
    );
  }
}
