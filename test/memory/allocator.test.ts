// The caching CPU allocator's large-block cache under its cap: when a free would overflow it, the
// least recently used size classes are unmapped, not the block being freed. Otherwise a cache
// filled by earlier shapes (an evaluation, a previous run in the same process) turns every
// allocation of the current shapes into a fresh mmap and page faults (seen in `detkd compare`).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from '../../src/core/native.ts';
import { dispose, empty } from '../../src/core/tensor.ts';

const MiB = 2 ** 20;

test('a full cache makes room for the sizes in use by evicting the least recently used class', (t) => {
  const s0 = native.allocatorStats();
  if (s0.kind !== 'caching') {
    t.skip('DETKD_ALLOCATOR=system: no caching allocator');
    return;
  }
  native.emptyCache();
  native.setCacheLimit(4 * MiB);
  try {
    // Fill the cache with four 1 MiB blocks (float32: 262,144 elements each).
    dispose(Array.from({ length: 4 }, () => empty([MiB / 4])));
    assert.equal(native.allocatorStats().cachedBytes, 4 * MiB);
    // Now a step that allocates and frees a 2 MiB block, ten times.
    const stats = () => {
      const s = native.allocatorStats();
      return {
        hits: s.hits ?? Number.NaN,
        misses: s.misses ?? Number.NaN,
        cachedBytes: s.cachedBytes ?? Number.NaN,
      };
    };
    const before = stats();
    for (let i = 0; i < 10; i++) dispose(empty([(2 * MiB) / 4]));
    const after = stats();
    assert.equal(after.misses - before.misses, 1, 'only the first 2 MiB allocation maps new memory');
    assert.equal(after.hits - before.hits, 9, 'the other nine reuse the cached block');
    assert.ok(after.cachedBytes <= 4 * MiB, `cache within its cap (${after.cachedBytes})`);
    assert.equal(after.cachedBytes, 2 * MiB, 'the stale 1 MiB class was evicted to make room');
  } finally {
    native.setCacheLimit(2 * 1024 * MiB);
    native.emptyCache();
  }
});
