// Trains a small conv net with BatchNorm and dropout for a few steps with a fixed seed in
// deterministic mode, then prints a SHA-256 of every weight's bytes. Two runs must print the
// same hash (test/determinism/determinism.test.ts).
import { createHash } from 'node:crypto';
import * as F from '../../src/core/functional.ts';
import { manualSeed, setDeterministic } from '../../src/core/random.ts';
import { randint, randn, tidy } from '../../src/core/tensor.ts';
import { BatchNorm2d, Conv2d, Linear, ReLU, Sequential, SGD } from '../../src/nn/index.ts';

const seed = Number(process.argv[2] ?? 0);
manualSeed(seed);
setDeterministic(true);
const body = new Sequential(
  new Conv2d(3, 8, 3, { padding: 1 }),
  new BatchNorm2d(8),
  new ReLU(),
  new Conv2d(8, 16, 3, { stride: 2, padding: 1 }),
);
const head = new Linear(16, 5);
const params = [...body.parameters(), ...head.parameters()];
const opt = new SGD(params, { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
for (let step = 0; step < 20; step++) {
  tidy(() => {
    const x = randn([6, 3, 16, 16]);
    const y = randint(0, 5, [6]);
    const h = F.dropout(F.adaptiveAvgPool2d(body.forward(x), 1).flatten(1), 0.3, true);
    const loss = F.crossEntropy(head.forward(h), y);
    opt.zeroGrad();
    loss.backward();
    opt.step();
  });
}
const hash = createHash('sha256');
for (const [name, t] of [...body.stateDict(), ...head.stateDict()]) {
  hash.update(name);
  hash.update(new Uint8Array(t.toTypedArray().buffer));
}
console.log(hash.digest('hex'));
