// Does the loader slow training down? The same training step (a ResNet-ish conv net, batch 8,
// demo images resized to 192 px) timed on one preloaded batch, and with the DetectionLoader
// decoding demo PNGs ahead of it in 1 or 2 worker threads, in alternating rounds. One thread
// budget: libtorch's intra-op threads and OpenBLAS = DETKD_NUM_THREADS (default: all cores),
// libvips one thread per decode, parallelism from loader workers. The 'cached' variant keeps
// decoded images in memory (epoch 0 fills the cache; epoch 1 is timed), as the recipes do.
//   node --import tsx bench/data/loader-step.ts [--rounds 3] [--steps 12] [--workers 0,1,2]
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as F from '../../src/core/functional.ts';
import { native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { type Tensor, tidy } from '../../src/core/tensor.ts';
import { loadCoco } from '../../src/data/coco.ts';
import { DetectionLoader } from '../../src/data/loader.ts';
import { generateSynth } from '../../src/data/synth/generate.ts';
import { trainTransforms } from '../../src/data/transforms.ts';
import { BatchNorm2d, Conv2d, ReLU, Sequential, SGD } from '../../src/nn/index.ts';
import { disposeBatch, toTensorBatch } from '../../src/structures/tensor-batch.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    steps: { type: 'string', default: '12' },
    workers: { type: 'string', default: '1,2' },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const workerCounts = values.workers.split(',').map(Number);

const dir = join('.cache', 'bench-loader-demo');
if (!existsSync(join(dir, 'train.json'))) {
  console.log(`generating ${dir} (demo preset, 240 train images) ...`);
  await generateSynth({ out: dir, preset: 'demo', counts: { train: 240, val: 8 }, workers: 2 });
}
const ds = await loadCoco({ annFile: join(dir, 'train.json'), imageDir: join(dir, 'images') });
manualSeed(0);
const block = (i: number, o: number, s: number) => [
  new Conv2d(i, o, 3, { stride: s, padding: 1, bias: false }),
  new BatchNorm2d(o),
  new ReLU(),
];
const net = new Sequential(
  ...block(3, 32, 2),
  ...block(32, 32, 1),
  ...block(32, 64, 2),
  ...block(64, 64, 1),
  ...block(64, 128, 2),
  ...block(128, 128, 1),
  ...block(128, 256, 2),
  ...block(256, 256, 1),
);
const opt = new SGD([...net.parameters()], { lr: 0.01, momentum: 0.9 });
const transforms = trainTransforms({ kind: 'fixed', height: 192, width: 192 });

function step(images: Tensor): void {
  tidy(() => {
    const x = images.div(255);
    const loss = F.relu(net.forward(x)).mean();
    opt.zeroGrad();
    loss.backward();
    opt.step();
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
};

async function preloaded(): Promise<number> {
  const loader = new DetectionLoader(ds, { batchSize: 8, transforms, numWorkers: 0, seed: 1 });
  const it = loader.epoch(0)[Symbol.asyncIterator]();
  const host = (await it.next()).value!;
  await it.return?.(undefined);
  await loader.close();
  const b = toTensorBatch(host);
  step(b.images);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step(b.images);
    times.push(performance.now() - t0);
  }
  disposeBatch(b);
  return median(times);
}

async function streaming(numWorkers: number, cached = false): Promise<number> {
  const loader = new DetectionLoader(ds, {
    batchSize: 8,
    transforms,
    numWorkers,
    seed: 1,
    prefetch: 2,
    ...(cached ? { cacheBytes: 1 << 30 } : {}),
  });
  if (cached) for await (const _ of loader.epoch(0)); // epoch 0 fills the cache (decode only)
  const times: number[] = [];
  let i = 0;
  let t0 = performance.now();
  for await (const host of loader.epoch(cached ? 1 : 0)) {
    const b = toTensorBatch(host);
    step(b.images);
    disposeBatch(b);
    const t = performance.now();
    if (i > 0) times.push(t - t0); // the first includes worker start-up
    t0 = t;
    if (++i > steps) break;
  }
  await loader.close();
  return median(times);
}

const threads = native.getNumThreads();
console.log(
  `loader-step bench: ${rounds} rounds x ${steps} steps, libtorch ${threads.intraOp} threads, BLAS ${threads.blas}`,
);
const res: Record<string, number[]> = { preloaded: [] };
for (const w of workerCounts) res[`loader, ${w} worker(s)`] = [];
res['loader, 1 worker, cached'] = [];
for (let r = 0; r < rounds; r++) {
  res.preloaded!.push(await preloaded());
  for (const w of workerCounts) res[`loader, ${w} worker(s)`]!.push(await streaming(w));
  res['loader, 1 worker, cached']!.push(await streaming(1, true));
  console.log(
    `  round ${r + 1}: ${Object.entries(res)
      .map(([k, v]) => `${k} ${v[r]!.toFixed(0)} ms`)
      .join(', ')}`,
  );
}
const base = median(res.preloaded!);
for (const [k, v] of Object.entries(res)) {
  const m = median(v);
  console.log(`${k.padEnd(22)} ${m.toFixed(1)} ms/step  ratio ${(m / base).toFixed(3)}`);
}
