// The fuzz loop, run in a child process by ops-fuzz.test.ts so that a native crash kills only
// this process. Before each call it writes "<index>\t<description>" to the log file with a
// synchronous write, so the parent knows the call that was running when the process died.
//
//   node --no-expose-wasm --import tsx test/fuzz/worker.ts LOG GROUP GROUPS START [SKIP,...]
//
// GROUP < GROUPS fuzzes every GROUPS-th op of the table (raw native.call* and the generated
// wrapper); GROUP == GROUPS fuzzes the other natives (fromBuffer, toBuffer, batchedNms, autograd,
// RNG, ...). Calls with index < START are not run (the parent resumes after a crash at the start
// of the op that crashed); indices in SKIP are never run. Every value is deterministic: a seeded
// PRNG picks the variations, tensors are made from fixed data for each call.
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type GeneratorHandle, native, type TensorHandle } from '../../src/core/native.ts';
import * as ops from '../../src/core/ops.generated.ts';
import { Generator, manualSeed } from '../../src/core/random.ts';
import { Tensor, tensor, tidy } from '../../src/core/tensor.ts';
import { KNOWN_CRASHES, type KnownCrash } from './known-crashes.ts';
import { type ArgSpec, type CallKind, type OpSpec, parseOpSpecs } from './specs.ts';

const ROOT = join(import.meta.dirname, '../..');
const [logPath, groupArg, groupsArg, startArg, skipArg] = process.argv.slice(2);
if (logPath === undefined || groupArg === undefined || groupsArg === undefined || startArg === undefined) {
  throw new Error('usage: worker.ts LOG GROUP GROUPS START [SKIP,...]');
}
const GROUP = Number(groupArg);
const GROUPS = Number(groupsArg);
const START = Number(startArg);
const SKIP = new Set(
  (skipArg ?? '')
    .split(',')
    .filter((s) => s !== '')
    .map(Number),
);
const log = openSync(logPath, 'a');
/** FUZZ_VERBOSE=1 prints each call's outcome (for looking into what the engine accepts). */
const VERBOSE = process.env.FUZZ_VERBOSE === '1';

native.setNumThreads(1);
manualSeed(1234);

// --- deterministic PRNG (mulberry32) ---------------------------------------------------------------

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)] as T;
}
function sample<T>(r: () => number, xs: readonly T[], n: number): T[] {
  const idx = xs.map((_, k) => k);
  for (let k = idx.length - 1; k > 0; k--) {
    const j = Math.floor(r() * (k + 1));
    [idx[k], idx[j]] = [idx[j] as number, idx[k] as number];
  }
  return idx.slice(0, n).map((k) => xs[k] as T);
}

// --- values ------------------------------------------------------------------------------------------

/** A fuzz value: a description, and makers for the raw native form and the wrapper form. */
interface Val {
  d: string;
  raw: () => unknown;
  wrap: () => unknown;
}
const same = (d: string, v: () => unknown): Val => ({ d, raw: v, wrap: v });

const DT = {
  u8: 0,
  i8: 1,
  i16: 2,
  i32: 3,
  i64: 4,
  f16: 5,
  f32: 6,
  f64: 7,
  c32: 8,
  c64: 9,
  c128: 10,
  bool: 11,
  qi8: 12,
  qu8: 13,
  qi32: 14,
  bf16: 15,
  qu4: 16,
  qu2: 17,
} as const;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function values(n: number, k: number): number[] {
  return Array.from({ length: n }, (_, i) => (((i + k) * 37) % 11) / 5 - 1);
}
function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
function f32(shape: number[]): Tensor {
  return tensor(Float32Array.from(values(numel(shape), shape.length)), { shape });
}
function i64(shape: number[], vals: readonly bigint[]): Tensor {
  const n = numel(shape);
  return tensor(
    BigInt64Array.from({ length: n }, (_, k) => vals[k % vals.length] as bigint),
    { shape },
  );
}
function rawOf(shape: number[], code: number, bytesPer: number, fill = 0): Tensor {
  const b = new Uint8Array(numel(shape) * bytesPer).fill(fill);
  return new Tensor(native.fromBuffer(b, code, shape));
}
/** Frees a raw handle, whichever disposal API the addon has (native.dispose(h) or h.dispose()). */
function disposeHandle(h: unknown): void {
  const d: unknown = Reflect.get(native, 'dispose');
  if (typeof d === 'function') {
    Reflect.apply(d, native, [h]);
    return;
  }
  const m: unknown = h !== null && typeof h === 'object' ? Reflect.get(h, 'dispose') : undefined;
  if (typeof m === 'function') Reflect.apply(m, h, []);
}
function disposedHandle(): TensorHandle {
  const h = native.fromBuffer(new Float32Array(6), DT.f32, [2, 3]);
  disposeHandle(h);
  return h;
}

type TensorMaker = [string, () => Tensor];

/** Tensors a baseline is built from. */
const GOOD: Record<string, () => Tensor> = {
  'f32[2,3]': () => f32([2, 3]),
  'f32[1,2,4,4]': () => f32([1, 2, 4, 4]),
  'f32[3,2,3,3]': () => f32([3, 2, 3, 3]),
  'f32[1,3,3,2]': () => f32([1, 3, 3, 2]),
  'f32[3]': () => f32([3]),
  'f32[4,4]': () => f32([4, 4]),
  'f32[]': () => f32([]),
  'i64[2,3]{0,1}': () => i64([2, 3], [0n, 1n]),
  'i64[2]{0,1}': () => i64([2], [0n, 1n]),
  'bool[2,3]': () => f32([2, 3]).gt(0),
};

