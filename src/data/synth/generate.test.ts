import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { command } from '../../cli/commands/data.ts';
import { loadCoco } from '../coco.ts';
import { decodeImageFile, encodePng } from '../decode.ts';
import { DetectionLoader } from '../loader.ts';
import { evalTransforms } from '../transforms.ts';
import { datasetHash, generateSynth, SYNTH_VERSION } from './generate.ts';

const root = mkdtempSync(join(tmpdir(), 'detkd-synth-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function pixels(dir: string, split: string): Promise<Buffer[]> {
  const names = readdirSync(join(dir, 'images', split)).sort();
  return Promise.all(
    names.map(async (n) => Buffer.from((await decodeImageFile(join(dir, 'images', split, n))).data)),
  );
}

/** Runs the CLI command, capturing stdout lines. */
async function cli(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const write = process.stderr.write;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return { code: await command.run(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
}

test('generator is deterministic: same json and decoded pixels with 0 and 2 workers; hash recomputes', async () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  const counts = { train: 6, val: 3 };
  const progress: number[] = [];
  const ma = await generateSynth({
    out: a,
    preset: 'tiny',
    seed: 7,
    workers: 0,
    counts,
    onProgress: (d) => progress.push(d),
  });
  const mb = await generateSynth({ out: b, preset: 'tiny', seed: 7, workers: 2, counts });
  assert.deepEqual(progress, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(ma, mb);
  assert.equal(ma.version, SYNTH_VERSION);
  assert.match(ma.hash, /^[0-9a-f]{64}$/);
  for (const f of ['train.json', 'val.json', 'synth.json']) {
    assert.equal(readFileSync(join(a, f), 'utf8'), readFileSync(join(b, f), 'utf8'), f);
  }
  for (const split of ['train', 'val']) {
    const pa = await pixels(a, split);
    const pb = await pixels(b, split);
    assert.equal(pa.length, split === 'train' ? 6 : 3);
    for (const [i, p] of pa.entries()) assert.ok(p.equals(pb[i]!), `${split} image ${i}`);
  }
  assert.equal(await datasetHash(a), ma.hash);
  assert.equal(await datasetHash(b), ma.hash);

  // The json is valid COCO that the loader takes as is.
  const train = JSON.parse(readFileSync(join(a, 'train.json'), 'utf8'));
  assert.equal(train.images.length, 6);
  assert.equal(train.categories.length, 13);
  assert.equal(train.images[0].file_name, 'train/000000.png');
  assert.ok(train.annotations.length >= 6);
  const ds = await loadCoco({
    annFile: join(a, 'train.json'),
    imageDir: join(a, 'images'),
    checkImages: 'decode',
  });
  assert.equal(ds.length, 6);
  assert.equal(ds.stats.targets + ds.stats.crowd, train.annotations.length);
  assert.equal(ds.stats.clipped + ds.stats.droppedDegenerate, 0);
  const loader = new DetectionLoader(ds, { batchSize: 4, transforms: evalTransforms(null), shuffle: false });
  const batches = [];
  for await (const batch of loader.epoch(0)) batches.push(batch);
  assert.deepEqual(
    batches.map((x) => x.shape),
    [
      [4, 3, 128, 128],
      [2, 3, 128, 128],
    ],
  );

  // A changed pixel changes the hash (re-encoded PNG bytes alone do not); a different seed changes the data.
  const img = await decodeImageFile(join(b, 'images', 'val', '000001.png'));
  writeFileSync(join(b, 'images', 'val', '000001.png'), await encodePng(img, 9));
  assert.equal(await datasetHash(b), ma.hash);
  img.data[100] = (img.data[100]! + 1) % 256;
  writeFileSync(join(b, 'images', 'val', '000001.png'), await encodePng(img));
  assert.notEqual(await datasetHash(b), ma.hash);
  const c = join(root, 'c');
  const mc = await generateSynth({ out: c, preset: 'tiny', seed: 8, workers: 0, counts });
  assert.notEqual(mc.hash, ma.hash);
  assert.notEqual(readFileSync(join(c, 'train.json'), 'utf8'), readFileSync(join(a, 'train.json'), 'utf8'));
});

test('detkd data synth / check / hash', async () => {
  const out = join(root, 'cli');
  const help = await cli(['synth', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /usage: detkd data/);
  const r = await cli(['synth', '--out', out, '--preset', 'tiny', '--seed', '3', '--workers', '0']);
  assert.equal(r.code, 0);
  assert.match(r.out, /wrote 48 train \+ 16 val images/);
  const hash = /hash ([0-9a-f]{64})/.exec(r.out)?.[1];
  assert.ok(hash !== undefined);
  assert.equal(JSON.parse(readFileSync(join(out, 'synth.json'), 'utf8')).hash, hash);
  const h = await cli(['hash', out]);
  assert.equal(h.out.trim(), hash);

  const ok = await cli(['check', '--ann', join(out, 'train.json'), '--images', join(out, 'images')]);
  assert.equal(ok.code, 0);
  assert.match(ok.out, /0 problem\(s\); 13 categories; 48 usable images/);

  const bad = JSON.parse(readFileSync(join(out, 'val.json'), 'utf8'));
  bad.annotations[0].bbox[2] = -1;
  bad.annotations[1].category_id = 99;
  bad.images[2].file_name = 'val/nope.png';
  writeFileSync(join(out, 'bad.json'), JSON.stringify(bad));
  const chk = await cli(['check', '--ann', join(out, 'bad.json'), '--images', join(out, 'images')]);
  assert.equal(chk.code, 1);
  assert.match(chk.out, /bad\.json: annotations\[0\] \(id 1\): bbox\[2\] \(width\) is negative \(-1\)/);
  assert.match(chk.out, /bad\.json: annotations\[1\] \(id 2\): 'category_id' 99 refers to no category/);
  assert.match(chk.out, /nope\.png: images\[2\] \(id 3\): cannot read image header \(file not found\)/);
  assert.match(chk.out, /3 problem\(s\)/);

  await assert.rejects(cli(['synth', '--out', out, '--preset', 'huge']), /--preset must be tiny or demo/);
  await assert.rejects(cli(['synth', '--preset', 'tiny']), /--out DIR is required/);
  await assert.rejects(cli(['frobnicate']), /unknown subcommand 'frobnicate'/);
  await assert.rejects(cli(['check', '--bogus']), /unknown option '--bogus'/);
});
