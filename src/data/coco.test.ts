import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DetkdError } from '../core/errors.ts';
import { CategoryMap } from './categories.ts';
import { loadCoco, validateCoco } from './coco.ts';
import { encodePng } from './decode.ts';

const root = mkdtempSync(join(tmpdir(), 'detkd-coco-'));
after(() => rmSync(root, { recursive: true, force: true }));

let dirCount = 0;
/** A dataset dir with PNGs of the given sizes (name → [w, h]) and the json written as given. */
async function makeDataset(
  json: unknown,
  images: Record<string, [number, number]> = {},
): Promise<{ ann: string; dir: string }> {
  const dir = join(root, `ds${dirCount++}`);
  mkdirSync(join(dir, 'images'), { recursive: true });
  for (const [name, [w, h]] of Object.entries(images)) {
    const png = await encodePng({ data: new Uint8Array(w * h * 3).fill(100), height: h, width: w });
    writeFileSync(join(dir, 'images', name), png);
  }
  const ann = join(dir, 'ann.json');
  writeFileSync(ann, typeof json === 'string' ? json : JSON.stringify(json));
  return { ann, dir: join(dir, 'images') };
}

const cats = [
  { id: 7, name: 'seven' },
  { id: 3, name: 'three' },
];
const goodImages = [
  { id: 1, file_name: 'a.png', width: 40, height: 30 },
  { id: 2, file_name: 'b.png', width: 20, height: 20 },
];
const files: Record<string, [number, number]> = { 'a.png': [40, 30], 'b.png': [20, 20] };

async function problemsOf(json: unknown, images = files): Promise<string[]> {
  const { ann, dir } = await makeDataset(json, images);
  const v = await validateCoco({ annFile: ann, imageDir: dir });
  return v.problems.map((p) => `${p.file}: ${p.where}: ${p.message}`);
}

function hasProblem(problems: string[], ...parts: string[]): void {
  assert.ok(
    problems.some((p) => parts.every((s) => p.includes(s))),
    `no problem containing ${JSON.stringify(parts)} in:\n${problems.join('\n')}`,
  );
}

test('category ids map to contiguous labels by ascending id, and back', () => {
  const m = new CategoryMap([
    { id: 90, name: 'z' },
    { id: 1, name: 'a' },
    { id: 18, name: 'dog' },
  ]);
  assert.equal(m.size, 3);
  assert.deepEqual(m.names, ['a', 'dog', 'z']);
  assert.equal(m.labelOf(18), 1);
  assert.equal(m.labelOf(5), undefined);
  assert.equal(m.categoryIdOf(2), 90);
  assert.throws(() => m.categoryIdOf(3), RangeError);
});

test('loads a valid dataset: xyxy boxes, labels, crowd → ignore, box policy', async () => {
  const { ann, dir } = await makeDataset(
    {
      images: goodImages,
      categories: cats,
      annotations: [
        { id: 1, image_id: 1, category_id: 7, bbox: [1, 2, 10, 5] }, // kept as is
        { id: 2, image_id: 1, category_id: 3, bbox: [35, 25, 10, 10] }, // clipped to [35, 25, 40, 30]
        { id: 3, image_id: 1, category_id: 3, bbox: [5, 5, 0, 4] }, // zero width: dropped
        { id: 4, image_id: 1, category_id: 7, bbox: [50, 5, 4, 4] }, // fully outside: dropped
        { id: 5, image_id: 1, category_id: 7, bbox: [0, 0, 20, 20], iscrowd: 1 }, // ignore region
        { id: 6, image_id: 2, category_id: 3, bbox: [2.5, 3.5, 0.5, 8] }, // narrower than 1 px: dropped
        { id: 7, image_id: 2, category_id: 3, bbox: [-4, 0, 10, 10] }, // clipped x to 0
      ],
    },
    files,
  );
  const ds = await loadCoco({ annFile: ann, imageDir: dir });
  assert.equal(ds.length, 2);
  assert.deepEqual(ds.categories.names, ['three', 'seven']);
  const a = ds.get(0);
  assert.equal(a.imageId, 1);
  assert.equal(a.filePath, join(dir, 'a.png'));
  assert.deepEqual([a.height, a.width], [30, 40]);
  assert.deepEqual(Array.from(a.boxes), [1, 2, 11, 7, 35, 25, 40, 30]);
  assert.deepEqual(Array.from(a.labels), [1, 0]);
  assert.deepEqual(Array.from(a.ignore), [0, 0, 20, 20]);
  const b = ds.get(1);
  assert.deepEqual(Array.from(b.boxes), [0, 0, 6, 10]);
  assert.deepEqual(Array.from(b.labels), [0]);
  assert.equal(b.ignore.length, 0);
  assert.deepEqual(ds.stats, {
    images: 2,
    annotations: 7,
    targets: 3,
    crowd: 1,
    clipped: 2,
    droppedDegenerate: 3,
    skippedAnnotations: 0,
    skippedImages: 0,
  });
  assert.deepEqual(ds.problems, []);
});

