// detkd side of bench/engine: the same ResNet-18 (torchvision's layout, train-mode BatchNorm)
// forward + backward + SGD(momentum 0.9, weight decay 1e-4) step, batch 8, 3x256x256.
// Written with the engine's functional API so it measures the engine alone. Prints one JSON line.
//   node --import tsx bench/engine/resnet18.ts [threads] [warmup] [steps]
import { readFileSync } from 'node:fs';
import * as F from '../../src/core/functional.ts';
import { native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { keep, ones, randint, randn, type Tensor, tidy, zeros } from '../../src/core/tensor.ts';
import { SGD } from '../../src/nn/optim/sgd.ts';

const [threads = 2, warmup = 3, steps = 10] = process.argv.slice(2).map(Number);
native.setNumThreads(threads);
manualSeed(0);

interface BN {
  w: Tensor;
  b: Tensor;
  rm: Tensor;
  rv: Tensor;
}
const params: Tensor[] = [];
function param(t: Tensor): Tensor {
  t.requiresGrad_(true);
  params.push(keep(t));
  return t;
}
function convW(cout: number, cin: number, k: number): Tensor {
  // kaiming normal, fan_out, relu (torchvision's ResNet init)
  return param(tidy(() => randn([cout, cin, k, k]).mul(Math.sqrt(2 / (cout * k * k)))));
}
function bn(c: number): BN {
  return { w: param(ones([c])), b: param(zeros([c])), rm: keep(zeros([c])), rv: keep(ones([c])) };
}
const bnf = (x: Tensor, p: BN) => F.batchNorm(x, p.rm, p.rv, p.w, p.b, true, 0.1, 1e-5);

interface Block {
  c1: Tensor;
  b1: BN;
  c2: Tensor;
  b2: BN;
  stride: number;
  down?: { c: Tensor; b: BN };
}
function block(cin: number, cout: number, stride: number): Block {
  const b: Block = { c1: convW(cout, cin, 3), b1: bn(cout), c2: convW(cout, cout, 3), b2: bn(cout), stride };
  if (stride !== 1 || cin !== cout) b.down = { c: convW(cout, cin, 1), b: bn(cout) };
  return b;
}
const stem = { c: convW(64, 3, 7), b: bn(64) };
const layers: Block[] = [];
let cin = 64;
for (const [cout, stride] of [
  [64, 1],
  [128, 2],
  [256, 2],
  [512, 2],
] as const) {
  layers.push(block(cin, cout, stride), block(cout, cout, 1));
  cin = cout;
}
const fcBound = 1 / Math.sqrt(512);
const fcW = param(tidy(() => randn([1000, 512]).mul(fcBound)));
const fcB = param(zeros([1000]));

// Each block runs in its own tidy: its intermediates are freed as soon as the block returns
// (autograd keeps what backward needs), as PyTorch frees them when they go out of scope.
function forward(x: Tensor): Tensor {
  let h = tidy(() =>
    F.maxPool2d(F.relu(bnf(F.conv2d(x, stem.c, null, { stride: 2, padding: 3 }), stem.b)), 3, {
      stride: 2,
      padding: 1,
    }),
  );
  for (const b of layers) {
    const input = h;
    h = tidy(() => {
      let o = F.relu(bnf(F.conv2d(input, b.c1, null, { stride: b.stride, padding: 1 }), b.b1));
      o = bnf(F.conv2d(o, b.c2, null, { padding: 1 }), b.b2);
      const idn = b.down ? bnf(F.conv2d(input, b.down.c, null, { stride: b.stride }), b.down.b) : input;
      return F.relu(o.add(idn));
    });
    input.dispose();
  }
  return tidy(() => F.linear(F.adaptiveAvgPool2d(h, 1).flatten(1), fcW, fcB));
}

// detkd's SGD (momentum, weight decay; multi-tensor ops, bit-identical to torch.optim.SGD).
const opt = new SGD(params, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });

const x = keep(randn([8, 3, 256, 256]));
const y = keep(randint(0, 1000, [8]));
const times: number[] = [];
let lossValue = 0;
for (let i = 0; i < warmup + steps; i++) {
  const t0 = performance.now();
  tidy(() => {
    opt.zeroGrad();
    const loss = F.crossEntropy(forward(x), y);
    loss.backward();
    opt.step();
    lossValue = loss.item();
  });
  const dt = performance.now() - t0;
  if (i >= warmup) times.push(dt);
}
const hwm = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
console.log(
  JSON.stringify({
    side: 'detkd',
    times,
    peakRssMiB: hwm ? Number(hwm[1]) / 1024 : 0,
    loss: lossValue,
    allocator: native.allocatorStats(),
  }),
);