/** Tensors that are valid handles but wrong for most ops. */
const BAD_TENSORS: TensorMaker[] = [
  ['f32[0]', () => f32([0])],
  ['f32[0,3]', () => f32([0, 3])],
  ['f32[2,0,4,4]', () => f32([2, 0, 4, 4])],
  ['f32[]', () => f32([])],
  ['f32[5,7]', () => f32([5, 7])],
  ['f32[1,1,1,1,1,1]', () => f32([1, 1, 1, 1, 1, 1])],
  ['f32[2,3]^T', () => f32([3, 2]).t()],
  ['f32[1,3]->expand[4,3]', () => f32([1, 3]).expand(4, 3)],
  [
    'f32[2,3] nan/inf',
    () => tensor([Number.NaN, Number.POSITIVE_INFINITY, -0, 1e38, -1e38, 1e-45], { shape: [2, 3] }),
  ],
  ['f32[2,3] requires_grad', () => f32([2, 3]).requiresGrad_()],
  ['f16[2,3]', () => f32([2, 3]).to('float16')],
  ['bf16[2,3]', () => f32([2, 3]).to('bfloat16')],
  ['f64[2,3]', () => f32([2, 3]).to('float64')],
  ['i64[2,3]{-100,100,7}', () => i64([2, 3], [-100n, 100n, 7n])],
  ['i64[2,3]{min,max,-1}', () => i64([2, 3], [INT64_MIN, INT64_MAX, -1n, 0n, 1n, 2n ** 40n])],
  ['i64[3]{2^40}', () => i64([3], [0n, 1n, 2n ** 40n])],
  ['i64[] -1', () => i64([], [-1n])],
  [
    'i32[2,3]{min,-1}',
    () => tensor([-(2 ** 31), -1, 2 ** 31 - 1, 0, 1, 5], { shape: [2, 3], dtype: 'int32' }),
  ],
  ['u8[2,3]', () => tensor([0, 255, 1, 2, 3, 4], { shape: [2, 3], dtype: 'uint8' })],
  ['i8[2,3]', () => tensor([-128, -1, 127, 0, 1, 2], { shape: [2, 3], dtype: 'int8' })],
  ['bool[2,3]', () => f32([2, 3]).gt(0)],
  ['bool[7]', () => f32([7]).gt(0)],
  ['c64[2,3]', () => rawOf([2, 3], DT.c64, 8)],
  ['qint8[2,3] (plain CPU tensor of a quantized dtype)', () => rawOf([2, 3], DT.qi8, 1)],
  ['quint4x2[2,3]', () => rawOf([2, 3], DT.qu4, 1)],
  ['meta f32[2,3]', () => new Tensor(native.callTensor(1, [2, 3], DT.f32, null, 'meta'))],
  ['meta f32[1,2,4,4]', () => new Tensor(native.callTensor(1, [1, 2, 4, 4], DT.f32, null, 'meta'))],
];

const tensorVal = (d: string, make: () => Tensor): Val => ({ d, raw: () => make().h, wrap: () => make() });

/** Junk of the wrong JS type for any argument: rejected by the addon's argument checks. */
const JUNK: Val[] = [
  same("'junk'", () => 'junk'),
  same('{}', () => ({})),
  same("['x',{}]", () => ['x', {}]),
  same('NaN', () => Number.NaN),
  same('Infinity', () => Number.POSITIVE_INFINITY),
  same('-0', () => -0),
  same('1.5', () => 1.5),
  same(String(2 ** 53), () => 2 ** 53),
  same(String(1e19), () => 1e19),
  same('null', () => null),
  same('true', () => true),
  same('1n', () => 1n),
  same('Symbol', () => Symbol('s')),
  same('function', () => () => 0),
  { d: 'GeneratorHandle', raw: () => native.newGenerator(1), wrap: () => new Generator(1) },
  { d: 'disposed tensor', raw: disposedHandle, wrap: () => new Tensor(disposedHandle()) },
  tensorVal('f32[2,3]', () => f32([2, 3])),
  same('[f32[2,3] handle, junk]', () => [f32([2, 3]).h, 'junk']),
  same('sparse array [,,]', () => new Array(3)),
  same('Object.create(handle)', () => Object.create(f32([2, 3]).h)),
  same('Proxy(handle)', () => new Proxy(f32([2, 3]).h, {})),
  same('{...handle}', () => ({ ...f32([2, 3]).h })),
];

const HUGE = 2 ** 53 - 1;
// 2^31, 2^32, 2^32+1: libtorch narrows some int64 arguments to int32
const INTS = [-1, -5, 0, 7, 1000, HUGE, -HUGE, 2 ** 62, -(2 ** 62), 2 ** 31, 2 ** 32, 2 ** 32 + 1];
const INT_LISTS: number[][] = [
  [],
  [-1],
  [0],
  [0, 0],
  [7, 7],
  [1000, 1000],
  [2 ** 62, 3],
  [HUGE],
  [-1, -1, -1],
  [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  [-HUGE, HUGE],
];
const FLOATS = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1, 1e300, -0, 0, 2, 1e-310];
const SCALARS: (number | boolean)[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  HUGE,
  -HUGE,
  -0,
  true,
  1e300,
  -1,
  0,
];
const STRS = [
  '',
  'bogus',
  'sum',
  'mean',
  'reflect',
  'circular',
  'xy',
  'floor',
  'right',
  'tanh',
  '...->',
  'ii->i',
  'x'.repeat(300),
];
const DEVICES = [
  'cpu',
  'meta',
  'cuda',
  'cuda:1',
  'bogus',
  '',
  'cpu:1',
  'mps',
  'xla',
  'lazy',
  'hip',
  'cpu:-5',
];
const DTYPE_NAMES = ['float32', 'int64', 'bool', 'float16', 'bfloat16', 'uint8', 'complex64', 'FLOAT'];
const GRID_INTS = [3, 7, -1];

