import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DetkdError } from '../core/errors.ts';
import type { HostBatch } from '../structures/batch.ts';
import { Boxes } from '../structures/boxes.ts';
import { boxesToOriginal } from '../structures/instances.ts';
import { encodePng } from './decode.ts';
import { DetectionLoader } from './loader.ts';
import { Rng } from './rng.ts';
import type { DetectionSource, SampleRecord } from './sample.ts';
import { trainTransforms } from './transforms.ts';

const dir = mkdtempSync(join(tmpdir(), 'detkd-loader-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const records: SampleRecord[] = [];
const source: DetectionSource = { length: 0, get: (i) => records[i]! };

before(async () => {
  // 7 images of different sizes with 1–3 boxes each (and one crowd region on image 0).
  const rng = Rng.from(99);
  for (let i = 0; i < 7; i++) {
    const h = rng.int(20, 60);
    const w = rng.int(20, 60);
    const data = new Uint8Array(h * w * 3);
    for (let k = 0; k < data.length; k++) data[k] = rng.int(0, 255);
    const path = join(dir, `im${i}.png`);
    writeFileSync(path, await encodePng({ data, height: h, width: w }));
    const n = rng.int(1, 3);
    const boxes: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < n; k++) {
      const x1 = rng.int(0, w - 10);
      const y1 = rng.int(0, h - 10);
      boxes.push(x1, y1, x1 + rng.int(5, 10), y1 + rng.int(5, 10));
      labels.push(rng.int(0, 4));
    }
    records.push({
      imageId: 100 + i,
      fileName: `im${i}.png`,
      filePath: path,
      boxes: Float32Array.from(boxes),
      labels: Int32Array.from(labels),
      ignore: Float32Array.from(i === 0 ? [1, 1, 5, 5] : []),
    });
  }
  (source as { length: number }).length = records.length;
});

const transforms = trainTransforms({ kind: 'keepRatio', short: 48, max: 80 });

async function collect(loader: DetectionLoader, epoch: number, startStep = 0): Promise<HostBatch[]> {
  const out: HostBatch[] = [];
  for await (const b of loader.epoch(epoch, { startStep })) out.push(b);
  return out;
}

/** A comparable digest of a batch: everything but the big image array, plus a checksum of it. */
function digest(b: HostBatch): unknown {
  let sum = 0;
  for (let i = 0; i < b.images.length; i++) sum = (sum * 31 + Math.round(b.images[i]! * 1000)) % 1e9;
  return {
    shape: b.shape,
    sum,
    metas: b.metas,
    boxes: b.gtBoxes.map((x) => Array.from(x.data)),
    labels: b.gtLabels.map((x) => Array.from(x)),
    ignore: b.ignoreBoxes.map((x) => Array.from(x.data)),
    indices: b.indices,
    epoch: b.epoch,
    step: b.step,
  };
}

test('steps per epoch, batch sizes, drop-last, epoch covers a permutation', async () => {
  const loader = new DetectionLoader(source, { batchSize: 3, transforms, seed: 5 });
  assert.equal(loader.stepsPerEpoch, 3);
  const batches = await collect(loader, 0);
  assert.deepEqual(
    batches.map((b) => b.shape[0]),
    [3, 3, 1],
  );
  const seen = batches.flatMap((b) => b.indices).sort();
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(
    batches.flatMap((b) => b.indices),
    Array.from(loader.order(0)),
  );
  assert.notDeepEqual(Array.from(loader.order(0)), Array.from(loader.order(1)));
  const dl = new DetectionLoader(source, { batchSize: 3, transforms, seed: 5, dropLast: true });
  assert.equal(dl.stepsPerEpoch, 2);
  assert.deepEqual(
    (await collect(dl, 0)).map((b) => b.indices),
    [Array.from(loader.order(0).subarray(0, 3)), Array.from(loader.order(0).subarray(3, 6))],
  );
  const ordered = new DetectionLoader(source, { batchSize: 4, transforms, shuffle: false });
  assert.deepEqual(ordered.batchIndices(0, 1), [4, 5, 6]);
});

test('HostBatch layout: padded to 32 with zeros, metas, targets that map back to the original', async () => {
  const loader = new DetectionLoader(source, { batchSize: 7, transforms, seed: 1 });
  const [b] = await collect(loader, 2);
  assert.ok(b !== undefined);
  const [B, C, H, W] = b.shape;
  assert.equal(B, 7);
  assert.equal(C, 3);
  assert.equal(H % 32, 0);
  assert.equal(W % 32, 0);
  assert.equal(b.images.length, B * C * H * W);
  let flipped = 0;
  for (let i = 0; i < B; i++) {
    const m = b.metas[i]!;
    const r = records[b.indices[i]!]!;
    assert.equal(m.imageId, r.imageId);
    assert.deepEqual(m.padShape, [H, W]);
    const [h, w] = m.imgShape;
    assert.ok(Math.min(h, w) === 48 || Math.max(h, w) === 80, `imgShape ${h}x${w}`);
    assert.ok(Math.abs(m.scaleFactor[0] - w / m.oriShape[1]) < 1e-9);
    if (m.flipped) flipped++;
    // Zero padding right of and below the valid region, in every channel.
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = y < h ? w : 0; x < W; x++) assert.equal(b.images[((i * 3 + c) * H + y) * W + x], 0);
      }
    }
    // Values are 0..255, not normalised.
    const plane = b.images.subarray(i * 3 * H * W, (i + 1) * 3 * H * W);
    assert.ok(Math.max(...plane) > 200 && Math.min(...plane) >= 0 && Math.max(...plane) <= 255);
    assert.ok(b.gtLabels[i] instanceof Int32Array);
    assert.deepEqual(Array.from(b.gtLabels[i]!), Array.from(r.labels));
    const back = boxesToOriginal(b.gtBoxes[i]!, m);
    for (let k = 0; k < r.boxes.length; k++) assert.ok(Math.abs(back.data[k]! - r.boxes[k]!) < 1e-3);
    const ign = boxesToOriginal(b.ignoreBoxes[i]!, m);
    assert.deepEqual(Array.from(ign.data).map(Math.round), Array.from(r.ignore));
  }
  assert.ok(flipped > 0 && flipped < B, `flipped ${flipped} of ${B}`);
  assert.ok(b.gtBoxes[0] instanceof Boxes);
});

