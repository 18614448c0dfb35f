// Device tests: the same ops on CUDA as on the CPU, when a CUDA device and a CUDA build of
// libtorch are present (LIBTORCH=/path make build); skipped cleanly otherwise.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { batchedNms, boxIou } from '../../src/core/box-ops.ts';
import * as F from '../../src/core/functional.ts';
import { native } from '../../src/core/native.ts';
import { Generator } from '../../src/core/random.ts';
import { randn, type Tensor, tensor, tidy } from '../../src/core/tensor.ts';
import { buildDetector } from '../../src/detection/models/build.ts';

const cuda = native.cudaInfo();
const skip = cuda.available ? false : 'no CUDA device (or a CPU-only libtorch): device tests skipped';

function close(a: Tensor, b: Tensor, rtol = 1e-4, atol = 1e-5): void {
  const x = a.cpu().toArray();
  const y = b.cpu().toArray();
  assert.equal(x.length, y.length);
  for (let i = 0; i < x.length; i++)
    assert.ok(Math.abs(x[i]! - y[i]!) <= atol + rtol * Math.abs(y[i]!), `element ${i}: ${x[i]} vs ${y[i]}`);
}

test('CUDA: conv2d forward/backward matches the CPU', { skip }, () => {
  tidy(() => {
    const g = new Generator(1);
    const x = randn([2, 3, 16, 16], { generator: g });
    const w = randn([8, 3, 3, 3], { generator: g });
    const xc = x.cuda().requiresGrad_();
    const wc = w.cuda().requiresGrad_();
    const xs = x.clone().requiresGrad_();
    const ws = w.clone().requiresGrad_();
    F.conv2d(xc, wc, null, { padding: 1 }).relu().sum().backward();
    F.conv2d(xs, ws, null, { padding: 1 }).relu().sum().backward();
    close(wc.grad!, ws.grad!);
    assert.equal(wc.grad!.device, 'cuda:0');
  });
});

test('CUDA: box ops and NMS (host kernel) on device tensors', { skip }, () => {
  tidy(() => {
    const b = tensor([
      [0, 0, 10, 10],
      [1, 1, 10, 10],
      [20, 20, 30, 30],
    ]);
    close(boxIou(b.cuda(), b.cuda()), boxIou(b, b));
    const keep = batchedNms(
      b.cuda(),
      tensor([0.9, 0.8, 0.7]).cuda(),
      tensor([0, 0, 0], { dtype: 'int64' }).cuda(),
      0.5,
    );
    assert.deepEqual(keep.toArray(), [0, 2]);
  });
});

test('CUDA: a detector trains a step on the device', { skip }, () => {
  tidy(() => {
    const det = buildDetector({
      kind: 'gfl',
      numClasses: 3,
      backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
      channels: 16,
      stackedConvs: 1,
      numLevels: 3,
    });
    det.to('cuda:0');
    const meta = {
      imageId: 1,
      fileName: 'x',
      oriShape: [64, 64] as const,
      imgShape: [64, 64] as const,
      padShape: [64, 64] as const,
      scaleFactor: [1, 1] as const,
      flipped: false,
    };
    const l = det.losses({
      images: randn([1, 3, 64, 64]).cuda(),
      metas: [meta],
      gtBoxes: [tensor([[8, 8, 40, 40]]).cuda()],
      gtLabels: [tensor([1], { dtype: 'int64' }).cuda()],
      ignoreBoxes: [tensor(new Float32Array(0), { shape: [0, 4] }).cuda()],
    });
    const total = Object.values(l).reduce((a, b) => a.add(b));
    total.backward();
    assert.ok(Number.isFinite(total.item()));
    det.dispose();
  });
});