function badVals(a: ArgSpec): Val[] {
  const out: Val[] = [];
  switch (a.kind) {
    case 'Tensor':
    case 'OptTensor':
      for (const [d, m] of BAD_TENSORS) out.push(tensorVal(d, m));
      break;
    case 'TensorList':
      out.push(
        same('[]', () => []),
        { d: '[f32[2,3]]', raw: () => [f32([2, 3]).h], wrap: () => [f32([2, 3])] },
        {
          d: '[f32[2,3], f32[5,7]]',
          raw: () => [f32([2, 3]).h, f32([5, 7]).h],
          wrap: () => [f32([2, 3]), f32([5, 7])],
        },
        {
          d: '[f32[2,3], i64[2,3]]',
          raw: () => [f32([2, 3]).h, i64([2, 3], [1n]).h],
          wrap: () => [f32([2, 3]), i64([2, 3], [1n])],
        },
        { d: '[f32[0], f32[]]', raw: () => [f32([0]).h, f32([]).h], wrap: () => [f32([0]), f32([])] },
        {
          d: '[meta, cpu]',
          raw: () => [native.callTensor(1, [2, 3], DT.f32, null, 'meta'), f32([2, 3]).h],
          wrap: () => [new Tensor(native.callTensor(1, [2, 3], DT.f32, null, 'meta')), f32([2, 3])],
        },
        {
          d: '[disposed]',
          raw: () => [disposedHandle()],
          wrap: () => [new Tensor(disposedHandle())],
        },
        {
          d: '[f32[2,3] x 64]',
          raw: () => Array.from({ length: 64 }, () => f32([2, 3]).h),
          wrap: () => Array.from({ length: 64 }, () => f32([2, 3])),
        },
      );
      break;
    case 'OptTensorList':
      out.push(
        same('[]', () => []),
        same('[null]', () => [null]),
        same('[null x 5]', () => [null, null, null, null, null]),
        {
          d: '[i64{-100,100,7}]',
          raw: () => [i64([3], [-100n, 100n, 7n]).h],
          wrap: () => [i64([3], [-100n, 100n, 7n])],
        },
        { d: '[i64{2^40}]', raw: () => [i64([2], [2n ** 40n]).h], wrap: () => [i64([2], [2n ** 40n])] },
        { d: '[bool[7]]', raw: () => [f32([7]).gt(0).h], wrap: () => [f32([7]).gt(0)] },
        { d: '[f32[2]]', raw: () => [f32([2]).h], wrap: () => [f32([2])] },
        {
          d: '[i64[2], null, i64[3]]',
          raw: () => [i64([2], [0n]).h, null, i64([3], [0n]).h],
          wrap: () => [i64([2], [0n]), null, i64([3], [0n])],
        },
        {
          d: '[u8[2,3]]',
          raw: () => [tensor([1, 0, 1, 1, 0, 1], { shape: [2, 3], dtype: 'uint8' }).h],
          wrap: () => [tensor([1, 0, 1, 1, 0, 1], { shape: [2, 3], dtype: 'uint8' })],
        },
      );
      break;
    case 'Int':
    case 'OptInt':
      for (const v of INTS) out.push(same(String(v), () => v));
      for (const v of GRID_INTS) out.push(same(String(v), () => v));
      break;
    case 'IntList':
    case 'OptIntList':
      for (const v of INT_LISTS) out.push(same(`[${v.join(',')}]`, () => v));
      for (const v of [-1, 0, 2 ** 62]) out.push(same(String(v), () => v));
      break;
    case 'Float':
    case 'OptFloat':
      for (const v of FLOATS) out.push(same(String(v), () => v));
      break;
    case 'OptFloatList':
      for (const v of [
        [],
        [Number.NaN, Number.NaN],
        [0, 0],
        [-1, 2],
        [1e300, 1e300],
        [Number.POSITIVE_INFINITY],
        [2, 2, 2],
        [1e-300, 1e-300],
      ])
        out.push(same(`[${v.join(',')}]`, () => v));
      break;
    case 'Scalar':
    case 'OptScalar':
      for (const v of SCALARS) out.push(same(String(v), () => v));
      break;
    case 'Bool':
    case 'OptBool':
      out.push(
        same('true', () => true),
        same('false', () => false),
      );
      break;
    case 'Str':
    case 'OptStr':
      for (const v of STRS) out.push(same(JSON.stringify(v.slice(0, 12)), () => v));
      break;
    case 'ScalarType':
    case 'OptScalarType':
      for (let c = -1; c <= 19; c++)
        out.push({ d: `dtype ${c}`, raw: () => c, wrap: () => DTYPE_NAMES[(c + 1) % DTYPE_NAMES.length] });
      break;
    case 'OptLayout':
      for (const v of [0, 1, 2, -1]) out.push(same(`layout ${v}`, () => v));
      break;
    case 'Device':
    case 'OptDevice':
      for (const v of DEVICES) out.push(same(JSON.stringify(v), () => v));
      break;
    case 'MemoryFormat':
    case 'OptMemoryFormat':
      for (const v of [0, 1, 2, 3, 4, -1])
        out.push({
          d: `memory_format ${v}`,
          raw: () => v,
          wrap: () => ['contiguous', 'preserve', 'channels_last', 'bogus'][Math.abs(v) % 4],
        });
      break;
    case 'OptGenerator':
      out.push(
        { d: 'Generator(7)', raw: () => native.newGenerator(7), wrap: () => new Generator(7) },
        { d: 'tensor as generator', raw: () => f32([2]).h, wrap: () => f32([2]) },
      );
      break;
  }
  return out;
}

// --- baselines ------------------------------------------------------------------------------------

const STR_HINTS: Record<string, string[]> = {
  reduce: ['sum', 'amax'],
  mode: ['constant', 'reflect'],
  approximate: ['none'],
  indexing: ['ij'],
  rounding_mode: ['floor'],
  side: ['left'],
  equation: ['ij->ji', 'i->i', 'ij,jk->ik'],
};

/** Tensor choices of the baseline candidates, by tensor-argument position. */
const CANDIDATES: string[][] = [
  ['f32[2,3]'],
  ['f32[1,2,4,4]'],
  ['f32[2,3]', 'i64[2,3]{0,1}'],
  ['bool[2,3]', 'f32[2,3]'],
  ['f32[1,2,4,4]', 'f32[3,2,3,3]', 'f32[3]'],
  ['f32[2,3]', 'i64[2]{0,1}', 'f32[3]'],
  ['f32[3]'],
  ['f32[4,4]'],
  ['i64[2,3]{0,1}'],
  ['f32[1,2,4,4]', 'f32[1,3,3,2]'],
  ['f32[2,3]', 'i64[2,3]{0,1}', 'f32[2,3]'],
  ['f32[]'],
];
const INT_CHOICES = [1, 0, 2];
const LIST_CHOICES = [[2, 3], [1, 0], [1], [0]];

function baselineCandidate(op: OpSpec, c: number): Val[] {
  const tensors = CANDIDATES[c % CANDIDATES.length] as string[];
  let ti = 0;
  const nextTensor = (): string => {
    const name = tensors[Math.min(ti, tensors.length - 1)] as string;
    ti++;
    return name;
  };
  return op.args.map((a): Val => {
    if (a.hasDefault || (a.kind.startsWith('Opt') && a.kind !== 'OptTensorList')) {
      return same('·', () => undefined);
    }
    switch (a.kind) {
      case 'Tensor': {
        const name = nextTensor();
        return tensorVal(name, GOOD[name] as () => Tensor);
      }
      case 'TensorList': {
        const name = nextTensor();
        const m = GOOD[name] as () => Tensor;
        return { d: `[${name} x2]`, raw: () => [m().h, m().h], wrap: () => [m(), m()] };
      }
      case 'OptTensorList':
        return c % 2 === 0
          ? { d: '[i64[2]{0,1}]', raw: () => [i64([2], [0n, 1n]).h], wrap: () => [i64([2], [0n, 1n])] }
          : {
              d: '[null, i64[2]{0,1}]',
              raw: () => [null, i64([2], [0n, 1n]).h],
              wrap: () => [null, i64([2], [0n, 1n])],
            };
      case 'Int': {
        const v = INT_CHOICES[c % INT_CHOICES.length] as number;
        return same(String(v), () => v);
      }
      case 'IntList': {
        const v = LIST_CHOICES[c % LIST_CHOICES.length] as number[];
        return same(`[${v.join(',')}]`, () => v);
      }
      case 'Float':
        return same('0.5', () => 0.5);
      case 'Scalar':
        return same('1', () => 1);
      case 'Bool':
        return same('false', () => false);
      case 'Str': {
        const hints = STR_HINTS[a.name] ?? ['sum'];
        const v = hints[c % hints.length] as string;
        return same(JSON.stringify(v), () => v);
      }
      case 'ScalarType':
        return { d: 'float32', raw: () => DT.f32, wrap: () => 'float32' };
      case 'Device':
        return same('"cpu"', () => 'cpu');
      case 'MemoryFormat':
        return { d: 'contiguous', raw: () => 0, wrap: () => 'contiguous' };
      default:
        return same('·', () => undefined);
    }
  });
}

