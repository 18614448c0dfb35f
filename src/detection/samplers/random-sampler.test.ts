// randomSample: the quota (floor(batch * fraction) positives, negatives fill the batch), the
// draw order and arguments the IndexSource sees, number-array sources, and empty candidate sets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator } from '../../core/random.ts';
import { arange, tensor, tidy, zeros } from '../../core/tensor.ts';
import { type IndexSource, randomSample, randpermSource } from './random-sampler.ts';

test('randomSample: quota, draw order, and the arguments the source sees', () => {
  tidy(() => {
    const calls: string[] = [];
    const rev: IndexSource = (n, k, kind, image) => {
      calls.push(`${kind}${image}:${n}/${k}`);
      return Array.from({ length: n }, (_, i) => n - 1 - i);
    };
    const pos = tensor([2, 5, 7, 9], { dtype: 'int64' });
    const neg = tensor([0, 1, 3, 4, 6, 8], { dtype: 'int64' });
    const s = randomSample(pos, neg, { batchSize: 6, positiveFraction: 0.5, source: rev, image: 3 });
    assert.deepEqual(calls, ['pos3:4/3', 'neg3:6/3']);
    assert.deepEqual(s.pos.toArray(), [9, 7, 5]);
    assert.deepEqual(s.neg.toArray(), [8, 6, 4]);
    // few positives: negatives fill the batch; none at all: the sources still get called with k 0
    const f = randomSample(pos.slice(0, 0, 1), neg, { batchSize: 5, positiveFraction: 0.5, source: rev });
    assert.deepEqual([f.pos.size(0), f.neg.size(0)], [1, 4]);
    const e = randomSample(zeros([0], { dtype: 'int64' }), zeros([0], { dtype: 'int64' }), {
      batchSize: 4,
      positiveFraction: 0.25,
      source: randpermSource(new Generator(1)),
    });
    assert.deepEqual([e.pos.size(0), e.neg.size(0)], [0, 0]);
    // randpermSource: a seeded permutation prefix, distinct candidates
    const r = randomSample(arange(0, 10).long(), arange(10, 30).long(), {
      batchSize: 8,
      positiveFraction: 0.25,
      source: randpermSource(new Generator(7)),
    });
    assert.equal(new Set(r.pos.toArray()).size, 2);
    assert.equal(new Set(r.neg.toArray()).size, 6);
    assert.ok(r.neg.toArray().every((v) => v >= 10));
  });
});
