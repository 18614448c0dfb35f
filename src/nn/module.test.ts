// Module: names, modes, freezing, state dicts (errors, prefix, files, a PyTorch-written one),
// memory scoping.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertBits, assertGemmOracle, fixturePath } from '../../test/support/oracle.ts';
import { DetkdError } from '../core/errors.ts';
import { native } from '../core/native.ts';
import { manualSeed } from '../core/random.ts';
import { loadStateDictFile, saveStateDict } from '../core/serialize.ts';
import { dispose, memoryInfo, noGrad, ones, type Tensor, tidy, zeros } from '../core/tensor.ts';
import { Flatten, ReLU } from './activation.ts';
import { ModuleList, Sequential } from './containers.ts';
import { Conv2d } from './conv.ts';
import { Linear } from './linear.ts';
import { Module } from './module.ts';
import { BatchNorm2d } from './norm.ts';
import { decayGroups } from './optim/param-groups.ts';
import { SGD } from './optim/sgd.ts';
import { Scale } from './scale.ts';

native.setNumThreads(1);

class Block extends Module {
  readonly conv1 = this.register('conv1', new Conv2d(4, 4, 3, { padding: 1, bias: false }));
  readonly bn1 = this.register('bn1', new BatchNorm2d(4));
  forward(x: Tensor): Tensor {
    return this.bn1.forward(this.conv1.forward(x)).relu();
  }
}

class Net extends Module {
  readonly stem = this.register('stem', new Conv2d(3, 4, 3, { padding: 1 }));
  readonly layer1 = this.register('layer1', new ModuleList([new Block(), new Block()]));
  readonly scale = this.register('scale', new Scale(1.0));
  readonly fc = this.register('fc', new Linear(4, 2));
  readonly temperature: Tensor;
  constructor() {
    super();
    this.temperature = this.buffer('temperature', ones([1]), { persistent: false });
  }
  forward(x: Tensor): Tensor {
    let y = this.stem.forward(x);
    for (const b of this.layer1) y = b.forward(y);
    return this.fc.forward(this.scale.forward(y).mean([2, 3]));
  }
}

const NET_PARAMS = [
  'stem.weight',
  'stem.bias',
  'layer1.0.conv1.weight',
  'layer1.0.bn1.weight',
  'layer1.0.bn1.bias',
  'layer1.1.conv1.weight',
  'layer1.1.bn1.weight',
  'layer1.1.bn1.bias',
  'scale.scale',
  'fc.weight',
  'fc.bias',
];

test('names are PyTorch-style dotted paths in registration order', () => {
  const net = new Net();
  assert.deepEqual(
    net.namedParameters().map(([n]) => n),
    NET_PARAMS,
  );
  assert.deepEqual(
    net.namedBuffers().map(([n]) => n),
    [
      'temperature',
      'layer1.0.bn1.running_mean',
      'layer1.0.bn1.running_var',
      'layer1.0.bn1.num_batches_tracked',
      'layer1.1.bn1.running_mean',
      'layer1.1.bn1.running_var',
      'layer1.1.bn1.num_batches_tracked',
    ],
  );
  const sd = net.stateDict();
  assert.equal(sd.has('temperature'), false, 'non-persistent buffer not in the state dict');
  assert.equal(sd.get('layer1.1.bn1.num_batches_tracked')?.dtype, 'int64');
  assert.equal(sd.size, NET_PARAMS.length + 6);
  dispose([...sd.values()]);
  assert.deepEqual(
    net.namedModules().map(([n]) => n),
    [
      '',
      'stem',
      'layer1',
      'layer1.0',
      'layer1.0.conv1',
      'layer1.0.bn1',
      'layer1.1',
      'layer1.1.conv1',
      'layer1.1.bn1',
      'scale',
      'fc',
    ],
  );
  assert.throws(() => net.register('fc', new ReLU()), /already registered/);
  net.dispose();
});

test('train/eval recurse; requiresGrad_(false) freezes a subtree; zeroGrad clears grads', () => {
  const net = new Net();
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  net.train();
  assert.ok(net.layer1.at(1).bn1.training);
  net.layer1.requiresGrad_(false);
  assert.equal(net.trainableParameters().length, NET_PARAMS.length - 6);
  tidy(() => {
    net
      .forward(ones([1, 3, 5, 5]))
      .sum()
      .backward();
  });
  assert.notEqual(net.fc.weight.grad, null);
  assert.equal(net.layer1.at(0).conv1.weight.grad, null);
  net.zeroGrad();
  assert.equal(net.fc.weight.grad, null);
  net.dispose();
});

test('loadStateDict strict lists every missing, unexpected and mis-shaped key with both shapes', () => {
  const a = new Net();
  const sd = a.stateDict();
  const bad = new Map(sd);
  bad.delete('fc.bias');
  bad.delete('layer1.0.bn1.running_var');
  tidy(() => {
    bad.set('fc.weight', zeros([3, 4]));
    bad.set('extra.weight', zeros([2]));
    bad.set('stem.bias', zeros([4], { dtype: 'float64' }));
    const b = new Net();
    const before = b.fc.weight.toArray();
    let msg = '';
    try {
      b.loadStateDict(bad);
    } catch (e) {
      assert.ok(e instanceof DetkdError);
      msg = e.message;
    }
    assert.match(msg, /5 problem/);
    assert.match(msg, /size mismatch for 'fc\.weight': checkpoint \[3, 4\], model \[2, 4\]/);
    assert.match(msg, /dtype mismatch for 'stem\.bias': checkpoint float64 \[4\], model float32 \[4\]/);
    assert.match(msg, /missing key 'fc\.bias' \(model float32 \[2\]\)/);
    assert.match(msg, /missing key 'layer1\.0\.bn1\.running_var'/);
    assert.match(msg, /unexpected key 'extra\.weight' \(checkpoint float32 \[2\]\)/);
    assert.deepEqual(b.fc.weight.toArray(), before, 'nothing copied when loading fails');
    // Non-strict: missing/unexpected returned; shape mismatches still fail.
    bad.set('fc.weight', a.fc.weight.detach());
    bad.set('stem.bias', a.stem.bias?.detach() as Tensor);
    const r = b.loadStateDict(bad, { strict: false });
    assert.deepEqual(r, { missing: ['layer1.0.bn1.running_var', 'fc.bias'], unexpected: ['extra.weight'] });
    assertBits(b.fc.weight, a.fc.weight, 'loaded fc.weight');
    b.dispose();
  });
  dispose([...sd.values()]);
  a.dispose();
});

