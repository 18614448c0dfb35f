// Memory soak: trains a small conv net for N steps in a plain node process (no LD_PRELOAD, no
// flags) and prints RSS at checkpoints as JSON lines. Used by memory.test.ts and by hand:
//   node --import tsx test/memory/conv-soak.ts 2000
import * as F from '../../src/core/functional.ts';
import { native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { keep, memoryInfo, noGrad, randn, type Tensor, tidy, zeros } from '../../src/core/tensor.ts';

const steps = Number(process.argv[2] ?? 2000);
manualSeed(1);
const shapes: [number, number][] = [
  [16, 3],
  [32, 16],
  [64, 32],
];
const ws = shapes.map(([o, i]) =>
  keep(tidy(() => randn([o, i, 3, 3]).mul(Math.sqrt(2 / (i * 9))))).requiresGrad_(),
);
const bs = shapes.map(([o]) => keep(zeros([o])).requiresGrad_());
const head = keep(tidy(() => randn([10, 64]).mul(0.1))).requiresGrad_();
const params: Tensor[] = [...ws, ...bs, head];
const bufs: (Tensor | null)[] = params.map(() => null);

for (let step = 1; step <= steps; step++) {
  const loss = tidy(() => {
    // Fresh data every step (shapes vary a little, as detection batches do).
    const hw = 24 + 8 * (step % 3);
    const x = randn([4, 3, hw, hw]);
    let h = x;
    ws.forEach((w, i) => {
      h = F.relu(F.conv2d(h, w, bs[i]!, { stride: i === 0 ? 1 : 2, padding: 1 }));
    });
    const logits = F.linear(F.adaptiveAvgPool2d(h, 1).flatten(1), head);
    const target = tidy(() => x.mean([1, 2, 3]).gt(0).long());
    const l = F.crossEntropy(logits, target);
    for (const p of params) p.grad = null;
    l.backward();
    noGrad(() => {
      params.forEach((p, i) => {
        const g = p.grad!;
        const b = bufs[i];
        if (b === null || b === undefined) bufs[i] = keep(g.clone());
        else b.mul_(0.9).add_(g);
        p.sub_(bufs[i]!, 0.01);
      });
    });
    return l.item();
  });
  if (step === 1 || step % 100 === 0) {
    const m = memoryInfo();
    const a = native.allocatorStats();
    const mu = process.memoryUsage();
    console.log(
      JSON.stringify({
        step,
        rssMiB: mu.rss / 2 ** 20,
        handles: m.handles,
        loss,
        heapMiB: mu.heapTotal / 2 ** 20,
        externalMiB: mu.external / 2 ** 20,
        allocCachedMiB: (a.cachedBytes ?? 0) / 2 ** 20,
        allocMappedMiB: (a.mappedBytes ?? 0) / 2 ** 20,
      }),
    );
  }
}
