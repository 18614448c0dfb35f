// Scopes, grad mode, the async path, read-back and creation: the engine's own contract.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { native } from './native.ts';
import * as ops from './ops.generated.ts';
import { Generator, getRngState, manualSeed, setRngState } from './random.ts';
import {
  arange,
  callAsync,
  DisposedTensorError,
  dispose,
  enableGrad,
  isGradEnabled,
  keep,
  memoryInfo,
  noGrad,
  ones,
  randn,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from './tensor.ts';

test('tidy frees what fn made, keeps what it returns (nested in arrays, objects, Maps)', () => {
  const before = memoryInfo().handles;
  let inner: Tensor | undefined;
  const out = tidy(() => {
    inner = ones([3]).add(1);
    const a = zeros([2]);
    const b = ones([2]);
    return { list: [a], map: new Map([['b', b]]) };
  });
  assert.equal(inner!.isDisposed, true);
  assert.equal(out.list[0]!.isDisposed, false);
  assert.equal(out.map.get('b')!.isDisposed, false);
  assert.equal(memoryInfo().handles, before + 2);
  dispose(out);
  assert.equal(memoryInfo().handles, before);
});

test('returned tensors move to the enclosing scope; keep survives every scope', () => {
  const before = memoryInfo().handles;
  let kept: Tensor | undefined;
  let moved: Tensor | undefined;
  tidy(() => {
    moved = tidy(() => ones([1]));
    kept = tidy(() => keep(zeros([1])));
    assert.equal(moved.isDisposed, false);
  });
  assert.equal(moved!.isDisposed, true, 'the outer tidy frees what the inner one returned');
  assert.equal(kept!.isDisposed, false);
  kept!.dispose();
  assert.equal(memoryInfo().handles, before);
});

test('tidy frees its tensors when fn throws, and rejects Promise-returning functions', () => {
  const before = memoryInfo().handles;
  assert.throws(
    () =>
      tidy(() => {
        ones([4]);
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(memoryInfo().handles, before);
  assert.throws(() => tidy(() => Promise.resolve(1) as unknown as number), /synchronous/);
});

test('a synchronous loop in tidy keeps the handle count flat without GC', () => {
  const x = keep(randn([64, 64]));
  const before = memoryInfo().handles;
  for (let i = 0; i < 2000; i++) {
    tidy(() => {
      x.matmul(x).relu().sum();
    });
  }
  assert.equal(memoryInfo().handles, before);
  x.dispose();
});

test('using disposes at the end of the block; a disposed tensor throws a JS error', () => {
  let t: Tensor;
  {
    using u = ones([2]);
    t = u;
    assert.equal(t.isDisposed, false);
  }
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.add(1), DisposedTensorError);
  assert.throws(() => t.shape, DisposedTensorError);
  t.dispose(); // idempotent
});

test('autograd: backward, grad accumulation, retainGraph, detach, grad setter', () => {
  tidy(() => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward(null, { retainGraph: true });
    assert.deepEqual(x.grad!.toArray(), [2, 4, 6]);
    y.backward();
    assert.deepEqual(x.grad!.toArray(), [4, 8, 12], 'gradients accumulate');
    x.grad = null;
    assert.equal(x.grad, null);
    assert.equal(x.detach().requiresGrad, false);
    assert.equal(x.isLeaf, true);
    assert.equal(y.isLeaf, false);
    assert.throws(() => x.mul(2).backward(), /grad can be implicitly created only for scalar outputs/);
    const v = x.mul(2);
    v.backward(tensor([1, 0, 1]));
    assert.deepEqual(x.grad!.toArray(), [2, 0, 2]);
  });
});

test('noGrad / enableGrad nest and restore on throw; Promise-returning fns are rejected', () => {
  tidy(() => {
    const x = ones([2], { requiresGrad: true });
    assert.equal(isGradEnabled(), true);
    noGrad(() => {
      assert.equal(x.mul(2).requiresGrad, false);
      enableGrad(() => assert.equal(x.mul(2).requiresGrad, true));
      assert.equal(isGradEnabled(), false);
    });
    assert.throws(() =>
      noGrad(() => {
        throw new Error('x');
      }),
    );
    assert.equal(isGradEnabled(), true);
    assert.throws(() => noGrad(() => Promise.resolve(0)), /Promise/);
    assert.equal(isGradEnabled(), true);
  });
});

test('the async op path carries grad mode to the worker thread', async () => {
  const x = ones([3], { requiresGrad: true });
  const ids = native.opTable().map((o) => o.name);
  const mulId = ids.indexOf('aten::mul.Scalar');
  assert.ok(mulId >= 0);
  // Started inside noGrad: the worker must not record a graph even though the promise settles
  // after noGrad returned.
  let p: ReturnType<typeof callAsync> | undefined;
  noGrad(() => {
    p = callAsync(mulId, x.h, 3);
  });
  const r = (await p!) as Tensor;
  assert.equal(r.requiresGrad, false);
  assert.deepEqual(r.toArray(), [3, 3, 3]);
  const r2 = (await callAsync(mulId, x.h, 3)) as Tensor;
  assert.equal(r2.requiresGrad, true);
  await assert.rejects(callAsync(mulId, x.h, 'x'), /expects a number or boolean/);
  dispose([x, r, r2]);
});

test('integral numbers are integer Scalars; others doubles (result dtypes as in PyTorch)', () => {
  tidy(() => {
    const i = tensor([1, 2, 3], { dtype: 'int64' });
    assert.equal(i.add(2).dtype, 'int64');
    assert.equal(i.add(2.5).dtype, 'float32');
    assert.equal(i.div(2).dtype, 'float32', 'true division promotes');
    assert.deepEqual(i.div(2, 'floor').toArray(), [0, 1, 1]);
    assert.equal(arange(3).dtype, 'int64');
    assert.equal(arange(0, 1, 0.5).dtype, 'float32');
  });
});

test('dtypes read back exactly: int64 as BigInt64Array, float16/bfloat16 as raw bits and via toArray', () => {
  tidy(() => {
    const big = tensor(new BigInt64Array([2n ** 62n, -5n]));
    assert.deepEqual(Array.from(big.data('int64')), [2n ** 62n, -5n]);
    const h = tensor([1.5, -2, 65504], { dtype: 'float16' });
    assert.deepEqual(Array.from(h.data('float16')), [0x3e00, 0xc000, 0x7bff]);
    assert.deepEqual(h.toArray(), [1.5, -2, 65504]);
    const bf = tensor([1, -0.5], { dtype: 'bfloat16' });
    assert.deepEqual(Array.from(bf.data('bfloat16')), [0x3f80, 0xbf00]);
    const b = tensor([true, false, true]);
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(b.toArray(), [1, 0, 1]);
    assert.throws(() => big.data('float32'), /tensor is int64/);
    assert.equal(
      tensor(new Float32Array([1, 2, 3, 4]), { shape: [2, 2] })
        .sum()
        .item(),
      10,
    );
    assert.throws(
      () => tensor(new Float32Array(3), { shape: [2, 2] }),
      /12 bytes given, shape and dtype need 16/,
    );
    assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
  });
});

test('seeded generators reproduce draws; RNG state round-trips', () => {
  tidy(() => {
    const a = randn([5], { generator: new Generator(42) }).toArray();
    const b = randn([5], { generator: new Generator(42) }).toArray();
    assert.deepEqual(a, b);
    const g = new Generator(7);
    const s = g.getState();
    const first = randn([4], { generator: g }).toArray();
    g.setState(s);
    assert.deepEqual(randn([4], { generator: g }).toArray(), first);
    manualSeed(3);
    const st = getRngState();
    const x = randn([3]).toArray();
    setRngState(st);
    assert.deepEqual(randn([3]).toArray(), x);
  });
});

test('the native boundary checks every call: no input from JS crashes the process', () => {
  tidy(() => {
    const t = ones([2, 2]);
    assert.throws(() => native.callTensor(-1), /unknown op id/);
    assert.throws(() => native.callTensor(1.5), /unknown op id/);
    const addId = native.opTable().findIndex((o) => o.name === 'aten::add.Tensor');
    assert.throws(() => native.callTensor(addId, t.h), /argument 'other'.*no default/);
    assert.throws(() => native.callTensor(addId, t.h, t.h, 1, 2), /at most 3 arguments/);
    assert.throws(() => native.callTensor(addId, t.h, 'x'), /expects a tensor, got a string/);
    assert.throws(() => native.callVoid(addId, t.h, t.h), /wrong return kind/);
    const sumDim = native.opTable().findIndex((o) => o.name === 'aten::sum.dim_IntList');
    assert.throws(() => native.callTensor(sumDim, t.h, [0.5]), /expects an integer/);
    assert.throws(() => native.callTensor(sumDim, t.h, [7]), /Dimension out of range/);
    assert.throws(() => ops.conv2d(t, t), /Expected 3D \(unbatched\) or 4D/);
    assert.throws(() => ops.zeros([2], 'nope' as 'float32'), /unknown dtype/);
  });
});

test('op table: every allow-listed op resolved against the linked libtorch (no schema drift)', () => {
  const bad = native.opTable().filter((o) => !o.ready);
  assert.deepEqual(bad, []);
  assert.ok(native.opTable().length > 250);
});

test('thread budget is set: intra-op and BLAS threads follow setNumThreads', () => {
  const before = native.getNumThreads();
  native.setNumThreads(1);
  assert.equal(native.getNumThreads().intraOp, 1);
  native.setNumThreads(before.intraOp);
  assert.equal(native.getNumThreads().intraOp, before.intraOp);
  assert.equal(before.interOp, 1);
});
