// The trainer over the real data path: DetectionLoader (random transforms, 2 workers) ->
// detectionSource -> tensor Batch. Stopping mid-epoch and resuming gives the same weights, and
// every batch's tensors are freed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as F from '../../src/core/functional.ts';
import { manualSeed } from '../../src/core/random.ts';
import { memoryInfo, stack, type Tensor, tensor } from '../../src/core/tensor.ts';
import { encodePng } from '../../src/data/decode.ts';
import { DetectionLoader } from '../../src/data/loader.ts';
import { Rng } from '../../src/data/rng.ts';
import type { DetectionSource, SampleRecord } from '../../src/data/sample.ts';
import { trainTransforms } from '../../src/data/transforms.ts';
import { Conv2d, Linear, Module } from '../../src/nn/index.ts';
import type { Batch } from '../../src/structures/tensor-batch.ts';
import { detectionSource, type Task, Trainer } from '../../src/train/index.ts';
import { Collector, weightsHash } from './tiny-task.ts';

const dir = mkdtempSync(join(tmpdir(), 'detkd-train-det-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const records: SampleRecord[] = [];
const dataset: DetectionSource = { length: 0, get: (i) => records[i]! };

before(async () => {
  const rng = Rng.from(5);
  for (let i = 0; i < 7; i++) {
    const h = rng.int(24, 48);
    const w = rng.int(24, 48);
    const data = new Uint8Array(h * w * 3);
    for (let k = 0; k < data.length; k++) data[k] = rng.int(0, 255);
    const path = join(dir, `im${i}.png`);
    writeFileSync(path, await encodePng({ data, height: h, width: w }));
    const boxes: number[] = [];
    const labels: number[] = [];
    for (let k = 0; k < 1 + (i % 3); k++) {
      const x1 = rng.int(0, w - 10);
      const y1 = rng.int(0, h - 10);
      boxes.push(x1, y1, x1 + rng.int(5, 10), y1 + rng.int(5, 10));
      labels.push(rng.int(0, 3));
    }
    records.push({
      imageId: i,
      fileName: `im${i}.png`,
      filePath: path,
      boxes: Float32Array.from(boxes),
      labels: Int32Array.from(labels),
      ignore: new Float32Array(0),
    });
  }
  (dataset as { length: number }).length = records.length;
});

class CountNet extends Module {
  readonly conv = this.register('conv', new Conv2d(3, 4, 3, { stride: 2 }));
  readonly fc = this.register('fc', new Linear(4, 1));
  forward(x: Tensor): Tensor {
    return this.fc.forward(F.adaptiveAvgPool2d(this.conv.forward(x.div(255)).relu(), 1).flatten(1)).flatten();
  }
}

/** Regresses the number of boxes of each image (and the mean box width, to use the boxes). */
function countTask(): Task<Batch> & { module: CountNet } {
  manualSeed(1);
  const net = new CountNet();
  return {
    module: net,
    losses(b) {
      const n = tensor(b.gtLabels.map((l) => l.numel));
      const w = stack(b.gtBoxes.map((g) => g.select(1, 2).sub(g.select(1, 0)).mean()));
      const out = net.forward(b.images);
      return { loss_count: F.mseLoss(out, n), loss_width: out.sub(w.div(10)).abs().mean().mul(0.1) };
    },
  };
}

async function run(runDir: string, over: { stopAtIter?: number; resume?: boolean } = {}): Promise<string> {
  await using loader = new DetectionLoader(dataset, {
    batchSize: 2,
    transforms: trainTransforms({ kind: 'keepRatio', short: 32, max: 48 }),
    seed: 9,
    numWorkers: 2,
  });
  if (over.resume === true) manualSeed(12345);
  const task = countTask();
  await new Trainer(task, detectionSource(loader), {
    runDir,
    epochs: 2,
    seed: 2,
    progress: 'lines',
    out: new Collector(),
    optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 },
    clipGrad: { maxNorm: 35 },
    ...over,
  }).fit();
  return weightsHash(task.module);
}

test('DetectionLoader source: stop mid-epoch and resume is bit-identical; batches are freed', async () => {
  const handles = memoryInfo().handles;
  const ref = await run(join(dir, 'a'));
  const leaked = memoryInfo().handles - handles;
  assert.ok(leaked < 20, `${leaked} handles leaked`);
  await run(join(dir, 'b'), { stopAtIter: 3 });
  assert.equal(await run(join(dir, 'b'), { resume: true }), ref);
});