// --- running calls ----------------------------------------------------------------------------

let index = 0;
let ran = 0;
let threw = 0;
let returned = 0;
let skippedKnown = 0;
const knownHit = new Set<string>();
const fnByWrapper = new Map<string, unknown>(Object.entries(ops));

function disposeResult(r: unknown): void {
  if (r instanceof Tensor) r.dispose();
  else if (Array.isArray(r)) for (const e of r) disposeResult(e);
  else if (r !== null && typeof r === 'object') {
    try {
      disposeHandle(r); // a raw handle; anything else is refused with a JS error
    } catch {}
  }
}

/** What known-crash entries look at: the op label and one description per argument. */
interface CallKey {
  label: string;
  args: readonly string[];
}
function knownCrash(key: CallKey | undefined): KnownCrash | undefined {
  return key === undefined ? undefined : KNOWN_CRASHES.find((c) => c.when(key.label, key.args));
}

/** Runs one fuzz call (or skips it); true when it returned normally. */
function attempt(desc: string, fn: () => unknown, key?: CallKey): boolean {
  const k = index++;
  if (k < START || SKIP.has(k)) return false;
  const known = knownCrash(key);
  if (known !== undefined) {
    skippedKnown++;
    knownHit.add(known.id);
    return false;
  }
  writeSync(log, `${k}\t${desc}\n`);
  ran++;
  try {
    tidy(() => {
      disposeResult(fn());
    });
    returned++;
    if (VERBOSE) process.stdout.write(`${k} ok    ${desc}\n`);
    return true;
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`${desc}: threw a non-Error ${String(e)}`);
    threw++;
    if (VERBOSE) process.stdout.write(`${k} threw ${desc}\n      ${e.message.split('\n')[0]}\n`);
    return false;
  }
}

const CALLS: Record<CallKind, (id: number, ...a: unknown[]) => unknown> = {
  callTensor: (id, ...a) => Reflect.apply(native.callTensor, native, [id, ...a]),
  callTensors: (id, ...a) => Reflect.apply(native.callTensors, native, [id, ...a]),
  callVoid: (id, ...a) => Reflect.apply(native.callVoid, native, [id, ...a]),
  callValue: (id, ...a) => Reflect.apply(native.callValue, native, [id, ...a]),
};

function key(op: OpSpec, vals: readonly Val[]): CallKey {
  return { label: op.label, args: vals.map((v) => v.d) };
}
function describe(vals: readonly Val[]): string {
  return vals.map((v) => v.d).join(', ');
}
function rawCall(op: OpSpec, vals: readonly Val[], kind: CallKind = op.call): unknown {
  return CALLS[kind](op.id, ...vals.map((v) => v.raw()));
}
function wrapCall(op: OpSpec, vals: readonly Val[]): unknown {
  const fn = fnByWrapper.get(op.wrapper);
  if (typeof fn !== 'function') throw new Error(`no wrapper ${op.wrapper}`);
  return Reflect.apply(
    fn,
    undefined,
    vals.map((v) => v.wrap()),
  );
}

// FUZZ_SEMANTIC / FUZZ_COMBOS raise the sampling for a deeper (slower) run; a c10 error costs
// about 10 ms here (libtorch 1.13 symbolizes a backtrace for each), which bounds the default run.
const SEMANTIC_PER_ARG = Number(process.env.FUZZ_SEMANTIC ?? 3);
const RANDOM_COMBOS = Number(process.env.FUZZ_COMBOS ?? 3);

function fuzzOp(op: OpSpec): void {
  const r = prng(op.id * 7919 + 17);
  const L = op.label;
  // structure: arity and the wrong call kind
  attempt(`${L} raw: no arguments`, () => CALLS[op.call](op.id));
  // baseline: the first candidate that runs
  let base: Val[] | null = null;
  for (let c = 0; c < CANDIDATES.length; c++) {
    const vals = baselineCandidate(op, c);
    if (base === null) {
      if (attempt(`${L} raw baseline#${c}(${describe(vals)})`, () => rawCall(op, vals), key(op, vals)))
        base = vals;
    } else {
      index++; // keep numbering independent of which candidate succeeded
    }
  }
  const b = base ?? baselineCandidate(op, 0);
  const required = op.args.filter((a) => !a.hasDefault && !a.kind.startsWith('Opt')).length;
  if (required > 0) {
    const few = b.slice(0, required - 1);
    attempt(`${L} raw too few(${describe(few)})`, () => rawCall(op, few));
  } else {
    index++;
  }
  attempt(
    `${L} raw too many(${describe(b)}, 1, 'x', null)`,
    () => CALLS[op.call](op.id, ...b.map((v) => v.raw()), 1, 'x', null),
    key(op, b),
  );
  for (const kind of Object.keys(CALLS) as CallKind[]) {
    if (kind !== op.call)
      attempt(`${L} raw via ${kind}(${describe(b)})`, () => rawCall(op, b, kind), key(op, b));
    else index++;
  }
  // one argument at a time: junk of the wrong type, then wrong values of the right type
  op.args.forEach((a, p) => {
    const withVal = (v: Val): Val[] => b.map((x, q) => (q === p ? v : x));
    for (const j of JUNK) {
      const vals = withVal(j);
      attempt(`${L} raw arg ${a.name}=${j.d} (${describe(vals)})`, () => rawCall(op, vals), key(op, vals));
    }
    for (const v of sample(r, badVals(a), SEMANTIC_PER_ARG)) {
      const vals = withVal(v);
      attempt(`${L} raw arg ${a.name}=${v.d} (${describe(vals)})`, () => rawCall(op, vals), key(op, vals));
    }
  });
  // random combinations
  for (let k = 0; k < RANDOM_COMBOS; k++) {
    const vals = op.args.map((a, p): Val => {
      const x = r();
      const bad = badVals(a);
      if (x < 0.5 || bad.length === 0) return b[p] as Val;
      if (x < 0.85) return pick(r, bad);
      return pick(r, JUNK);
    });
    attempt(`${L} raw combo(${describe(vals)})`, () => rawCall(op, vals), key(op, vals));
  }
  // the generated wrapper: the baseline, fewer/more arguments, and junk per argument
  attempt(`${L} wrapper ${op.wrapper}(${describe(b)})`, () => wrapCall(op, b), key(op, b));
  attempt(`${L} wrapper ${op.wrapper}()`, () => wrapCall(op, []));
  attempt(
    `${L} wrapper ${op.wrapper}(${describe(b)}, extra)`,
    () => wrapCall(op, [...b, same('9', () => 9)]),
    key(op, b),
  );
  op.args.forEach((a, p) => {
    const junk = sample(r, JUNK, 3);
    const bad = sample(r, badVals(a), 1);
    for (const v of [...junk, ...bad]) {
      const vals = b.map((x, q) => (q === p ? v : x));
      attempt(
        `${L} wrapper ${op.wrapper} arg ${a.name}=${v.d} (${describe(vals)})`,
        () => wrapCall(op, vals),
        key(op, vals),
      );
    }
  });
}

