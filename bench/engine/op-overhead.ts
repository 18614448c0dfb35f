// Per-op overhead of a tiny add (1-element tensors), detkd side: the generated wrapper, the
// native boundary, the boxed call and the handle, with the result disposed each time (as a
// tidy would). Prints JSON: us/op.
import { native } from '../../src/core/native.ts';
import { ones } from '../../src/core/tensor.ts';

const n = Number(process.argv[2] ?? 100000);
native.setNumThreads(1);
const a = ones([1]);
const b = ones([1]);
for (let i = 0; i < 1000; i++) a.add(b).dispose();
const res: Record<string, number> = {};
let t0 = performance.now();
for (let i = 0; i < n; i++) a.add(b).dispose();
res.add = ((performance.now() - t0) / n) * 1000;
const ag = ones([1], { requiresGrad: true });
t0 = performance.now();
for (let i = 0; i < n; i++) ag.add(b).dispose();
res.addRequiresGrad = ((performance.now() - t0) / n) * 1000;
console.log(JSON.stringify({ side: 'detkd', usPerOp: res }));
