// 1,000 training steps of the GFL student detector (forward, ATSS assignment, QFL/DFL/GIoU
// losses, backward, SGD), started as a plain `node` process, keep RSS within 10% of its value at
// step 100, with the number of live tensor handles constant. About 65 s on 2 idle cores (batch
// 4 at 128 px, ~65 ms a step); the timeout leaves room for a loaded machine.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

interface Row {
  step: number;
  rssMiB: number;
  handles: number;
  loss: number;
  seconds: number;
}

test(
  'detector training keeps RSS and live handles flat over 1,000 steps (plain node process)',
  {
    timeout: 600_000,
  },
  () => {
    const script = fileURLToPath(new URL('./detector-soak.ts', import.meta.url));
    const env = { ...process.env };
    delete env.LD_PRELOAD;
    delete env.MALLOC_CONF;
    delete env.DETKD_ALLOCATOR;
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, '1000'], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Row);
    const at100 = rows.find((x) => x.step === 100)!;
    const last = rows[rows.length - 1]!;
    assert.equal(last.step, 1000);
    const after = rows.filter((x) => x.step >= 100);
    const peak = Math.max(...after.map((x) => x.rssMiB));
    assert.ok(
      peak <= at100.rssMiB * 1.1,
      `RSS grew from ${at100.rssMiB.toFixed(1)} MiB at step 100 to a peak of ${peak.toFixed(1)} MiB`,
    );
    for (const row of after) assert.equal(row.handles, at100.handles, `live handles at step ${row.step}`);
    for (const row of rows) assert.ok(Number.isFinite(row.loss), `loss at step ${row.step} is ${row.loss}`);
    // Recorded for the CI budget (node --test prints diagnostics).
    console.log(
      `detector soak: 1000 steps in ${last.seconds.toFixed(1)} s; RSS ${at100.rssMiB.toFixed(1)} MiB at step 100, ` +
        `peak ${peak.toFixed(1)} MiB after, ${last.rssMiB.toFixed(1)} MiB at the end; ${at100.handles} live handles`,
    );
  },
);
