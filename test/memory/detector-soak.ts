// Memory soak of a whole detector training step: the tiny recipe's GFL student (ResNet-18 x0.25
// + FPN 32, 2 stacked convs, 3 levels, GN) trained with SGD for N steps on batches of 4 random
// 128x128 images with random boxes (1..6 per image, now and then none), from a fixed generator,
// in a plain node process (no LD_PRELOAD, no flags). Prints a JSON line at step 1 and every 50
// steps: RSS, live tensor handles, loss. Used by detector-soak.test.ts and by hand:
//   node --import tsx test/memory/detector-soak.ts 1000
// Box counts and sizes change every step, so the assigner, the losses and the allocator see the
// varying shapes real batches bring.
import { native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { memoryInfo, rand, type Tensor, tensor, tidy, zeros } from '../../src/core/tensor.ts';
import { buildDetector } from '../../src/detection/models/build.ts';
import { SGD } from '../../src/nn/optim/sgd.ts';
import type { ImageMeta } from '../../src/structures/instances.ts';
import type { Batch } from '../../src/structures/tensor-batch.ts';

const steps = Number(process.argv[2] ?? 1000);
const B = 4;
const S = 128;
const C = 13;
manualSeed(1);

// mulberry32: a small fixed generator for the boxes (the images come from the engine's RNG).
let seed = 12345;
function rnd(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const metas: ImageMeta[] = Array.from({ length: B }, (_, i) => ({
  imageId: i + 1,
  fileName: `soak-${i}`,
  oriShape: [S, S],
  imgShape: [S, S],
  padShape: [S, S],
  scaleFactor: [1, 1],
  flipped: false,
}));

/** A batch of fresh tensors (freed by the step's tidy). */
function makeBatch(): Batch {
  const gtBoxes: Tensor[] = [];
  const gtLabels: Tensor[] = [];
  for (let i = 0; i < B; i++) {
    const n = rnd() < 0.05 ? 0 : 1 + Math.floor(rnd() * 6);
    const boxes = new Float32Array(n * 4);
    const labels = new BigInt64Array(n);
    for (let j = 0; j < n; j++) {
      const w = 12 + rnd() * 84;
      const h = 12 + rnd() * 84;
      const x = rnd() * (S - w);
      const y = rnd() * (S - h);
      boxes.set([x, y, x + w, y + h], j * 4);
      labels[j] = BigInt(Math.floor(rnd() * C));
    }
    gtBoxes.push(tensor(boxes, { shape: [n, 4] })); // [G, 4] xyxy
    gtLabels.push(tensor(labels, { shape: [n] })); // [G] int64
  }
  return {
    images: rand([B, 3, S, S]).mul(255), // [B, 3, S, S] 0..255
    metas,
    gtBoxes,
    gtLabels,
    ignoreBoxes: Array.from({ length: B }, () => zeros([0, 4])),
  };
}

const det = buildDetector({
  kind: 'gfl',
  numClasses: C,
  backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
  channels: 32,
  stackedConvs: 2,
  numLevels: 3,
});
det.train();
const opt = new SGD(det.trainableParameters(), { lr: 0.005, momentum: 0.9, weightDecay: 1e-4 });

const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  const loss = tidy(() => {
    const losses = det.losses(makeBatch());
    const vs = Object.values(losses);
    const total = vs.slice(1).reduce((a, b) => a.add(b), vs[0]!);
    opt.zeroGrad();
    total.backward();
    opt.step();
    return total.item();
  });
  if (step === 1 || step % 50 === 0) {
    const m = memoryInfo();
    const a = native.allocatorStats();
    const mu = process.memoryUsage();
    console.log(
      JSON.stringify({
        step,
        rssMiB: mu.rss / 2 ** 20,
        handles: m.handles,
        storages: m.storages,
        loss,
        seconds: (performance.now() - t0) / 1000,
        heapMiB: mu.heapTotal / 2 ** 20,
        allocCachedMiB: (a.cachedBytes ?? 0) / 2 ** 20,
        allocMappedMiB: (a.mappedBytes ?? 0) / 2 ** 20,
      }),
    );
  }
}
