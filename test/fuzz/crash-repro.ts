// Reproduces each entry of known-crashes.ts in its own child process and says whether it still
// kills the process (a fixed entry should then leave the list):
//
//   node --import tsx test/fuzz/crash-repro.ts          # all entries
//   node --import tsx test/fuzz/crash-repro.ts ID       # run one repro in this process
import { spawnSync } from 'node:child_process';
import * as F from '../../src/core/functional.ts';
import * as ops from '../../src/core/ops.generated.ts';
import { type Tensor, tensor } from '../../src/core/tensor.ts';
import { GUARDED_CRASHES, KNOWN_CRASHES } from './known-crashes.ts';

const x4 = (): Tensor => tensor(new Float32Array(32).fill(0.5), { shape: [1, 2, 4, 4] });

export const REPROS: Record<string, () => unknown> = {
  'grid-sampler-bad-mode': () =>
    ops.grid_sampler(x4(), tensor(new Float32Array(32), { shape: [1, 4, 4, 2] }), 7, 9, false),
  'conv-groups-int32-zero': () => F.conv2d(x4(), x4(), null, { groups: 2 ** 32 }),
  'pixel-shuffle-square-overflow': () => F.pixelShuffle(x4(), 2 ** 32),
  'int-division-min-by-minus-one': () => tensor([-(2 ** 63)], { dtype: 'int64' }).div(-1, 'trunc'),
  'searchsorted-sorter-out-of-range': () =>
    ops.searchsorted_Tensor(
      tensor([0, 1, 2]),
      tensor([0.5, 3]),
      false,
      false,
      null,
      tensor([0, 1, 2 ** 40], { dtype: 'int64' }),
    ),
};

const id = process.argv[2];
if (id !== undefined) {
  const fn = REPROS[id];
  if (fn === undefined) throw new Error(`no repro '${id}'`);
  try {
    fn();
    console.log('returned');
  } catch (e) {
    console.log(`threw: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
} else if (import.meta.filename === process.argv[1]) {
  const all = [
    ...KNOWN_CRASHES,
    ...GUARDED_CRASHES,
    { id: 'grid-sampler-bad-mode', note: 'grid_sampler with unknown modes read uninitialised memory' },
  ];
  for (const c of all) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, c.id], {
      encoding: 'utf8',
    });
    const status = r.status === 0 ? `FIXED (${r.stdout.trim()})` : `still crashes (signal ${r.signal})`;
    console.log(`${c.id}: ${status}\n  ${c.note}`);
  }
}