test('filterEmpty drops images without targets', async () => {
  const { ann, dir } = await makeDataset(
    {
      images: goodImages,
      categories: cats,
      annotations: [{ id: 1, image_id: 2, category_id: 7, bbox: [1, 1, 5, 5] }],
    },
    files,
  );
  const ds = await loadCoco({ annFile: ann, imageDir: dir, filterEmpty: true });
  assert.deepEqual(
    ds.records.map((r) => r.imageId),
    [2],
  );
});

test('unreadable or non-JSON annotation files name the file', async () => {
  const { ann, dir } = await makeDataset('{"images": [', files);
  await assert.rejects(loadCoco({ annFile: ann, imageDir: dir }), (e: Error) => {
    assert.ok(e instanceof DetkdError);
    assert.match(e.message, /ann\.json: not valid JSON/);
    return true;
  });
  await assert.rejects(
    loadCoco({ annFile: join(root, 'nope.json'), imageDir: dir }),
    /nope\.json: cannot read annotation file \(file not found\)/,
  );
});

test('top-level problems: not an object, missing keys, non-array', async () => {
  hasProblem(await problemsOf([1, 2]), 'ann.json', 'top level', 'expected an object');
  const p = await problemsOf({ images: goodImages, annotations: {} });
  hasProblem(p, 'top level', "'annotations' must be an array");
  hasProblem(p, 'top level', "missing key 'categories'");
  assert.equal(p.length, 2);
});

test('category problems are reported and fatal even in skip mode', async () => {
  const json = {
    images: goodImages,
    annotations: [],
    categories: [
      { id: 1, name: 'a' },
      { id: 1, name: 'b' },
      { name: 'c' },
      { id: 'x', name: 'd' },
      { id: 4 },
      { id: 5, name: 6 },
    ],
  };
  const p = await problemsOf(json);
  hasProblem(p, 'categories[1] (id 1)', 'duplicate category id 1');
  hasProblem(p, 'categories[2]', "missing key 'id'");
  hasProblem(p, 'categories[3] (id "x")', "'id' must be an integer");
  hasProblem(p, 'categories[4] (id 4)', "missing key 'name'");
  hasProblem(p, 'categories[5] (id 5)', "'name' must be a string");
  assert.equal(p.length, 5);
  const { ann, dir } = await makeDataset(json, files);
  await assert.rejects(
    loadCoco({ annFile: ann, imageDir: dir, onInvalid: 'skip', warn: () => {} }),
    /5 problems/,
  );
});

