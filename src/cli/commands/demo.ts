// `detkd demo`: until the detectors land, trains a small conv net on generated shape images and
// prints its loss falling and its held-out accuracy rising. Bounded: a fixed number of steps.
import { parseArgs } from 'node:util';
import * as F from '../../core/functional.ts';
import { native } from '../../core/native.ts';
import { Generator, manualSeed } from '../../core/random.ts';
import {
  arange,
  keep,
  noGrad,
  rand,
  randint,
  randn,
  stack,
  type Tensor,
  tidy,
  where,
  zeros,
} from '../../core/tensor.ts';
import type { Command } from '../main.ts';

const CLASSES = ['square', 'disc', 'ring', 'cross'] as const;
const SIZE = 32;

/** Images [N,1,SIZE,SIZE] of random shapes at random places and sizes, with noise; labels [N]. */
function makeBatch(n: number, gen: Generator): { x: Tensor; y: Tensor } {
  return tidy(() => {
    const y = randint(0, CLASSES.length, [n], { generator: gen });
    const labels = y.toArray();
    const cx = rand([n], { generator: gen })
      .mul(SIZE * 0.5)
      .add(SIZE * 0.25)
      .view(n, 1, 1);
    const cy = rand([n], { generator: gen })
      .mul(SIZE * 0.5)
      .add(SIZE * 0.25)
      .view(n, 1, 1);
    const r = rand([n], { generator: gen }).mul(5).add(5).view(n, 1, 1);
    const xs = arange(0, SIZE, 1, { dtype: 'float32' }).view(1, 1, SIZE);
    const ys = arange(0, SIZE, 1, { dtype: 'float32' }).view(1, SIZE, 1);
    const dx = xs.sub(cx).abs();
    const dy = ys.sub(cy).abs();
    const dist = dx.square().add(dy.square()).sqrt();
    const masks = [
      dx
        .le(r)
        .logicalAnd(dy.le(r)), // square
      dist.le(r), // disc
      dist
        .le(r)
        .logicalAnd(dist.ge(r.mul(0.55))), // ring
      dx
        .le(r.mul(0.3))
        .logicalAnd(dy.le(r))
        .logicalOr(dy.le(r.mul(0.3)).logicalAnd(dx.le(r))), // cross
    ];
    const imgs = labels.map((c, i) => masks[c]!.select(0, i));
    const shape = stack(imgs).float().unsqueeze(1);
    const x = where(shape.gt(0.5), 1, 0).add(randn([n, 1, SIZE, SIZE], { generator: gen }).mul(0.3));
    return { x, y };
  });
}

export const command: Command = {
  summary: 'train a small conv net on generated shapes and print its loss falling',
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: {
        steps: { type: 'string', default: '300' },
        seed: { type: 'string', default: '0' },
        help: { type: 'boolean', default: false },
      },
    });
    if (values.help) {
      console.log('usage: detkd demo [--steps N] [--seed S]');
      return 0;
    }
    const steps = Number(values.steps);
    const seed = Number(values.seed);
    manualSeed(seed);
    const gen = new Generator(seed);
    const threads = native.getNumThreads().intraOp;
    console.log(
      `detkd demo: a 3-layer conv net learns ${CLASSES.length} shapes (${CLASSES.join(', ')}), ${steps} steps, ${threads} threads`,
    );
    const chans: [number, number][] = [
      [16, 1],
      [32, 16],
      [64, 32],
    ];
    const ws = chans.map(([o, i]) =>
      keep(tidy(() => randn([o, i, 3, 3]).mul(Math.sqrt(2 / (i * 9))))).requiresGrad_(),
    );
    const bs = chans.map(([o]) => keep(zeros([o])).requiresGrad_());
    const head = keep(tidy(() => randn([CLASSES.length, 64]).mul(0.05))).requiresGrad_();
    const headB = keep(zeros([CLASSES.length])).requiresGrad_();
    const params = [...ws, ...bs, head, headB];
    const bufs: (Tensor | null)[] = params.map(() => null);
    const forward = (x: Tensor) => {
      let h = x;
      ws.forEach((w, i) => {
        h = F.relu(F.conv2d(h, w, bs[i]!, { stride: i === 0 ? 1 : 2, padding: 1 }));
      });
      return F.linear(F.adaptiveAvgPool2d(h, 1).flatten(1), head, headB);
    };
    const val = makeBatch(256, new Generator(seed + 1));
    keep(val.x);
    keep(val.y);
    const accuracy = () => tidy(() => noGrad(() => forward(val.x).argmax(1).eq(val.y).float().mean().item()));
    console.log(`step     0  held-out accuracy ${(accuracy() * 100).toFixed(1)}%`);
    const t0 = performance.now();
    let avg = 0;
    for (let step = 1; step <= steps; step++) {
      const lr = 0.05 * Math.min(1, step / 20);
      const loss = tidy(() => {
        const { x, y } = makeBatch(32, gen);
        for (const p of params) p.grad = null;
        const l = F.crossEntropy(forward(x), y);
        l.backward();
        noGrad(() => {
          params.forEach((p, i) => {
            const g = p.grad!;
            const b = bufs[i];
            if (b === null || b === undefined) bufs[i] = keep(g.clone());
            else b.mul_(0.9).add_(g);
            p.sub_(bufs[i]!, lr);
          });
        });
        return l.item();
      });
      if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}`);
      avg = step === 1 ? loss : 0.9 * avg + 0.1 * loss;
      if (step % 25 === 0 || step === steps) {
        const s = (performance.now() - t0) / 1000;
        const eta = (s / step) * (steps - step);
        console.log(
          `step ${String(step).padStart(5)}  loss ${avg.toFixed(4)}  ${s.toFixed(1)}s elapsed, eta ${eta.toFixed(1)}s` +
            (step % 100 === 0 || step === steps
              ? `  held-out accuracy ${(accuracy() * 100).toFixed(1)}%`
              : ''),
        );
      }
    }
    const acc = accuracy();
    console.log(
      `done: held-out accuracy ${(acc * 100).toFixed(1)}% (chance ${(100 / CLASSES.length).toFixed(0)}%)`,
    );
    return 0;
  },
};
