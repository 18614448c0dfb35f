#!/usr/bin/env node
// RoIAlign benchmark, detkd's composite (src/detection/roi) vs torchvision 0.14's C++ kernel
// (Debian's python3-torchvision), side by side in one run, alternating which side goes first:
// MultiScaleRoIAlign over 4 FPN levels (strides 4..32 of 512x512, batch 2, 256 channels), 512
// RoIs, 7x7, forward + backward into the features. Two configurations (roi_align.py says them):
// 'tv' (sampling ratio 2, aligned false) and 'mmdet' (adaptive sampling, aligned true).
//   node bench/roi/run.mjs [--rounds 3] [--threads 2] [--warmup 2] [--steps 8] [--only tv|mmdet]
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
    steps: { type: 'string', default: '8' },
    only: { type: 'string' },
  },
});
const PY = '/usr/bin/python3';
const data = join(root, '.cache', 'bench-roi');
if (!existsSync(join(data, 'rois.json'))) execFileSync(PY, [join(here, 'roi_align.py'), 'make-data', data]);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const run = (cmd, args) =>
  JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', cwd: root }).trim().split('\n').pop());
const args = (c) => [c, data, values.threads, values.warmup, values.steps];
const detkd = (c) =>
  run(process.execPath, ['--single-threaded-gc', '--import', 'tsx', join(here, 'roi-align.ts'), ...args(c)]);
const tv = (c) => run(PY, [join(here, 'roi_align.py'), ...args(c)]);

console.log(
  `roi bench: ${values.rounds} rounds, ${values.threads} threads, 512 RoIs x 256 ch x 7x7 over 4 levels, forward + backward`,
);
for (const c of values.only ? [values.only] : ['tv', 'mmdet']) {
  const d = [];
  const p = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    if (r % 2 === 0) p.push(tv(c));
    d.push(detkd(c));
    if (r % 2 === 1) p.push(tv(c));
    console.log(
      `  ${c} round ${r + 1}: detkd ${median(d.at(-1).times).toFixed(1)} ms, torchvision ${median(p.at(-1).times).toFixed(1)} ms`,
    );
  }
  const dm = median(d.map((x) => median(x.times)));
  const pm = median(p.map((x) => median(x.times)));
  const rss = (xs) => Math.max(...xs.map((x) => x.peakRssMiB)).toFixed(0);
  console.log(
    `${c}: detkd ${dm.toFixed(1)} ms, torchvision ${pm.toFixed(1)} ms, ratio ${(dm / pm).toFixed(3)}; peak RSS detkd ${rss(d)} MiB, torchvision ${rss(p)} MiB`,
  );
}