test('every image and annotation problem is reported with file, entry and field', async () => {
  const json = {
    categories: cats,
    images: [
      ...goodImages,
      { id: 2, file_name: 'dup.png', width: 20, height: 20 }, // duplicate id
      { file_name: 'c.png', width: 20, height: 20 }, // no id
      { id: 4, width: 20, height: 20 }, // no file_name
      { id: 5, file_name: 'e.png', width: 0, height: 20 }, // width not positive
      { id: 6, file_name: 'f.png', width: 20, height: '20' }, // height not numeric
      { id: 7, file_name: 'missing.png', width: 20, height: 20 }, // file missing
      { id: 8, file_name: 'corrupt.png', width: 20, height: 20 }, // file corrupt
      { id: 9, file_name: 'small.png', width: 20, height: 20 }, // size differs
    ],
    annotations: [
      { id: 1, image_id: 1, category_id: 7, bbox: [1, 1, 5, 5] }, // fine
      { image_id: 1, category_id: 7, bbox: [1, 1, 5, 5] }, // no id
      { id: 1, image_id: 1, category_id: 7, bbox: [1, 1, 5, 5] }, // duplicate id
      { id: 3, image_id: 99, category_id: 7, bbox: [1, 1, 5, 5] }, // unknown image
      { id: 4, image_id: 1, category_id: 42, bbox: [1, 1, 5, 5] }, // unknown category
      { id: 5, image_id: 1, category_id: 7 }, // no bbox
      { id: 6, image_id: 1, category_id: 7, bbox: [1, 1, 5] }, // 3 numbers
      { id: 7, image_id: 1, category_id: 7, bbox: [1, '1', 5, 5] }, // non-numeric
      { id: 8, image_id: 1, category_id: 7, bbox: [1, 1, -5, 5] }, // negative width
      { id: 9, image_id: 1, category_id: 7, bbox: [1, 1, 5, null] }, // null height
      { id: 10, image_id: 1, category_id: 7, bbox: [1, 1, 5, 5], iscrowd: 2 }, // bad iscrowd
      { id: 11, image_id: 'one', category_id: 7, bbox: [1, 1, 5, 5] }, // non-integer image_id
      { id: 12, category_id: 7, bbox: [1, 1, 5, 5] }, // missing image_id
      'not an object',
    ],
  };
  const dsFiles: Record<string, [number, number]> = { ...files, 'small.png': [10, 20] };
  const { ann, dir } = await makeDataset(json, dsFiles);
  writeFileSync(join(dir, 'corrupt.png'), 'definitely not a png');
  const v = await validateCoco({ annFile: ann, imageDir: dir });
  const p = v.problems.map((x) => `${x.file}: ${x.where}: ${x.message}`);
  assert.equal(v.fatal, false);
  hasProblem(p, 'ann.json', 'images[2] (id 2)', 'duplicate image id 2');
  hasProblem(p, 'images[3]', "missing key 'id'");
  hasProblem(p, 'images[4] (id 4)', "missing key 'file_name'");
  hasProblem(p, 'images[5] (id 5)', "'width' must be a positive integer, got 0");
  hasProblem(p, 'images[6] (id 6)', '\'height\' must be a positive integer, got "20"');
  hasProblem(p, 'missing.png', 'images[7] (id 7)', 'file not found');
  hasProblem(p, 'corrupt.png', 'images[8] (id 8)', 'unsupported image format');
  hasProblem(p, 'small.png', 'images[9] (id 9)', 'image is 10x20 (w x h) but the json says 20x20');
  hasProblem(p, 'annotations[1]:', "missing key 'id'");
  hasProblem(p, 'annotations[2] (id 1)', 'duplicate annotation id 1');
  hasProblem(p, 'annotations[3] (id 3)', "'image_id' 99 refers to no image");
  hasProblem(p, 'annotations[4] (id 4)', "'category_id' 42 refers to no category");
  hasProblem(p, 'annotations[5] (id 5)', "missing key 'bbox'");
  hasProblem(p, 'annotations[6] (id 6)', "'bbox' must be an array of 4 numbers");
  hasProblem(p, 'annotations[7] (id 7)', 'bbox[1] (y) must be a finite number, got "1"');
  hasProblem(p, 'annotations[8] (id 8)', 'bbox[2] (width) is negative (-5)');
  hasProblem(p, 'annotations[9] (id 9)', 'bbox[3] (height) must be a finite number, got null');
  hasProblem(p, 'annotations[10] (id 10)', "'iscrowd' must be 0 or 1, got 2");
  hasProblem(p, 'annotations[11] (id 11)', "'image_id' must be an integer");
  hasProblem(p, 'annotations[12] (id 12)', "missing key 'image_id'");
  hasProblem(p, 'annotations[13]', 'expected an object');
  assert.equal(p.length, 21);

  // fail (default): one DetkdError listing them all.
  await assert.rejects(loadCoco({ annFile: ann, imageDir: dir }), (e: Error) => {
    assert.ok(e instanceof DetkdError);
    assert.match(e.message, /ann\.json: 21 problems in the dataset:/);
    assert.match(
      e.message,
      /missing\.png: images\[7\] \(id 7\): cannot read image header \(file not found\)/,
    );
    assert.match(e.message, /annotations\[8\] \(id 8\): bbox\[2\] \(width\) is negative \(-5\)/);
    return true;
  });
  // Capped listing.
  await assert.rejects(loadCoco({ annFile: ann, imageDir: dir, maxReported: 3 }), (e: Error) => {
    assert.equal(e.message.split('\n').filter((l) => l.startsWith('  ')).length, 4);
    assert.match(e.message, /\.\.\. and 18 more$/);
    return true;
  });
  // skip: warnings, bad entries dropped, the rest usable.
  const warnings: string[] = [];
  const ds = await loadCoco({
    annFile: ann,
    imageDir: dir,
    onInvalid: 'skip',
    warn: (m) => warnings.push(m),
  });
  assert.equal(warnings.length, 21);
  assert.ok(warnings.every((w) => w.endsWith('(skipped)')));
  assert.deepEqual(
    ds.records.map((r) => r.imageId),
    [1, 2],
  );
  assert.deepEqual(Array.from(ds.get(0).boxes), [1, 1, 6, 6]);
  assert.equal(ds.stats.skippedImages, 8);
  assert.equal(ds.stats.skippedAnnotations, 13);
  assert.equal(ds.stats.targets, 1);
});

