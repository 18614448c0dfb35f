import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DetkdError } from './errors.ts';
import { loadStateDictFile, rawToTensor, saveStateDict, tensorToRaw } from './serialize.ts';
import { dispose, tensor, tidy } from './tensor.ts';

test('tensorToRaw/rawToTensor round-trip raw bits: f16/bf16 specials, bool, int64 extremes', () => {
  tidy(() => {
    const f16 = new Uint16Array([0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e01, 0xfe37, 0x0001, 0x3555]);
    const bf16 = new Uint16Array([0x8000, 0x7f80, 0x7fc1, 0xffa0, 0x0001, 0x3f80]);
    const cases = [
      rawToTensor({ dtype: 'F16', shape: [2, 4], data: new Uint8Array(f16.buffer) }),
      rawToTensor({ dtype: 'BF16', shape: [6], data: new Uint8Array(bf16.buffer) }),
      tensor([true, false, true], { dtype: 'bool' }),
      tensor(new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n, 2n ** 53n + 1n])),
      tensor([
        [0.5, -0],
        [Number.NaN, 1e-45],
      ]),
      tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]).t(), // non-contiguous: written row-major
    ];
    const raws = cases.map(tensorToRaw);
    assert.deepEqual(new Uint16Array(raws[0]!.data.buffer.slice(0)), f16);
    assert.deepEqual(new Uint16Array(raws[1]!.data.buffer.slice(0)), bf16);
    assert.deepEqual([...raws[2]!.data], [1, 0, 1]);
    assert.equal(raws[3]!.dtype, 'I64');
    assert.deepEqual(raws[5]!.shape, [3, 2]);
    assert.deepEqual(Array.from(new Float32Array(raws[5]!.data.buffer.slice(0))), [1, 4, 2, 5, 3, 6]);
    for (const r of raws) {
      const back = tensorToRaw(rawToTensor(r));
      assert.equal(back.dtype, r.dtype);
      assert.deepEqual(back.shape, r.shape);
      assert.deepEqual(back.data, r.data);
    }
  });
});

test('saveStateDict/loadStateDictFile: bit-exact through a file; errors name the file and key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'detkd-ser-'));
  try {
    tidy(() => {
      const sd = new Map([
        ['a.weight', tensor([[1.5, -0, 3]])],
        ['a.steps', tensor([7], { dtype: 'int64' })],
        ['m', tensor([true], { dtype: 'bool' })],
      ]);
      const p = join(dir, 'x.safetensors');
      saveStateDict(p, sd, { epoch: '2' });
      const { tensors, metadata } = loadStateDictFile(p);
      assert.deepEqual(metadata, { epoch: '2' });
      for (const [k, t] of sd) assert.deepEqual(tensorToRaw(tensors.get(k)!), tensorToRaw(t), k);
      const missingDir = join(dir, 'nope', 'y.safetensors');
      assert.throws(
        () => saveStateDict(missingDir, sd),
        (e: Error) => e instanceof DetkdError && e.message.includes(missingDir),
      );
      const disposed = tensor([1]);
      disposed.dispose();
      assert.throws(
        () => saveStateDict(p, { 'b.bias': disposed }),
        (e: Error) => e instanceof DetkdError && e.message.includes(p) && e.message.includes("'b.bias'"),
      );
      dispose([...tensors.values()]);
    });
    const corrupt = join(dir, 'bad.safetensors');
    writeFileSync(corrupt, Buffer.from([1, 2, 3]));
    assert.throws(
      () => loadStateDictFile(corrupt),
      (e: Error) => e instanceof DetkdError && e.message.includes(corrupt),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
