import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DetkdError } from './errors.ts';
import {
  decodeSafetensors,
  dtypeItemSize,
  type EngineDTypeName,
  encodeSafetensors,
  engineToSafeDType,
  type RawTensor,
  readSafetensorsFile,
  type SafeDType,
  safeDTypeToEngine,
  writeSafetensorsFile,
} from './safetensors.ts';

const FIXTURES = join(import.meta.dirname, '../../test/fixtures/safetensors');
const SCRIPT = join(import.meta.dirname, '../../scripts/fixtures/safetensors_interop.py');
const PYTHON = '/usr/bin/python3';

type Value = number | string | boolean;
type SidecarTensor = { dtype: SafeDType; shape: number[]; hex: string; values: Value[]; bits?: number[] };
type Sidecar = { metadata: Record<string, string>; tensors: Record<string, SidecarTensor> };

const sidecar = JSON.parse(readFileSync(join(FIXTURES, 'reference.json'), 'utf8')) as Sidecar;
const referenceBytes = new Uint8Array(readFileSync(join(FIXTURES, 'reference.safetensors')));

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function floatValue(x: number): Value {
  if (Number.isNaN(x)) return 'nan';
  if (x === Number.POSITIVE_INFINITY) return 'inf';
  if (x === Number.NEGATIVE_INFINITY) return '-inf';
  if (Object.is(x, -0)) return '-0'; // JSON.stringify(-0) is "0"
  return x;
}

/** Flat values in the sidecar's encoding, computed from the raw bytes in TypeScript. */
function valuesOf(t: RawTensor): Value[] {
  const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const n = t.data.byteLength / dtypeItemSize(t.dtype);
  const out: Value[] = [];
  for (let i = 0; i < n; i++) {
    switch (t.dtype) {
      case 'F64':
        out.push(floatValue(v.getFloat64(8 * i, true)));
        break;
      case 'F32':
        out.push(floatValue(v.getFloat32(4 * i, true)));
        break;
      case 'F16':
        out.push(floatValue(halfToNumber(v.getUint16(2 * i, true))));
        break;
      case 'BF16': {
        const f = new DataView(new ArrayBuffer(4));
        f.setUint32(0, v.getUint16(2 * i, true) << 16);
        out.push(floatValue(f.getFloat32(0)));
        break;
      }
      case 'I64':
        out.push(v.getBigInt64(8 * i, true).toString());
        break;
      case 'I32':
        out.push(v.getInt32(4 * i, true));
        break;
      case 'I16':
        out.push(v.getInt16(2 * i, true));
        break;
      case 'I8':
        out.push(v.getInt8(i));
        break;
      case 'U8':
        out.push(v.getUint8(i));
        break;
      case 'BOOL':
        out.push(v.getUint8(i) !== 0);
        break;
      default:
        throw new Error(`test helper: no values for ${t.dtype}`);
    }
  }
  return out;
}

function assertSameValues(got: Value[], want: Value[], name: string): void {
  assert.equal(got.length, want.length, name);
  // NaN and -0 arrive as the strings 'nan' and '-0' on both sides.
  for (const [i, g] of got.entries()) {
    assert.ok(Object.is(g, want[i]), `${name}[${i}]: ${String(g)} != ${String(want[i])}`);
  }
}

function sidecarTensors(): Record<string, RawTensor> {
  return Object.fromEntries(
    Object.entries(sidecar.tensors).map(([n, t]) => [
      n,
      { dtype: t.dtype, shape: t.shape, data: fromHex(t.hex) },
    ]),
  );
}