test('annotations of an image whose file is bad are skipped with it', async () => {
  const { ann, dir } = await makeDataset(
    {
      images: [...goodImages, { id: 3, file_name: 'gone.png', width: 5, height: 5 }],
      categories: cats,
      annotations: [
        { id: 1, image_id: 3, category_id: 7, bbox: [1, 1, 2, 2] },
        { id: 2, image_id: 2, category_id: 7, bbox: [1, 1, 2, 2] },
      ],
    },
    files,
  );
  const warnings: string[] = [];
  const ds = await loadCoco({
    annFile: ann,
    imageDir: dir,
    onInvalid: 'skip',
    warn: (m) => warnings.push(m),
  });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /gone\.png: images\[2\] \(id 3\): cannot read image header \(file not found\)/);
  assert.equal(ds.length, 2);
  assert.equal(ds.stats.skippedAnnotations, 1);
  assert.equal(ds.stats.targets, 1);
  // checkImages 'none' does not touch the files.
  const ds2 = await loadCoco({ annFile: ann, imageDir: dir, checkImages: 'none' });
  assert.equal(ds2.length, 3);
});

test('checkImages decode finds corruption past a valid header', async () => {
  const { ann, dir } = await makeDataset({ images: goodImages, categories: cats, annotations: [] }, files);
  const png = await encodePng({
    data: new Uint8Array(40 * 30 * 3).map((_, i) => (i * 37) % 251),
    height: 30,
    width: 40,
  });
  writeFileSync(join(dir, 'a.png'), png.subarray(0, Math.floor(png.length / 2)));
  const header = await validateCoco({ annFile: ann, imageDir: dir, checkImages: 'header' });
  assert.equal(header.problems.length, 0);
  const full = await validateCoco({ annFile: ann, imageDir: dir, checkImages: 'decode' });
  assert.equal(full.problems.length, 1);
  assert.match(full.problems[0]!.file, /a\.png$/);
  assert.match(full.problems[0]!.message, /corrupt or unsupported image/);
});