// --- the other natives ------------------------------------------------------------------------------

function fuzzNatives(): void {
  const h = (): TensorHandle => f32([2, 3]).h;
  const bad: [string, () => unknown][] = [
    ...JUNK.map((v): [string, () => unknown] => [v.d, v.raw]),
    ...BAD_TENSORS.map(([d, m]): [string, () => unknown] => [d, () => m().h]),
  ];
  const tryAll = (name: string, fn: (v: unknown) => unknown): void => {
    for (const [d, v] of bad) attempt(`${name}(${d})`, () => fn(v()));
  };
  const call = (f: unknown, ...a: unknown[]): unknown => {
    if (typeof f !== 'function') throw new Error('not a function');
    return Reflect.apply(f, native, a);
  };

  // targeted: inputs that crash libtorch 1.13 kernels (known-crashes.ts) and their neighbours.
  // They go through the same known-crash filter, so each runs as soon as the engine refuses it.
  const targeted = (label: string, args: string[], fn: () => unknown): void => {
    attempt(`targeted ${label}(${args.join(', ')})`, fn, { label, args });
  };
  const intMin: [string, () => Tensor][] = [
    ['i64[2,3]{min,max,-1}', () => i64([2, 3], [INT64_MIN, INT64_MAX, -1n, 0n, 1n, 2n ** 40n])],
    [
      'i32[2,3]{min,-1}',
      () => tensor([-(2 ** 31), -1, 2 ** 31 - 1, 0, 1, 5], { shape: [2, 3], dtype: 'int32' }),
    ],
  ];
  for (const [d, x] of intMin) {
    for (const mode of ['trunc', 'floor']) {
      targeted('aten::div.Scalar_mode', [d, '-1', JSON.stringify(mode)], () =>
        ops.div_Scalar_mode(x(), -1, mode),
      );
      targeted('aten::div.Tensor_mode', [d, 'i64[] -1', JSON.stringify(mode)], () =>
        ops.div_Tensor_mode(x(), i64([], [-1n]), mode),
      );
    }
    targeted('aten::remainder.Scalar', [d, '-1'], () => ops.remainder_Scalar(x(), -1));
    targeted('aten::remainder.Tensor', [d, 'i64[] -1'], () => ops.remainder_Tensor(x(), i64([], [-1n])));
    targeted('aten::fmod.Scalar', [d, '-1'], () => ops.fmod_Scalar(x(), -1));
    targeted('aten::div.Scalar_mode', [d, '-2', '"trunc"'], () => ops.div_Scalar_mode(x(), -2, 'trunc'));
  }
  for (const g of [2 ** 32, 2 ** 53, 2 ** 32 + 1, 2 ** 31, -(2 ** 32)]) {
    const gd = String(g);
    targeted('aten::conv2d', ['f32[1,2,4,4]', 'f32[1,2,4,4]', '·', '·', '·', '·', gd], () =>
      ops.conv2d(f32([1, 2, 4, 4]), f32([1, 2, 4, 4]), null, 1, 0, 1, g),
    );
    targeted(
      'aten::conv_transpose2d.input',
      ['f32[1,2,4,4]', 'f32[2,1,1,1]', '·', '·', '·', '·', gd, '·'],
      () => ops.conv_transpose2d_input(f32([1, 2, 4, 4]), f32([2, 1, 1, 1]), null, 1, 0, 0, g, 1),
    );
    targeted('aten::pixel_shuffle', ['f32[1,2,4,4]', gd], () => ops.pixel_shuffle(f32([1, 2, 4, 4]), g));
    targeted('aten::group_norm', ['f32[1,2,4,4]', gd], () => ops.group_norm(f32([1, 2, 4, 4]), g));
    targeted('aten::avg_pool2d', ['f32[1,2,4,4]', '2', '·', '·', '·', '·', gd], () =>
      ops.avg_pool2d(f32([1, 2, 4, 4]), 2, [], 0, false, true, g),
    );
  }
  for (const [d, sorter] of [
    ['i64[3]{2^40}', () => i64([3], [0n, 1n, 2n ** 40n])],
    ['i64[3]{-100,100,7}', () => i64([3], [-100n, 100n, 7n])],
  ] as const) {
    targeted('aten::searchsorted.Tensor', ['f32[3]', 'f32[2]', '·', '·', '·', d], () =>
      ops.searchsorted_Tensor(tensor([0, 1, 2]), tensor([0.5, 3]), false, false, null, sorter()),
    );
  }
  for (const [im, pm] of [
    [7, 0],
    [0, 9],
    [-1, -1],
  ] as const) {
    targeted('aten::grid_sampler', ['f32[1,2,4,4]', 'f32[1,2,2,2]', String(im), String(pm), 'false'], () =>
      ops.grid_sampler(f32([1, 2, 4, 4]), f32([1, 2, 2, 2]), im, pm, false).toTypedArray(),
    );
  }

  // op ids and call kinds
  for (const id of [-1, 263, 264, 1e9, Number.NaN, 1.5, -0, '0', null, undefined, {}, 2 ** 53]) {
    for (const kind of Object.keys(CALLS) as CallKind[]) {
      attempt(`${kind}(id=${String(id)})`, () => call(native[kind], id, h()));
    }
    attempt(`callAsync(id=${String(id)})`, () => call(native.callAsync, id, h()));
  }

  // fromBuffer: byte lengths, shapes, dtype codes, devices
  const buffers: [string, () => unknown][] = [
    ['Float32Array(6)', () => new Float32Array(6)],
    ['Float32Array(5)', () => new Float32Array(5)],
    ['Uint8Array(0)', () => new Uint8Array(0)],
    ['ArrayBuffer(24)', () => new ArrayBuffer(24)],
    ['DataView(24)', () => new DataView(new ArrayBuffer(24))],
    ['SharedArrayBuffer(24)', () => new SharedArrayBuffer(24)],
    ['Float32Array on SharedArrayBuffer', () => new Float32Array(new SharedArrayBuffer(24))],
    ['subarray(1) of Float32Array(7)', () => new Float32Array(7).subarray(1)],
    [
      'detached ArrayBuffer',
      () => {
        const ab = new ArrayBuffer(24);
        structuredClone(ab, { transfer: [ab] });
        return ab;
      },
    ],
    [
      'detached Float32Array',
      () => {
        const ta = new Float32Array(6);
        structuredClone(ta.buffer, { transfer: [ta.buffer] });
        return ta;
      },
    ],
    ["'string'", () => 'abc'],
    ['number', () => 24],
    ['null', () => null],
    ['plain array', () => [1, 2, 3, 4, 5, 6]],
  ];
  const shapes: [string, () => unknown][] = [
    ['[2,3]', () => [2, 3]],
    ['[6]', () => [6]],
    ['[]', () => []],
    ['[0]', () => [0]],
    ['[-1,-6]', () => [-1, -6]],
    ['[NaN]', () => [Number.NaN]],
    ['[1.5,4]', () => [1.5, 4]],
    ['[2^53]', () => [2 ** 53]],
    ['[2^62,4]', () => [2 ** 62, 4]],
    ['[2^32,2^32,0]', () => [2 ** 32, 2 ** 32, 0]],
    ['[2^21,2^21,2^21,0]', () => [2 ** 21, 2 ** 21, 2 ** 21, 0]],
    ["'2,3'", () => '2,3'],
    ['{length:2}', () => ({ length: 2 })],
    ["['2','3']", () => ['2', '3']],
    ['undefined', () => undefined],
  ];
  for (const [bd, bv] of buffers) {
    for (const [sd, sv] of shapes) {
      for (const code of [DT.f32, DT.u8, DT.f16]) {
        attempt(`fromBuffer(${bd}, ${code}, ${sd})`, () => call(native.fromBuffer, bv(), code, sv()));
      }
    }
  }
  for (let code = -2; code <= 20; code++) {
    attempt(`fromBuffer(Uint8Array(48), dtype ${code}, [6])`, () => {
      const t = call(native.fromBuffer, new Uint8Array(48), code, [6]) as TensorHandle;
      // a tensor of an odd dtype must survive being read back and used
      native.toBuffer(t);
      native.shape(t);
      try {
        native.callTensor(opId('aten::add.Tensor'), t, t, 1);
      } catch {}
      return t;
    });
    attempt(`fromBuffer(Uint8Array(0), dtype ${code}, [0])`, () =>
      call(native.fromBuffer, new Uint8Array(0), code, [0]),
    );
  }
  for (const code of [Number.NaN, 1.5, '6', null, {}, 2 ** 53]) {
    attempt(`fromBuffer(Float32Array(6), dtype ${String(code)}, [6])`, () =>
      call(native.fromBuffer, new Float32Array(6), code, [6]),
    );
  }
  for (const dev of [...DEVICES, 42, null, {}]) {
    attempt(`fromBuffer(Float32Array(6), f32, [6], ${JSON.stringify(dev)})`, () =>
      call(native.fromBuffer, new Float32Array(6), DT.f32, [6], dev),
    );
  }

  // metadata and read-back of odd handles
  for (const f of [
    'toBuffer',
    'shape',
    'strides',
    'meta',
    'dtype',
    'numel',
    'storageKey',
    'grad',
    'retainGrad',
  ] as const) {
    tryAll(f, (v) => call(native[f], v));
    attempt(`${f}()`, () => call(native[f]));
  }
  attempt('toBuffer(meta f32[0]) ', () => native.toBuffer(native.callTensor(1, [0], DT.f32, null, 'meta')));
  attempt('toBuffer(expanded [2^40,3] view)', () => native.toBuffer(f32([1, 3]).expand(2 ** 40, 3).h));
  attempt('shape(expanded [2^62,3] view)', () => native.shape(f32([1, 3]).expand(2 ** 62, 3).h));

  // handle objects: constructors (older addons export them), disposal on foreign receivers
  for (const name of ['TensorHandle', 'GeneratorHandle']) {
    attempt(`new native.${name}() then use`, () => {
      const C: unknown = Reflect.get(native, name);
      if (typeof C !== 'function') return null;
      const obj: unknown = Reflect.construct(C, []);
      for (const f of [native.shape, native.generatorSeed, native.toBuffer]) {
        try {
          Reflect.apply(f, native, [obj]);
        } catch {}
      }
      return null;
    });
  }
  for (const [d, v] of bad) attempt(`dispose(${d})`, () => disposeHandle(v()));
  for (const [d, v] of bad) {
    attempt(`isDisposed(${d})`, () => {
      const f: unknown = Reflect.get(native, 'isDisposed');
      return typeof f === 'function' ? Reflect.apply(f, native, [v()]) : null;
    });
  }
  attempt('double dispose, then use', () => {
    const t = h();
    disposeHandle(t);
    disposeHandle(t);
    try {
      native.shape(t);
    } catch {}
    return native.liveHandles();
  });
  attempt('dispose a view, then use the base and the view', () => {
    const base = h();
    const v = native.callTensor(opId('aten::t'), base);
    disposeHandle(base);
    native.toBuffer(v);
    disposeHandle(v);
    return native.shape(v);
  });

  // batchedNms: shapes, dtypes, counts, thresholds
  const boxes: [string, () => TensorHandle][] = [
    ['f32[4,4]', () => tensor([0, 0, 1, 1, 0, 0, 1, 1, 5, 5, 6, 6, 0, 0, 0, 0], { shape: [4, 4] }).h],
    ['f32[0,4]', () => f32([0, 4]).h],
    ['f32[4,3]', () => f32([4, 3]).h],
    ['f32[4]', () => f32([4]).h],
    ['f32[2,4,4]', () => f32([2, 4, 4]).h],
    ['i64[4,4]', () => i64([4, 4], [0n, 1n, 2n]).h],
    ['f64[4,4]', () => f32([4, 4]).to('float64').h],
    ['f16[4,4]', () => f32([4, 4]).to('float16').h],
    ['f32[4,4] nan', () => tensor(new Array(16).fill(Number.NaN), { shape: [4, 4] }).h],
    ['f32[4,4]^T', () => f32([4, 4]).t().h],
    ['meta f32[4,4]', () => native.callTensor(1, [4, 4], DT.f32, null, 'meta')],
    ['c64[4,4]', () => rawOf([4, 4], DT.c64, 8).h],
    ['qint8[4,4]', () => rawOf([4, 4], DT.qi8, 1).h],
  ];
  const scores: [string, () => TensorHandle][] = [
    ['f32[4]', () => tensor([0.9, 0.8, 0.7, 0.6]).h],
    ['f32[3]', () => f32([3]).h],
    ['f32[4,1]', () => f32([4, 1]).h],
    ['f32[0]', () => f32([0]).h],
    ['bool[4]', () => f32([4]).gt(0).h],
    ['f32[4] nan', () => tensor([Number.NaN, 1, Number.NaN, 0]).h],
    ['meta f32[4]', () => native.callTensor(1, [4], DT.f32, null, 'meta')],
  ];
  const idxs: [string, () => TensorHandle][] = [
    ['i64[4]', () => i64([4], [0n, 0n, 1n, 0n]).h],
    ['i64[4]{min,max}', () => i64([4], [INT64_MIN, INT64_MAX, -1n, 2n ** 40n]).h],
    ['f32[4]', () => f32([4]).h],
    ['i64[5]', () => i64([5], [0n]).h],
    ['i64[0]', () => i64([0], [0n]).h],
    ['u8[4]', () => tensor([0, 1, 0, 1], { dtype: 'uint8' }).h],
  ];
  for (const [bd, bv] of boxes) {
    for (const [sd, sv] of scores) {
      for (const [id, iv] of idxs) {
        attempt(`batchedNms(${bd}, ${sd}, ${id}, 0.5)`, () => native.batchedNms(bv(), sv(), iv(), 0.5));
      }
    }
  }
  for (const thr of [Number.NaN, -1, 2, Number.POSITIVE_INFINITY, '0.5', null]) {
    attempt(`batchedNms(f32[4,4], f32[4], i64[4], ${String(thr)})`, () =>
      call(native.batchedNms, boxes[0]?.[1](), scores[0]?.[1](), idxs[0]?.[1](), thr),
    );
  }
  tryAll('batchedNms(x, scores, idxs, 0.5)', (v) =>
    call(native.batchedNms, v, scores[0]?.[1](), idxs[0]?.[1](), 0.5),
  );
  tryAll('batchedNms(boxes, scores, x, 0.5)', (v) =>
    call(native.batchedNms, boxes[0]?.[1](), scores[0]?.[1](), v, 0.5),
  );
  attempt('batchedNms()', () => call(native.batchedNms));

  // autograd: setGrad (shape, dtype, device mismatch), then backward that accumulates into it
  const leaf = (): TensorHandle => f32([2, 3]).requiresGrad_().h;
  const grads: [string, () => unknown][] = [
    ['f32[3,2]', () => f32([3, 2]).h],
    ['f32[6]', () => f32([6]).h],
    ['f64[2,3]', () => f32([2, 3]).to('float64').h],
    ['i64[2,3]', () => i64([2, 3], [1n]).h],
    ['f16[2,3]', () => f32([2, 3]).to('float16').h],
    ['meta f32[2,3]', () => native.callTensor(1, [2, 3], DT.f32, null, 'meta')],
    ['f32[2,3]^T', () => f32([3, 2]).t().h],
    ['f32[1,3]->expand[2,3]', () => f32([1, 3]).expand(2, 3).h],
    ['c64[2,3]', () => rawOf([2, 3], DT.c64, 8).h],
    ['qint8[2,3]', () => rawOf([2, 3], DT.qi8, 1).h],
    ['null', () => null],
    ['itself', () => null],
    ['requires_grad f32[2,3]', () => f32([2, 3]).requiresGrad_().h],
    ...JUNK.map((v): [string, () => unknown] => [v.d, v.raw]),
  ];
  for (const [gd, gv] of grads) {
    attempt(`setGrad(leaf f32[2,3], ${gd}) then sum().backward() twice`, () => {
      const x = leaf();
      call(native.setGrad, x, gd === 'itself' ? x : gv());
      const y = native.callTensor(opId('aten::sum'), x);
      native.backward(y, null, true, false);
      native.backward(y, null, false, false);
      const g = native.grad(x);
      if (g !== null) native.toBuffer(g);
      return y;
    });
    attempt(`setGrad(non-leaf, ${gd})`, () => {
      const x = leaf();
      const y = native.callTensor(opId('aten::mul.Scalar'), x, 2);
      call(native.setGrad, y, gd === 'itself' ? y : gv());
      return y;
    });
  }
  const outs: [string, () => TensorHandle][] = [
    ['non-scalar f32[2,3] (requires grad)', () => native.callTensor(opId('aten::mul.Scalar'), leaf(), 2)],
    ['leaf f32[2,3]', leaf],
    ['f32[2,3] not requiring grad', h],
    ['scalar not requiring grad', () => f32([]).h],
    ['i64 scalar', () => i64([], [1n]).h],
    ['meta scalar', () => native.callTensor(1, [], DT.f32, null, 'meta')],
  ];
  const bgrads: [string, () => unknown][] = [
    ['null', () => null],
    ['f32[2,3]', h],
    ['f32[3,2]', () => f32([3, 2]).h],
    ['f32[]', () => f32([]).h],
    ['f64[2,3]', () => f32([2, 3]).to('float64').h],
    ['i64[2,3]', () => i64([2, 3], [1n]).h],
    ['meta f32[2,3]', () => native.callTensor(1, [2, 3], DT.f32, null, 'meta')],
    ['bool[2,3]', () => f32([2, 3]).gt(0).h],
    ...JUNK.map((v): [string, () => unknown] => [v.d, v.raw]),
  ];
  for (const [od, ov] of outs) {
    for (const [gd, gv] of bgrads) {
      attempt(`backward(${od}, grad=${gd})`, () => call(native.backward, ov(), gv(), false, false));
    }
    attempt(`backward(${od}) twice without retainGraph`, () => {
      const y = ov();
      try {
        native.backward(y, native.callTensor(opId('aten::ones_like'), y), false, false);
      } catch {}
      return native.backward(y, native.callTensor(opId('aten::ones_like'), y), false, false);
    });
    attempt(`backward(${od}, null, 'x', {})`, () => call(native.backward, ov(), null, 'x', {}));
    attempt(`backward(${od}, null, true, true) then grad of grad`, () => {
      const y = ov();
      native.backward(y, native.callTensor(opId('aten::ones_like'), y), true, true);
      return y;
    });
  }
  tryAll('backward', (v) => call(native.backward, v, null, false, false));
  tryAll('setRequiresGrad(x, true)', (v) => call(native.setRequiresGrad, v, true));
  for (const [d, v] of BAD_TENSORS) {
    attempt(`setRequiresGrad(${d}, true) then sum().backward()`, () => {
      const x = v().h;
      native.setRequiresGrad(x, true);
      const y = native.callTensor(opId('aten::sum'), x);
      native.backward(y, null, false, false);
      return y;
    });
  }
  attempt('setRequiresGrad(non-leaf, false)', () =>
    native.setRequiresGrad(native.callTensor(opId('aten::mul.Scalar'), leaf(), 2), false),
  );
  attempt("setRequiresGrad(f32, 'yes')", () => call(native.setRequiresGrad, h(), 'yes'));
  attempt('retainGrad on leaf and non-requiring', () => {
    native.retainGrad(leaf());
    return native.retainGrad(h());
  });
  for (const v of [1, 'x', null, undefined, {}]) {
    attempt(`setGradEnabled(${String(v)})`, () => {
      const prev = native.isGradEnabled();
      try {
        return call(native.setGradEnabled, v);
      } finally {
        native.setGradEnabled(prev);
      }
    });
  }

  // RNG
  const seeds: unknown[] = [
    -1,
    1.5,
    Number.NaN,
    2 ** 64,
    2 ** 53,
    -(2n ** 63n),
    2n ** 64n + 5n,
    2n ** 63n,
    'seed',
    null,
    {},
  ];
  for (const s of seeds) {
    attempt(`manualSeed(${String(s)})`, () => call(native.manualSeed, s));
    attempt(`newGenerator(${String(s)})`, () => call(native.newGenerator, s));
  }
  manualSeed(1234);
  for (const dev of [...DEVICES, 5, null]) {
    attempt(`newGenerator(1, ${JSON.stringify(dev)})`, () => {
      const g = call(native.newGenerator, 1, dev) as GeneratorHandle;
      native.generatorSeed(g);
      native.generatorGetState(g);
      return null;
    });
  }
  const states: [string, () => unknown][] = [
    ['u8[0]', () => tensor(new Uint8Array(0)).h],
    ['u8[5056] zeros', () => tensor(new Uint8Array(5056)).h],
    ['u8[5055]', () => tensor(new Uint8Array(5055)).h],
    ['u8[5057]', () => tensor(new Uint8Array(5057)).h],
    ['u8[5056] 0xff', () => tensor(new Uint8Array(5056).fill(255)).h],
    ['f32[5056]', () => f32([5056]).h],
    ['u8[5056]^expanded', () => tensor(new Uint8Array(1)).expand(5056).h],
    ['meta u8[5056]', () => native.callTensor(1, [5056], DT.u8, null, 'meta')],
    ['own state', () => native.generatorGetState(null)],
    ...JUNK.map((v): [string, () => unknown] => [v.d, v.raw]),
  ];
  for (const [sd, sv] of states) {
    attempt(`generatorSetState(Generator, ${sd}) then randn`, () => {
      const g = native.newGenerator(3);
      call(native.generatorSetState, g, sv());
      return native.callTensor(opId('aten::randn.generator'), [8], g);
    });
  }
  attempt('generatorSetState(null, own state) round trip', () => {
    const s = native.generatorGetState(null);
    native.generatorSetState(null, s);
    return s;
  });
  for (const [gd, gv] of [...JUNK.map((v): [string, () => unknown] => [v.d, v.raw])]) {
    attempt(`generatorGetState(${gd})`, () => call(native.generatorGetState, gv()));
    attempt(`generatorSeed(${gd})`, () => call(native.generatorSeed, gv()));
    attempt(`generatorSetState(${gd}, state)`, () =>
      call(native.generatorSetState, gv(), native.generatorGetState(null)),
    );
  }
  manualSeed(1234);

  // threads, determinism, allocator, misc (restored afterwards)
  for (const n of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '2', null, 2 ** 31, 2 ** 32 + 1, 1.5]) {
    attempt(`setNumThreads(${String(n)})`, () => call(native.setNumThreads, n));
  }
  native.setNumThreads(1);
  for (const n of [0, -1, 2, '2', null]) {
    attempt(`setInteropThreads(${String(n)})`, () => call(native.setInteropThreads, n));
  }
  for (const v of [true, 'x', 1, null]) {
    attempt(`setDeterministic(${String(v)}) then index_put accumulate`, () => {
      call(native.setDeterministic, v);
      return native.callTensor(
        opId('aten::index_put'),
        f32([5]).h,
        [i64([3], [1n, 1n, 2n]).h],
        f32([3]).h,
        true,
      );
    });
  }
  native.setDeterministic(false);
  for (const v of [-1, Number.NaN, 'x', null, 2 ** 60, 0]) {
    attempt(`setCacheLimit(${String(v)})`, () => call(native.setCacheLimit, v));
  }
  attempt('emptyCache / allocatorStats / liveHandles', () => [
    native.emptyCache(),
    native.allocatorStats(),
    native.liveHandles(),
  ]);
  for (const v of [-1, 99, 'x', null])
    attempt(`cudaSynchronize(${String(v)})`, () => call(native.cudaSynchronize, v));
  attempt('cudaInfo / version / getNumThreads / opTable', () => [
    native.cudaInfo(),
    native.version(),
    native.getNumThreads(),
    native.opTable(),
  ]);
}