test('decodes the PyTorch-written fixture bit-exactly', () => {
  const { tensors, metadata } = decodeSafetensors(referenceBytes, 'reference.safetensors');
  assert.deepEqual(metadata, sidecar.metadata);
  assert.deepEqual(Object.keys(tensors).sort(), Object.keys(sidecar.tensors).sort());
  for (const [name, want] of Object.entries(sidecar.tensors)) {
    const t = tensors[name]!;
    assert.equal(t.dtype, want.dtype, name);
    assert.deepEqual(t.shape, want.shape, name);
    assert.equal(hex(t.data), want.hex, name);
    assertSameValues(valuesOf(t), want.values, name);
    if (want.bits) {
      const v = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      assert.deepEqual(
        want.bits.map((_, i) => v.getUint16(2 * i, true)),
        want.bits,
        `${name} bits`,
      );
    }
    // zero-copy views onto the input, aligned to the item size
    assert.equal(t.data.buffer, referenceBytes.buffer, `${name} aliases the file buffer`);
    assert.equal(
      (t.data.byteOffset - referenceBytes.byteOffset) % dtypeItemSize(t.dtype),
      0,
      `${name} aligned`,
    );
  }
  assert.deepEqual(tensors['empty']!.shape, [0, 3]);
  assert.equal(tensors['empty']!.data.byteLength, 0);
  assert.deepEqual(tensors['scalar']!.shape, []);
  assert.deepEqual(valuesOf(tensors['transposed']!), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
});

test('encodes the same tensors to the identical bytes the Python writer produced', () => {
  const ours = encodeSafetensors(sidecarTensors(), sidecar.metadata);
  assert.equal(hex(ours), hex(referenceBytes));
});

test('matches the byte layouts in the reference implementation tests', () => {
  const le = (n: number): number[] => [n, 0, 0, 0, 0, 0, 0, 0];
  const ascii = (s: string): number[] => [...Buffer.from(s, 'utf8')];
  const f32 = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);
  // 64-byte header: already aligned, no padding
  const h1 = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.deepEqual(
    [...encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: f32 } })],
    [...le(64), ...ascii(h1), ...f32],
  );
  // 65 bytes of JSON padded with 7 spaces to 72
  const h2 = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  assert.deepEqual(
    [...encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: f32 } })],
    [...le(72), ...ascii(`${h2}       `), ...f32],
  );
  assert.deepEqual([...encodeSafetensors({})], [...le(8), ...ascii('{}      ')]);
  assert.deepEqual(
    [...encodeSafetensors({}, { framework: 'pt' })],
    [...le(40), ...ascii('{"__metadata__":{"framework":"pt"}}     ')],
  );
  assert.deepEqual(decodeSafetensors(encodeSafetensors({}, { framework: 'pt' })), {
    tensors: {},
    metadata: { framework: 'pt' },
  });
});

function f32Bits(words: number[]): Uint8Array {
  const b = new Uint8Array(4 * words.length);
  const v = new DataView(b.buffer);
  for (const [i, w] of words.entries()) v.setUint32(4 * i, w, true);
  return b;
}

test('round trips every dtype bit-exactly, NaN payloads and -0 included', () => {
  let seed = 12345;
  const rand = (n: number): Uint8Array =>
    Uint8Array.from({ length: n }, () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 24;
    });
  const f64 = new Uint8Array(16);
  new DataView(f64.buffer).setBigUint64(0, 0x7ff0000000000001n, true); // signalling NaN payload
  new DataView(f64.buffer).setBigUint64(8, 0x8000000000000000n, true); // -0
  const tensors: Record<string, RawTensor> = {
    nan32: { dtype: 'F32', shape: [4], data: f32Bits([0x7fc00001, 0xffbfffff, 0x80000000, 0x7f800001]) },
    nan64: { dtype: 'F64', shape: [2], data: f64 },
    half: {
      dtype: 'F16',
      shape: [2, 2],
      data: Uint8Array.of(0x01, 0x7c, 0x00, 0x80, 0xff, 0xfe, 0x00, 0x7e),
    },
    brain: { dtype: 'BF16', shape: [3], data: Uint8Array.of(0x81, 0x7f, 0x00, 0x80, 0xc1, 0xff) },
    u64: { dtype: 'U64', shape: [1], data: rand(8) },
    i64: { dtype: 'I64', shape: [2, 1], data: rand(16) },
    u32: { dtype: 'U32', shape: [3], data: rand(12) },
    i32: { dtype: 'I32', shape: [1, 1, 1], data: rand(4) },
    u16: { dtype: 'U16', shape: [2], data: rand(4) },
    i16: { dtype: 'I16', shape: [5], data: rand(10) },
    e5m2: { dtype: 'F8_E5M2', shape: [3], data: rand(3) },
    e4m3: { dtype: 'F8_E4M3', shape: [3], data: rand(3) },
    i8: { dtype: 'I8', shape: [7], data: rand(7) },
    u8: { dtype: 'U8', shape: [], data: rand(1) },
    flags: { dtype: 'BOOL', shape: [3], data: Uint8Array.of(1, 0, 1) },
    none: { dtype: 'F32', shape: [2, 0, 5], data: new Uint8Array(0) },
    __proto__x: { dtype: 'U8', shape: [1], data: rand(1) },
  };
  const bytes = encodeSafetensors(tensors, { a: '1', ключ: 'значение', '': '' });
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, { a: '1', ключ: 'значение', '': '' });
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const u = back.tensors[name]!;
    assert.equal(u.dtype, t.dtype);
    assert.deepEqual(u.shape, t.shape);
    assert.equal(hex(u.data), hex(t.data), name);
    const start = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal((u.data.byteOffset - start) % dtypeItemSize(u.dtype), 0, `${name} aligned in buffer`);
  }
  assert.equal(hex(encodeSafetensors(back.tensors, back.metadata)), hex(bytes));
});