test('identical batches with 0, 1 and 2 workers, across epochs', async () => {
  const runs: unknown[][] = [];
  for (const numWorkers of [0, 1, 2]) {
    await using loader = new DetectionLoader(source, {
      batchSize: 3,
      transforms,
      seed: 11,
      numWorkers,
      prefetch: 1,
    });
    const ds: unknown[] = [];
    for (const epoch of [0, 1]) for (const b of await collect(loader, epoch)) ds.push(digest(b));
    runs.push(ds);
  }
  assert.equal(runs[0]!.length, 6);
  assert.deepEqual(runs[1], runs[0]);
  assert.deepEqual(runs[2], runs[0]);
  // And a different seed really changes them.
  const other = new DetectionLoader(source, { batchSize: 3, transforms, seed: 12 });
  assert.notDeepEqual((await collect(other, 0)).map(digest), runs[0]!.slice(0, 3));
});

test('restart at (epoch, step) gives exactly the remaining batches', async () => {
  await using loader = new DetectionLoader(source, { batchSize: 2, transforms, seed: 3, numWorkers: 2 });
  const full = (await collect(loader, 4)).map(digest);
  assert.equal(full.length, 4);
  const fresh = new DetectionLoader(source, { batchSize: 2, transforms, seed: 3 });
  assert.deepEqual((await collect(fresh, 4, 2)).map(digest), full.slice(2));
  assert.deepEqual(await collect(fresh, 4, 4), []);
  await assert.rejects(collect(fresh, 4, 5), RangeError);
});

test('a missing image fails the epoch with an error naming the file (in-process and in a worker)', async () => {
  const broken: DetectionSource = {
    length: 3,
    get: (i) => (i === 1 ? { ...records[1]!, filePath: join(dir, 'gone.png') } : records[i]!),
  };
  for (const numWorkers of [0, 1]) {
    await using loader = new DetectionLoader(broken, { batchSize: 3, transforms, numWorkers });
    await assert.rejects(collect(loader, 0), (e: Error) => {
      assert.ok(e instanceof DetkdError, `${e.name}`);
      assert.match(e.message, /gone\.png: cannot read image \(file not found\)/);
      return true;
    });
  }
});

test('breaking out early and closing leaves no worker behind', async () => {
  const loader = new DetectionLoader(source, { batchSize: 1, transforms, numWorkers: 2, prefetch: 3 });
  for await (const b of loader.epoch(0)) {
    assert.equal(b.shape[0], 1);
    break;
  }
  await loader.close();
  await assert.rejects(collect(loader, 0), /closed/);
});

test('the decoded-image cache gives identical batches (in-process and in a worker) and fills once', async () => {
  const plain = new DetectionLoader(source, { batchSize: 3, transforms, seed: 5 });
  const inproc = new DetectionLoader(source, { batchSize: 3, transforms, seed: 5, cacheBytes: 64 << 20 });
  const worker = new DetectionLoader(source, {
    batchSize: 3,
    transforms,
    seed: 5,
    numWorkers: 1,
    cacheBytes: 64 << 20,
  });
  try {
    for (const epoch of [0, 1, 2]) {
      const want = (await collect(plain, epoch)).map(digest);
      assert.deepEqual((await collect(inproc, epoch)).map(digest), want, `in-process, epoch ${epoch}`);
      assert.deepEqual((await collect(worker, epoch)).map(digest), want, `worker, epoch ${epoch}`);
    }
    assert.equal(inproc.cacheUsage.images, records.length);
    assert.equal(worker.cacheUsage.images, records.length);
    const tiny = new DetectionLoader(source, { batchSize: 3, transforms, seed: 5, cacheBytes: 1 });
    await collect(tiny, 0);
    assert.equal(tiny.cacheUsage.images, 0, 'the byte budget is respected');
    await tiny.close();
  } finally {
    await plain.close();
    await inproc.close();
    await worker.close();
  }
});