test('loadStateDict prefix loads a sub-module from a whole-model state dict, in place', () => {
  const a = new Net();
  manualSeed(9);
  const b = new Net();
  const block = b.layer1.at(1);
  const wRef = block.conv1.weight;
  const key = wRef.storageKey;
  const opt = new SGD(block.parameters(), { lr: 0.1 });
  tidy(() => {
    const r = block.loadStateDict(a.stateDict(), { prefix: 'layer1.1.' });
    assert.deepEqual(r, { missing: [], unexpected: [] });
  });
  assert.equal(block.conv1.weight, wRef, 'same tensor object');
  assert.equal(block.conv1.weight.storageKey, key, 'same storage');
  assert.equal(opt.paramGroups[0]?.params[0], wRef);
  assertBits(block.conv1.weight, a.layer1.at(1).conv1.weight, 'loaded via prefix');
  assert.equal(block.conv1.weight.requiresGrad, true);
  a.dispose();
  b.dispose();
});

test('state dict round trip through a safetensors file is bit-exact', () => {
  const dir = mkdtempSync(join(tmpdir(), 'detkd-nn-'));
  try {
    const a = new Net();
    tidy(() => {
      a.train().forward(ones([2, 3, 5, 5]).mul(3)); // non-trivial running stats
      saveStateDict(join(dir, 'a.safetensors'), a.stateDict(), { step: '3' });
      const { tensors, metadata } = loadStateDictFile(join(dir, 'a.safetensors'));
      assert.deepEqual(metadata, { step: '3' });
      const b = new Net();
      b.loadStateDict(tensors);
      const sa = a.stateDict();
      for (const [k, t] of b.stateDict()) assertBits(t, sa.get(k) as Tensor, k);
      b.dispose();
    });
    a.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a state dict written by PyTorch loads into the same detkd Sequential and gives the same output', () => {
  const model = new Sequential(
    new Conv2d(3, 4, 3, { padding: 1 }),
    new BatchNorm2d(4),
    new ReLU(),
    new Flatten(),
    new Linear(4 * 5 * 5, 3),
  );
  tidy(() => {
    const { tensors, metadata } = loadStateDictFile(fixturePath('nn/py_model.safetensors'));
    assert.equal(metadata.format, 'pt');
    assert.deepEqual([...tensors.keys()].sort(), [...model.stateDict().keys()].sort());
    model.loadStateDict(tensors);
    const io = loadStateDictFile(fixturePath('nn/py_model_io.safetensors')).tensors;
    const y = noGrad(() => model.eval().forward(io.get('x') as Tensor));
    assertGemmOracle(y, io.get('y') as Tensor, 'forward output');
  });
  model.dispose();
});

test('parameters made inside tidy survive it; dispose frees them all', () => {
  const base = memoryInfo().handles;
  const net = tidy(() => {
    const n = new Net();
    n.forward(ones([1, 3, 4, 4]));
    return n;
  });
  assert.ok(net.parameters().every((p) => !p.isDisposed));
  assert.ok(net.buffers().every((p) => !p.isDisposed));
  assert.equal(memoryInfo().handles - base, NET_PARAMS.length + 7);
  net.dispose();
  assert.ok(net.parameters().every((p) => p.isDisposed));
  assert.equal(memoryInfo().handles, base);
});

test('decayGroups: no weight decay on norm affines and biases, order kept', () => {
  const net = new Net();
  const g = decayGroups(net, { weightDecay: 1e-4 });
  assert.deepEqual(g.noDecayNames, [
    'stem.bias',
    'layer1.0.bn1.weight',
    'layer1.0.bn1.bias',
    'layer1.1.bn1.weight',
    'layer1.1.bn1.bias',
    'fc.bias',
  ]);
  assert.equal(g.decay.params.length, 5);
  assert.equal(g.decay.params[0], net.stem.weight);
  const opt = new SGD([g.decay, g.noDecay], { lr: 0.1, momentum: 0.9 });
  assert.deepEqual(
    opt.paramGroups.map((x) => x.weightDecay),
    [1e-4, 0],
  );
  net.dispose();
});

test('to(device) keeps fields and registry in step (cpu no-op; cuda when present)', () => {
  const net = new Net();
  const w = net.fc.weight;
  net.to('cpu');
  assert.equal(net.fc.weight, w);
  if (native.cudaInfo().available) {
    net.to('cuda:0');
    assert.notEqual(net.fc.weight, w);
    assert.equal(net.fc.weight.device, 'cuda:0');
    assert.equal(net.namedParameters().find(([n]) => n === 'fc.weight')?.[1], net.fc.weight);
    assert.equal(net.fc.weight.requiresGrad, true);
    assert.ok(w.isDisposed);
  }
  net.dispose();
});