const OP_IDS = new Map<string, number>();
function opId(label: string): number {
  const id = OP_IDS.get(label);
  if (id === undefined) throw new Error(`no op ${label}`);
  return id;
}

// --- callAsync: errors on the worker thread must reject, not crash ----------------------------------

async function fuzzAsync(specs: OpSpec[]): Promise<void> {
  const r = prng(99);
  for (const op of specs) {
    for (const v of sample(r, [...badVals(op.args[0] as ArgSpec), ...JUNK], 2)) {
      const vals = baselineCandidate(op, 0).map((x, q) => (q === 0 ? v : x));
      const desc = `${op.label} callAsync(${describe(vals)})`;
      const k = index++;
      if (k < START || SKIP.has(k) || knownCrash(key(op, vals)) !== undefined) continue;
      writeSync(log, `${k}\t${desc}\n`);
      ran++;
      const made: unknown[] = vals.map((x) => x.raw());
      try {
        disposeResult(await Reflect.apply(native.callAsync, native, [op.id, ...made]));
        returned++;
      } catch (e) {
        if (!(e instanceof Error)) throw new Error(`${desc}: rejected with a non-Error`);
        threw++;
      }
      disposeResult(made);
    }
  }
}

// --- main ----------------------------------------------------------------------------------------

const specs = parseOpSpecs(ROOT);
for (const s of specs) OP_IDS.set(s.label, s.id);
// every exported wrapper and every op id of the addon's table is fuzzed
const exported = [...fnByWrapper].filter(([, v]) => typeof v === 'function').map(([k]) => k);
const wrappers = new Set(specs.map((s) => s.wrapper));
const missing = exported.filter((w) => !wrappers.has(w));
const table = native.opTable();
const unlisted = table.filter((o, id) => specs.find((s) => s.id === id)?.label !== o.name);
if (missing.length > 0 || unlisted.length > 0 || specs.length !== table.length) {
  throw new Error(
    `fuzz coverage: wrappers without a parsed schema [${missing.join(', ')}], op ids not matched ` +
      `[${unlisted.map((o) => o.name).join(', ')}] (${specs.length} specs, ${table.length} ops)`,
  );
}
const t0 = performance.now();
if (GROUP < GROUPS) {
  const mine = specs.filter((_, k) => k % GROUPS === GROUP);
  for (const op of mine) {
    writeSync(log, `OP\t${index}\t${op.label}\n`);
    fuzzOp(op);
  }
  writeSync(log, `OP\t${index}\tcallAsync\n`);
  await fuzzAsync(mine);
} else {
  writeSync(log, `OP\t${index}\tnatives\n`);
  fuzzNatives();
}
closeSync(log);
const ms = Math.round(performance.now() - t0);
process.stdout.write(
  `FUZZ-DONE group=${GROUP} calls=${index} ran=${ran} returned=${returned} threw=${threw} ` +
    `skippedKnown=${skippedKnown} known=${[...knownHit].join(',')} ms=${ms}\n`,
);
