// manualSeed + deterministic mode: two processes with the same seed train to bit-identical
// weights; a different seed gives different ones.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./train-once.ts', import.meta.url));
function run(seed: number): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, String(seed)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('same seed, same weights (bit-identical across processes); another seed differs', () => {
  const a = run(11);
  const b = run(11);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(a, b);
  assert.notEqual(run(12), a);
});
