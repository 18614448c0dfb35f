// 2,000 steps of a small conv net, started as a plain `node` process, keep RSS within 10% of
// its value after step 100, with the number of live tensor handles constant.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

test('conv-net training keeps RSS flat over 2,000 steps (plain node process)', { timeout: 600_000 }, () => {
  const script = fileURLToPath(new URL('./conv-soak.ts', import.meta.url));
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  delete env.MALLOC_CONF;
  delete env.DETKD_ALLOCATOR;
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, '2000'], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; rssMiB: number; handles: number; loss: number });
  const at100 = rows.find((x) => x.step === 100)!;
  const last = rows[rows.length - 1]!;
  assert.equal(last.step, 2000);
  const peak = Math.max(...rows.filter((x) => x.step >= 100).map((x) => x.rssMiB));
  assert.ok(
    peak <= at100.rssMiB * 1.1,
    `RSS grew from ${at100.rssMiB.toFixed(1)} MiB at step 100 to a peak of ${peak.toFixed(1)} MiB`,
  );
  for (const row of rows.filter((x) => x.step >= 100))
    assert.equal(row.handles, at100.handles, `live handles at step ${row.step}`);
  assert.ok(Number.isFinite(last.loss));
});