test('a tensor named __proto__ stays an own entry', () => {
  const key = '__proto__';
  const bytes = encodeSafetensors({ [key]: { dtype: 'U8', shape: [1], data: Uint8Array.of(9) } });
  const { tensors } = decodeSafetensors(bytes);
  assert.ok(Object.hasOwn(tensors, key));
  assert.deepEqual([...tensors[key]!.data], [9]);
});

test('writes atomically and reads back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'detkd-st-'));
  try {
    const path = join(dir, 'model.safetensors');
    const tensors = sidecarTensors();
    writeSafetensorsFile(path, tensors, sidecar.metadata);
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    assert.equal(hex(new Uint8Array(readFileSync(path))), hex(referenceBytes));
    const back = readSafetensorsFile(path);
    assert.deepEqual(back.metadata, sidecar.metadata);
    assert.equal(back.tensors['f32.special']!.data.byteOffset % 4, 0);
    // overwrite replaces the whole file
    writeSafetensorsFile(path, { x: { dtype: 'I8', shape: [1], data: Uint8Array.of(0xff) } });
    assert.deepEqual(Object.keys(readSafetensorsFile(path).tensors), ['x']);
    assert.deepEqual(readdirSync(dir), ['model.safetensors']);
    // a failed write leaves no temp file behind and names the path
    const bad = join(dir, 'missing-dir', 'x.safetensors');
    assert.throws(
      () => writeSafetensorsFile(bad, tensors),
      (e: Error) => e instanceof DetkdError && e.message.includes(bad),
    );
    assert.throws(
      () => readSafetensorsFile(join(dir, 'nope.safetensors')),
      (e: Error) => e instanceof DetkdError && e.message.includes('nope.safetensors'),
    );
    writeFileSync(join(dir, 'short.safetensors'), referenceBytes.subarray(0, referenceBytes.byteLength - 1));
    assert.throws(
      () => readSafetensorsFile(join(dir, 'short.safetensors')),
      (e: Error) => e instanceof DetkdError && e.message.includes('short.safetensors'),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A file with arbitrary header text and `dataLen` zero bytes of data. */
function rawFile(header: string, dataLen: number, sizeOverride?: bigint): Uint8Array {
  const h = Buffer.from(header, 'utf8');
  const out = new Uint8Array(8 + h.byteLength + dataLen);
  new DataView(out.buffer).setBigUint64(0, sizeOverride ?? BigInt(h.byteLength), true);
  out.set(h, 8);
  return out;
}

const entry = (dtype: string, shape: number[], b: number, e: number): string =>
  `{"dtype":"${dtype}","shape":[${shape}],"data_offsets":[${b},${e}]}`;

test('rejects corrupt or truncated files with a DetkdError naming the file and the fault', () => {
  const ok = entry('F32', [2], 0, 8);
  const cases: [string, Uint8Array, RegExp][] = [
    [
      'shorter than the length prefix',
      Uint8Array.of(1, 2, 3),
      /3 bytes, shorter than the 8-byte header length/,
    ],
    ['header size past the end', rawFile(`{"a":${ok}}`, 8, 1000n), /header size 1000 runs past the end/],
    [
      'truncated inside the header',
      referenceBytes.subarray(0, 100),
      /runs past the end of the file \(100 bytes/,
    ],
    [
      'absurd header size',
      rawFile('{}', 0, 1n << 40n),
      /header size 1099511627776 exceeds the 100000000-byte limit/,
    ],
    ['u64 max header size', rawFile('{}', 0, (1n << 64n) - 1n), /exceeds the 100000000-byte limit/],
    ['header not UTF-8', rawFile('{"a":1}', 0).map((b, i) => (i === 10 ? 0xff : b)), /not valid UTF-8/],
    ['header not JSON', rawFile(`{"a":${ok}`, 8), /header is not JSON/],
    ['header not starting with {', rawFile(` {"a":${ok}}`, 8), /must start with '\{'/],
    ['header an array', rawFile('[1, 2]', 0), /must start with '\{'/],
    ['header an object-looking string', rawFile('{"a"', 0), /not JSON/],
    ['unknown dtype', rawFile(`{"a":${entry('F128', [2], 0, 8)}}`, 8), /tensor "a" has unknown dtype "F128"/],
    ['sub-byte dtype', rawFile(`{"a":${entry('F4', [2], 0, 1)}}`, 1), /unknown dtype "F4"/],
    [
      'byte size != prod(shape)*itemsize',
      rawFile(`{"a":${entry('F32', [3], 0, 8)}}`, 8),
      /F32\[3\] \(12 bytes\) but data_offsets \[0, 8\] span 8/,
    ],
    [
      'offsets out of bounds',
      rawFile(`{"a":${entry('F32', [2], 8, 16)}}`, 8),
      /out of bounds: data buffer is 8 bytes/,
    ],
    ['end before begin', rawFile(`{"a":${entry('U8', [0], 4, 2)}}`, 8), /end before they begin/],
    [
      'overlap',
      rawFile(`{"a":${entry('F32', [2], 0, 8)},"b":${entry('F32', [1], 4, 8)}}`, 8),
      /tensor "b" data_offsets \[4, 8\] overlap/,
    ],
    ['gap', rawFile(`{"a":${entry('F32', [1], 4, 8)}}`, 8), /gap: bytes \[0, 4\) before tensor "a"/],
    ['trailing bytes', rawFile(`{"a":${ok}}`, 12), /data buffer is 12 bytes but the tensors cover 8/],
    ['truncated data', referenceBytes.subarray(0, referenceBytes.byteLength - 3), /out of bounds|cover/],
    [
      'non-string metadata',
      rawFile('{"__metadata__":{"epoch":3}}', 0),
      /"__metadata__" value "epoch" is not a string \(3\)/,
    ],
    ['metadata not an object', rawFile('{"__metadata__":"x"}', 0), /"__metadata__" is not an object/],
    ['duplicate tensor', rawFile(`{"a":${ok},"a":${ok}}`, 8), /repeats the key "a"/],
    ['duplicate escaped key', rawFile(`{"a":${ok},"\\u0061":${ok}}`, 8), /repeats the key "a"/],
    [
      'duplicate field',
      rawFile('{"a":{"dtype":"U8","dtype":"U8","shape":[],"data_offsets":[0,1]}}', 1),
      /repeats the key "dtype"/,
    ],
    ['duplicate metadata key', rawFile('{"__metadata__":{"k":"1","k":"2"}}', 0), /repeats the key "k"/],
    [
      'negative dim',
      rawFile(`{"a":${entry('U8', [-1], 0, 0)}}`, 0),
      /shape \[-1\] is not a list of non-negative integers/,
    ],
    ['fractional dim', rawFile(`{"a":${entry('U8', [1.5], 0, 0)}}`, 0), /shape \[1.5\]/],
    [
      'bad data_offsets',
      rawFile('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', 1),
      /data_offsets \[0\] is not \[begin, end\]/,
    ],
    ['entry not an object', rawFile('{"a":[1]}', 0), /tensor "a" entry is not an object/],
    [
      'unknown field',
      rawFile('{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1],"x":1}}', 1),
      /unknown field\(s\) x/,
    ],
    ['shape overflow', rawFile(`{"a":${entry('U8', [2 ** 40, 2 ** 40], 0, 0)}}`, 0), /overflows/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(
      () => decodeSafetensors(bytes, 'bad.safetensors'),
      (e: Error) => {
        assert.ok(e instanceof DetkdError, `${what}: ${e.name}: ${e.message}`);
        assert.match(e.message, /^bad\.safetensors: /, what);
        assert.match(e.message, message, what);
        return true;
      },
      what,
    );
  }
  // Trailing spaces, tabs and newlines after the JSON are valid padding.
  assert.deepEqual(Object.keys(decodeSafetensors(rawFile(`{"a":${ok}}\n\t  `, 8)).tensors), ['a']);
});

test('encode rejects inconsistent input', () => {
  const cases: [Record<string, RawTensor>, Record<string, string> | undefined, RegExp][] = [
    [
      { a: { dtype: 'F32', shape: [3], data: new Uint8Array(8) } },
      undefined,
      /"a": 8 bytes, but F32\[3\] needs 12/,
    ],
    [{ __metadata__: { dtype: 'U8', shape: [], data: new Uint8Array(1) } }, undefined, /reserved/],
    [{ a: { dtype: 'X' as SafeDType, shape: [], data: new Uint8Array(1) } }, undefined, /unknown dtype X/],
    [{ a: { dtype: 'U8', shape: [-1], data: new Uint8Array(0) } }, undefined, /non-negative integers/],
    [{}, { k: 1 as unknown as string }, /metadata "k" must be a string/],
  ];
  for (const [tensors, metadata, message] of cases) {
    assert.throws(
      () => encodeSafetensors(tensors, metadata),
      (e: Error) => e instanceof DetkdError && message.test(e.message),
    );
  }
});

test('dtype helpers', () => {
  const engine: EngineDTypeName[] = [
    'float32',
    'float64',
    'float16',
    'bfloat16',
    'int64',
    'int32',
    'int16',
    'int8',
    'uint8',
    'bool',
  ];
  for (const e of engine) assert.equal(safeDTypeToEngine(engineToSafeDType(e)), e);
  assert.equal(engineToSafeDType('bfloat16'), 'BF16');
  assert.equal(safeDTypeToEngine('BOOL'), 'bool');
  assert.deepEqual(
    (
      [
        'F64',
        'I64',
        'U64',
        'F32',
        'I32',
        'U32',
        'F16',
        'BF16',
        'I16',
        'U16',
        'I8',
        'U8',
        'BOOL',
      ] as SafeDType[]
    ).map(dtypeItemSize),
    [8, 8, 8, 4, 4, 4, 2, 2, 2, 2, 1, 1, 1],
  );
  assert.throws(() => safeDTypeToEngine('U16'), DetkdError);
});

const hasTorch = spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;

test('PyTorch reads a TypeScript-written file (python3 + torch oracle)', (t) => {
  if (!hasTorch) {
    t.skip('python3-torch not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'detkd-st-py-'));
  try {
    const tensors: Record<string, RawTensor> = {
      ...sidecarTensors(),
      'ts.nan_payload': {
        dtype: 'F32',
        shape: [2, 2],
        data: f32Bits([0x7fc0beef, 0xff800000, 0x80000000, 0x3f800000]),
      },
      'ts.f64': { dtype: 'F64', shape: [2], data: new Uint8Array(new Float64Array([-0, 1 / 3]).buffer) },
      'ts.half': { dtype: 'F16', shape: [3], data: Uint8Array.of(0x00, 0x3c, 0x01, 0x00, 0xff, 0xfb) },
      'ts.bf16': { dtype: 'BF16', shape: [2], data: Uint8Array.of(0x80, 0x3f, 0x49, 0xc0) },
      'ts.i64': {
        dtype: 'I64',
        shape: [1],
        data: new Uint8Array(new BigInt64Array([-(2n ** 62n) - 3n]).buffer),
      },
      'ts.bool': { dtype: 'BOOL', shape: [2, 1], data: Uint8Array.of(0, 1) },
    };
    const metadata = { ...sidecar.metadata, written_by: 'detkd' };
    const spec: Sidecar = {
      metadata,
      tensors: Object.fromEntries(
        Object.entries(tensors).map(([n, r]) => [
          n,
          { dtype: r.dtype, shape: r.shape, hex: hex(r.data), values: valuesOf(r) },
        ]),
      ),
    };
    const file = join(dir, 'ts.safetensors');
    const specFile = join(dir, 'ts.json');
    writeSafetensorsFile(file, tensors, metadata);
    writeFileSync(specFile, JSON.stringify(spec));
    const r = spawnSync(PYTHON, [SCRIPT, 'check', file, specFile], { encoding: 'utf8' });
    assert.equal(r.status, 0, `python check failed:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /OK .* 26 tensors match/);
    // and a broken file makes the oracle fail (the check is not vacuous)
    spec.tensors['ts.f64']!.values = [0, 1 / 3];
    writeFileSync(specFile, JSON.stringify(spec));
    const bad = spawnSync(PYTHON, [SCRIPT, 'check', file, specFile], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /ts\.f64: values/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the Python writer and encodeSafetensors agree on a freshly generated file', (t) => {
  if (!hasTorch) {
    t.skip('python3-torch not installed');
    return;
  }
  // Compares against the regenerated sidecar, not the committed fixture: randn may differ
  // between torch versions, the byte conventions must not.
  const dir = mkdtempSync(join(tmpdir(), 'detkd-st-gen-'));
  try {
    const r = spawnSync(PYTHON, [SCRIPT, 'write', join(dir, 'r.safetensors'), join(dir, 'r.json')], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const fresh = JSON.parse(readFileSync(join(dir, 'r.json'), 'utf8')) as Sidecar;
    const tensors = Object.fromEntries(
      Object.entries(fresh.tensors).map(([n, s]) => [
        n,
        { dtype: s.dtype, shape: s.shape, data: fromHex(s.hex) },
      ]),
    );
    assert.equal(
      hex(encodeSafetensors(tensors, fresh.metadata)),
      hex(new Uint8Array(readFileSync(join(dir, 'r.safetensors')))),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
