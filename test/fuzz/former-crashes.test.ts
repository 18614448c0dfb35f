// Inputs that crashed libtorch 1.13's kernels (found by the fuzz) must now throw a JS error:
// each repro runs in its own child process, so a regression shows as a dead child, not a dead
// test runner.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GUARDED_CRASHES, KNOWN_CRASHES } from './known-crashes.ts';

const script = fileURLToPath(new URL('./crash-repro.ts', import.meta.url));
const ids = [...GUARDED_CRASHES.map((c) => c.id), 'grid-sampler-bad-mode'];

test('no input is known to crash the process', () => {
  assert.deepEqual(KNOWN_CRASHES, []);
});

for (const id of ids) {
  test(`former crash '${id}' now throws a JS error`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, id], { encoding: 'utf8' });
    assert.equal(r.signal, null, `child died with ${r.signal}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^threw: /);
  });
}
