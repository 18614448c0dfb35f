// Tensors nobody disposes: 400 kept in an array, 3,000 dropped on the floor inside one
// synchronous loop. The GC finalizers must free the dropped ones (V8 knows their size through
// the external-memory accounting) without crashing V8 (finalizers run inside the collector and
// must not call back into it). Prints the live handle count and the peak RSS.
import { native } from '../../src/core/native.ts';
import { rand, randn, type Tensor } from '../../src/core/tensor.ts';

native.setNumThreads(1);
const w: Tensor[] = [];
for (let i = 0; i < 400; i++) w.push(i % 3 === 0 ? randn([256, 128, 3, 3]).mul(0.01) : rand([256]).add(0.5));
let peak = 0;
for (let i = 0; i < 3000; i++) {
  randn([256, 128, 3, 3]).mul(0.01); // 1.2 MB each, never disposed
  if (i % 100 === 0) peak = Math.max(peak, process.memoryUsage.rss());
}
console.log(
  JSON.stringify({ live: native.liveHandles().handles, kept: w.length, peakRssMiB: peak / 2 ** 20 }),
);
