// Validation: every bad input is a DetkdError naming the source, the entry index and the field.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DetkdError } from '../core/errors.ts';
import { evaluateCoco } from './coco-eval.ts';
import { flattenResults, indexGroundTruth, loadJsonFile } from './coco-input.ts';
import type { CocoGroundTruth, CocoResult } from './coco-types.ts';

const gt: CocoGroundTruth = {
  images: [{ id: 3 }, { id: 1 }, { id: 3 }],
  annotations: [
    { id: 1, image_id: 1, category_id: 7, bbox: [0, 0, 10, 20], iscrowd: 0 },
    { id: 2, image_id: 3, category_id: 5, bbox: [5, 5, 10, 10], area: 42, iscrowd: 1 },
    { id: 3, image_id: 9, category_id: 5, bbox: [5, 5, 10, 10], area: 42, iscrowd: 0 },
  ],
  categories: [
    { id: 7, name: 'seven' },
    { id: 5, name: 'five' },
  ],
};
const good: CocoResult = { image_id: 1, category_id: 7, bbox: [0, 0, 10, 20], score: 0.5 };

function throwsDetkd(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof DetkdError, `not a DetkdError: ${String(err)}`);
    assert.match(err.message, pattern);
    return true;
  });
}

test('indexGroundTruth sorts ids, drops unlisted images, takes area from the field or w*h', () => {
  const ix = indexGroundTruth(gt);
  assert.deepEqual([...ix.imageIds], [1, 3]);
  assert.deepEqual([...ix.categoryIds], [5, 7]);
  assert.deepEqual(ix.categoryNames, ['five', 'seven']);
  assert.equal(ix.box.length, 8); // annotation on image 9 dropped
  // group key k * I + i: (cat 5, img 3) = 1, (cat 7, img 1) = 2
  assert.deepEqual([...ix.groupStart], [0, 0, 1, 2, 2]);
  assert.deepEqual([...ix.area], [42, 200]);
  assert.deepEqual([...ix.crowd], [1, 0]);
});

test('bad results are errors naming the index and field', () => {
  const ix = indexGroundTruth(gt);
  const bad = (r: unknown): unknown[] => [good, good, r];
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, image_id: 2 })),
    /^results: results\[2\]\.image_id 2 is not an image/,
  );
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, image_id: '1' })),
    /results\[2\]\.image_id must be a number/,
  );
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, bbox: [1, 2, 3] })),
    /results\[2\]\.bbox must be 4 finite numbers/,
  );
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, bbox: [1, 2, 3, Number.NaN] })),
    /results\[2\]\.bbox must be 4/,
  );
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, bbox: [1, 2, '3', 4] })),
    /results\[2\]\.bbox must be 4/,
  );
  throwsDetkd(() => flattenResults(ix, bad({ ...good, bbox: 'x' })), /results\[2\]\.bbox must be 4/);
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, bbox: [1, 2, -3, 4] })),
    /results\[2\]\.bbox has a negative width/,
  );
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, bbox: [1, 2, 3, -4] })),
    /results\[2\]\.bbox has a negative/,
  );
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, score: Number.POSITIVE_INFINITY })),
    /results\[2\]\.score must be a finite/,
  );
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, score: null })),
    /results\[2\]\.score must be a finite/,
  );
  throwsDetkd(
    () => flattenResults(ix, bad({ ...good, category_id: undefined })),
    /results\[2\]\.category_id must be/,
  );
  throwsDetkd(() => flattenResults(ix, bad(7)), /results\[2\] must be an object/);
  throwsDetkd(() => flattenResults(ix, { a: 1 }), /expected a list of detections/);
});

test('the source name prefixes errors; unknown categories and empty lists are fine', () => {
  const ix = indexGroundTruth(gt);
  throwsDetkd(
    () => flattenResults(ix, [{ ...good, score: 'high' }], 'dt.json'),
    /^dt\.json: results\[0\]\.score/,
  );
  assert.equal(flattenResults(ix, []).count, 0);
  const d = flattenResults(ix, [good, { ...good, category_id: 99 }]);
  assert.equal(d.dropped, 1);
  assert.deepEqual([...d.categoryIndex], [1, -1]);
  // evaluateCoco validates too, with its own source names
  throwsDetkd(
    () => evaluateCoco(gt, [{ ...good, bbox: [0, 0, 1] }], { resultsSource: 'r.json' }),
    /^r\.json: results\[0\]\.bbox/,
  );
});

test('bad ground truth is an error naming the section, index and field', () => {
  const ann = gt.annotations[0]!;
  const withAnn = (a: unknown) => ({ ...gt, annotations: [ann, a] });
  throwsDetkd(
    () => indexGroundTruth({ ...gt, images: undefined }, 'gt.json'),
    /^gt\.json: 'images' must be an array/,
  );
  throwsDetkd(
    () => indexGroundTruth({ ...gt, categories: [{ id: 'a' }] }),
    /categories\[0\]\.id must be a number/,
  );
  throwsDetkd(() => indexGroundTruth({ ...gt, annotations: null }), /'annotations' must be an array/);
  throwsDetkd(
    () => indexGroundTruth(withAnn({ ...ann, bbox: [0, 0, 1] })),
    /annotations\[1\]\.bbox must be 4 finite/,
  );
  throwsDetkd(
    () => indexGroundTruth(withAnn({ ...ann, bbox: [0, 0, -1, 1] })),
    /annotations\[1\]\.bbox has a negative/,
  );
  throwsDetkd(
    () => indexGroundTruth(withAnn({ ...ann, area: 'big' })),
    /annotations\[1\]\.area must be a finite number/,
  );
  throwsDetkd(
    () => indexGroundTruth(withAnn({ ...ann, iscrowd: 'no' })),
    /annotations\[1\]\.iscrowd must be 0 or 1/,
  );
  throwsDetkd(
    () => indexGroundTruth(withAnn({ ...ann, image_id: null })),
    /annotations\[1\]\.image_id must be a number/,
  );
  throwsDetkd(() => indexGroundTruth([]), /expected a COCO ground-truth object/);
});

test('loadJsonFile errors name the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'detkd-coco-'));
  const bad = join(dir, 'broken.json');
  writeFileSync(bad, '[{"image_id": 1,');
  throwsDetkd(() => loadJsonFile(bad), /broken\.json: invalid JSON/);
  throwsDetkd(() => loadJsonFile(join(dir, 'missing.json')), /cannot read .*missing\.json/);
  const ok = join(dir, 'ok.json');
  writeFileSync(ok, '[1, 2]');
  assert.deepEqual(loadJsonFile(ok), [1, 2]);
});
