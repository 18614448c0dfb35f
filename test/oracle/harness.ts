// Shared machinery of the op oracle tests: loads the fixtures written by
// scripts/fixtures/ops_oracle.py, runs each case through detkd's Tensor/functional API (the table
// below mirrors the script's OPS table, case op by case op), backpropagates the stored cotangent
// and compares outputs and gradients with PyTorch's (test/support/oracle.ts's compareBits).
import { join } from 'node:path';
import { type DType, dtypeCode } from '../../src/core/dtype.ts';
import * as F from '../../src/core/functional.ts';
import { native } from '../../src/core/native.ts';
import * as ops from '../../src/core/ops.generated.ts';
import { Generator, manualSeed } from '../../src/core/random.ts';
import { type RawTensor, safeDTypeToEngine } from '../../src/core/safetensors.ts';
import {
  arange,
  cat,
  einsum,
  empty,
  eye,
  full,
  fullLike,
  linspace,
  maximum,
  meshgrid,
  minimum,
  ones,
  rand,
  randint,
  randn,
  randperm,
  stack,
  Tensor,
  where,
  zeros,
  zerosLike,
} from '../../src/core/tensor.ts';
import { compareBits, readJsonFixture, readRawFixture, type Tolerance } from '../support/oracle.ts';

export const FIXTURES = join(import.meta.dirname, 'fixtures');

type Json = number | string | boolean | null | Json[] | { [k: string]: Json };

export interface OracleCase {
  id: string;
  op: string;
  args: Record<string, Json>;
  inputs: string[];
  gen: Record<string, Json>;
  grad: string[];
  outputs: number;
  diffOutputs: number[];
  mt: boolean;
}

export interface Fixtures {
  cases: OracleCase[];
  tensors: Record<string, RawTensor>;
}

export function loadFixtures(): Fixtures {
  const doc = readJsonFixture<{ cases: OracleCase[] }>(join(FIXTURES, 'cases.json'));
  const { tensors } = readRawFixture(join(FIXTURES, 'ops.safetensors'));
  return { cases: doc.cases, tensors };
}

/** A detkd tensor holding exactly the fixture's bytes. */
export function fromRaw(raw: RawTensor): Tensor {
  const dtype = safeDTypeToEngine(raw.dtype);
  return new Tensor(native.fromBuffer(raw.data, dtypeCode(dtype), raw.shape));
}

// --- typed access to a case's inputs and args ----------------------------------------------------

class Ins {
  constructor(
    private readonly m: Map<string, Tensor>,
    private readonly id: string,
  ) {}
  get(name: string): Tensor {
    const t = this.m.get(name);
    if (t === undefined) throw new Error(`${this.id}: no input '${name}'`);
    return t;
  }
  opt(name: string): Tensor | null {
    return this.m.get(name) ?? null;
  }
}

class Args {
  constructor(
    private readonly a: Record<string, Json>,
    private readonly id: string,
  ) {}
  has(k: string): boolean {
    return Object.hasOwn(this.a, k);
  }
  private raw(k: string): Json {
    if (!this.has(k)) throw new Error(`${this.id}: no arg '${k}'`);
    return this.a[k] as Json;
  }
  num(k: string): number {
    const v = this.raw(k);
    if (typeof v !== 'number') throw new Error(`${this.id}: arg '${k}' is not a number`);
    return v;
  }
  isNull(k: string): boolean {
    return this.raw(k) === null;
  }
  numOrNull(k: string): number | null {
    const v = this.raw(k);
    return v === null ? null : this.num(k);
  }
  nums(k: string): number[] {
    const v = this.raw(k);
    if (!Array.isArray(v) || !v.every((e) => typeof e === 'number'))
      throw new Error(`${this.id}: arg '${k}' is not a number list`);
    return v as number[];
  }
  numOrNums(k: string): number | number[] {
    const v = this.raw(k);
    return typeof v === 'number' ? v : this.nums(k);
  }
  pair(k: string): number | [number, number] {
    const v = this.numOrNums(k);
    if (typeof v === 'number') return v;
    if (v.length !== 2) throw new Error(`${this.id}: arg '${k}' is not a pair`);
    return [v[0] as number, v[1] as number];
  }
  str(k: string): string {
    const v = this.raw(k);
    if (typeof v !== 'string') throw new Error(`${this.id}: arg '${k}' is not a string`);
    return v;
  }
  bool(k: string): boolean {
    const v = this.raw(k);
    if (typeof v !== 'boolean') throw new Error(`${this.id}: arg '${k}' is not a boolean`);
    return v;
  }
  dtype(k: string): DType {
    return this.str(k) as DType;
  }
}

function oneOf<T extends string>(v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new Error(`unexpected '${v}'`);
  return v as T;
}
const REDUCTIONS = ['none', 'mean', 'sum'] as const;

type Out = Tensor | Tensor[];
type OpFn = (i: Ins, a: Args) => Out;

const UNARY: Record<string, (x: Tensor) => Tensor> = {
  neg: (x) => x.neg(),
  abs: (x) => x.abs(),
  sign: (x) => x.sign(),
  exp: (x) => x.exp(),
  expm1: (x) => x.expm1(),
  log: (x) => x.log(),
  log2: (x) => x.log2(),
  log1p: (x) => x.log1p(),
  sqrt: (x) => x.sqrt(),
  rsqrt: (x) => x.rsqrt(),
  square: (x) => x.square(),
  reciprocal: (x) => x.reciprocal(),
  sin: (x) => x.sin(),
  cos: (x) => x.cos(),
  tan: (x) => x.tan(),
  atan: (x) => x.atan(),
  tanh: (x) => x.tanh(),
  erf: (x) => x.erf(),
  sigmoid: (x) => x.sigmoid(),
  floor: (x) => x.floor(),
  ceil: (x) => x.ceil(),
  round: (x) => x.round(),
  trunc: (x) => x.trunc(),
  frac: (x) => x.frac(),
  isfinite: (x) => x.isfinite(),
  isnan: (x) => x.isnan(),
  isinf: (x) => x.isinf(),
  logical_not: (x) => x.logicalNot(),
  relu: (x) => F.relu(x),
  silu: (x) => F.silu(x),
  gelu: (x) => F.gelu(x),
  gelu_tanh: (x) => F.gelu(x, 'tanh'),
  hardswish: (x) => F.hardswish(x),
  hardsigmoid: (x) => ops.hardsigmoid(x),
  log_sigmoid: (x) => F.logSigmoid(x),
  mish: (x) => ops.mish(x),
  elu: (x) => ops.elu(x),
  softplus: (x) => F.softplus(x),
  nan_to_num: (x) => x.nanToNum(),
};

const BINARY: Record<string, (a: Tensor, b: Tensor) => Tensor> = {
  add: (a, b) => a.add(b),
  sub: (a, b) => a.sub(b),
  mul: (a, b) => a.mul(b),
  div: (a, b) => a.div(b),
  div_trunc: (a, b) => a.div(b, 'trunc'),
  div_floor: (a, b) => a.div(b, 'floor'),
  pow: (a, b) => a.pow(b),
  atan2: (a, b) => a.atan2(b),
  maximum: (a, b) => maximum(a, b),
  minimum: (a, b) => minimum(a, b),
  remainder: (a, b) => a.remainder(b),
  eq: (a, b) => a.eq(b),
  ne: (a, b) => a.ne(b),
  lt: (a, b) => a.lt(b),
  le: (a, b) => a.le(b),
  gt: (a, b) => a.gt(b),
  ge: (a, b) => a.ge(b),
  logical_and: (a, b) => a.logicalAnd(b),
  logical_or: (a, b) => a.logicalOr(b),
  logical_xor: (a, b) => a.logicalXor(b),
  logaddexp: (a, b) => ops.logaddexp(a, b),
  xlogy: (a, b) => ops.xlogy_Tensor(a, b),
  add_alpha: (a, b) => a.add(b, 2.5),
  sub_alpha: (a, b) => a.sub(b, 3),
  bitwise_and: (a, b) => ops.bitwise_and_Tensor(a, b),
  bitwise_or: (a, b) => ops.bitwise_or_Tensor(a, b),
};

const SCALAR: Record<string, (x: Tensor, s: number) => Tensor> = {
  add: (x, s) => x.add(s),
  sub: (x, s) => x.sub(s),
  mul: (x, s) => x.mul(s),
  div: (x, s) => x.div(s),
  rsub: (x, s) => x.rsub(s),
  pow: (x, s) => x.pow(s),
  remainder: (x, s) => x.remainder(s),
  fmod: (x, s) => x.fmod(s),
  div_trunc: (x, s) => x.div(s, 'trunc'),
  div_floor: (x, s) => x.div(s, 'floor'),
  eq: (x, s) => x.eq(s),
  ne: (x, s) => x.ne(s),
  lt: (x, s) => x.lt(s),
  le: (x, s) => x.le(s),
  gt: (x, s) => x.gt(s),
  ge: (x, s) => x.ge(s),
  clamp_min: (x, s) => x.clampMin(s),
  clamp_max: (x, s) => x.clampMax(s),
  pow_scalar_base: (x, s) => ops.pow_Scalar(s, x),
  round_decimals: (x, s) => x.round(s),
  leaky_relu: (x, s) => F.leakyRelu(x, s),
  logit: (x, s) => ops.logit(x, s),
};

function table<T>(t: Record<string, T>, k: string): T {
  const v = t[k];
  if (v === undefined) throw new Error(`no entry '${k}'`);
  return v;
}

const gen = (a: Args): Generator => new Generator(a.num('seed'));
const optDtype = (a: Args): { dtype?: DType } => (a.has('dtype') ? { dtype: a.dtype('dtype') } : {});
const GRID_MODE: Record<string, number> = { bilinear: 0, nearest: 1, bicubic: 2 };
const GRID_PAD: Record<string, number> = { zeros: 0, border: 1, reflection: 2 };

export const OPS: Record<string, OpFn> = {
  // creation and random
  zeros: (_, a) => zeros(a.nums('shape'), { dtype: a.dtype('dtype') }),
  ones: (_, a) => ones(a.nums('shape'), { dtype: a.dtype('dtype') }),
  full: (_, a) => full(a.nums('shape'), a.num('value'), { dtype: a.dtype('dtype') }),
  arange: (_, a) => arange(a.num('start'), a.num('end'), a.num('step'), optDtype(a)),
  linspace: (_, a) => linspace(a.num('start'), a.num('end'), a.num('steps'), optDtype(a)),
  eye: (_, a) => eye(a.num('n'), optDtype(a)),
  zeros_like: (i) => zerosLike(i.get('x')),
  full_like: (i, a) => fullLike(i.get('x'), a.num('value')),
  randn_gen: (_, a) => randn(a.nums('shape'), { generator: gen(a), ...optDtype(a) }),
  rand_gen: (_, a) => rand(a.nums('shape'), { generator: gen(a), ...optDtype(a) }),
  randint_gen: (_, a) => randint(a.num('low'), a.num('high'), a.nums('shape'), { generator: gen(a) }),
  randperm_gen: (_, a) => randperm(a.num('n'), { generator: gen(a) }),
  normal_gen: (_, a) => empty(a.nums('shape')).normal_(a.num('mean'), a.num('std'), gen(a)),
  uniform_gen: (_, a) => empty(a.nums('shape')).uniform_(a.num('lo'), a.num('hi'), gen(a)),
  bernoulli_gen: (i, a) => ops.bernoulli_p(i.get('x'), a.num('p'), gen(a)),
  gen_state: (_, a) => {
    const g = gen(a);
    const s0 = g.getState();
    if (a.num('draws') > 0) randn([a.num('draws')], { generator: g });
    return [s0, g.getState()];
  },
  global_rand: (_, a) => {
    manualSeed(a.num('seed'));
    const x = rand(a.nums('shape'));
    return [x, randn(a.nums('shape'))];
  },
  dropout: (i, a) => {
    manualSeed(a.num('seed'));
    return F.dropout(i.get('x'), a.num('p'), a.bool('train'));
  },
  // casting
  to: (i, a) => i.get('x').to(a.dtype('dtype')),
  // shape
  view: (i, a) => i.get('x').view(...a.nums('shape')),
  reshape: (i, a) => i.get('x').reshape(...a.nums('shape')),
  permute: (i, a) => i.get('x').permute(...a.nums('dims')),
  transpose: (i, a) => i.get('x').transpose(a.num('d0'), a.num('d1')),
  t: (i) => i.get('x').t(),
  contiguous_t: (i) => i.get('x').t().contiguous(),
  expand: (i, a) => i.get('x').expand(...a.nums('shape')),
  expand_as: (i) => i.get('x').expandAs(i.get('y')),
  squeeze: (i, a) => (a.has('dim') ? i.get('x').squeeze(a.num('dim')) : i.get('x').squeeze()),
  unsqueeze: (i, a) => i.get('x').unsqueeze(a.num('dim')),
  flatten: (i, a) => i.get('x').flatten(a.num('start'), a.num('end')),
  unflatten: (i, a) => i.get('x').unflatten(a.num('dim'), a.nums('sizes')),
  narrow: (i, a) => i.get('x').narrow(a.num('dim'), a.num('start'), a.num('length')),
  select: (i, a) => i.get('x').select(a.num('dim'), a.num('index')),
  slice: (i, a) => i.get('x').slice(a.num('dim'), a.num('start'), a.num('end'), a.num('step')),
  flip: (i, a) => i.get('x').flip(...a.nums('dims')),
  roll: (i, a) => i.get('x').roll(a.numOrNums('shifts'), a.numOrNums('dims')),
  repeat: (i, a) => i.get('x').repeat(...a.nums('times')),
  repeat_interleave: (i, a) => i.get('x').repeatInterleave(a.num('repeats'), a.num('dim')),
  tril: (i, a) => i.get('x').tril(a.num('k')),
  triu: (i, a) => i.get('x').triu(a.num('k')),
  diagonal: (i, a) => ops.diagonal(i.get('x'), a.num('offset'), a.num('d1'), a.num('d2')),
  cat: (i, a) => cat([i.get('a'), i.get('b'), i.get('c')], a.num('dim')),
  stack: (i, a) => stack([i.get('a'), i.get('b')], a.num('dim')),
  split: (i, a) => i.get('x').split(a.numOrNums('size'), a.num('dim')),
  chunk: (i, a) => i.get('x').chunk(a.num('chunks'), a.num('dim')),
  unbind: (i, a) => i.get('x').unbind(a.num('dim')),
  meshgrid: (i, a) => meshgrid([i.get('a'), i.get('b')], oneOf(a.str('indexing'), ['ij', 'xy'] as const)),
  // indexing
  index_select: (i, a) => i.get('x').indexSelect(a.num('dim'), i.get('idx')),
  gather: (i, a) => i.get('x').gather(a.num('dim'), i.get('idx')),
  scatter_src: (i, a) => i.get('x').scatter(a.num('dim'), i.get('idx'), i.get('src')),
  scatter_value: (i, a) => i.get('x').scatter(a.num('dim'), i.get('idx'), a.num('value')),
  scatter_add: (i, a) => i.get('x').scatterAdd(a.num('dim'), i.get('idx'), i.get('src')),
  scatter_reduce: (i, a) =>
    i
      .get('x')
      .scatterReduce(
        a.num('dim'),
        i.get('idx'),
        i.get('src'),
        oneOf(a.str('reduce'), ['sum', 'prod', 'mean', 'amax', 'amin'] as const),
        a.bool('include_self'),
      ),
  index_put: (i, a) => i.get('x').indexPut([i.get('i0')], i.get('v'), a.bool('accumulate')),
  index_put2: (i, a) => i.get('x').indexPut([i.get('i0'), i.get('i1')], i.get('v'), a.bool('accumulate')),
  index_put_inplace: (i, a) =>
    i
      .get('x')
      .clone()
      .indexPut_([i.get('i0')], i.get('v'), a.bool('accumulate')),
  masked_select: (i) => i.get('x').maskedSelect(i.get('mask')),
  masked_fill: (i, a) => i.get('x').maskedFill(i.get('mask'), a.num('value')),
  masked_fill_tensor: (i) => i.get('x').maskedFill(i.get('mask'), i.get('v')),
  index_bool: (i) => i.get('x').at(i.get('mask')),
  index_int: (i) => i.get('x').at(i.get('idx')),
  index_dim1: (i) => i.get('x').index([null, i.get('idx')]),
  index_pair: (i) => i.get('x').index([i.get('i0'), i.get('i1')]),
  nonzero: (i) => i.get('x').nonzero(),
  where: (i) => where(i.get('c'), i.get('a'), i.get('b')),
  where_scalar_other: (i, a) => where(i.get('c'), i.get('a'), a.num('s')),
  where_scalar_self: (i, a) => where(i.get('c'), a.num('s'), i.get('b')),
  where_scalars: (i, a) => where(i.get('c'), a.num('s1'), a.num('s2')),
  one_hot: (i, a) => F.oneHot(i.get('x'), a.num('n')),
  // elementwise
  unary: (i, a) => table(UNARY, a.str('fn'))(i.get('x')),
  binary: (i, a) => table(BINARY, a.str('fn'))(i.get('a'), i.get('b')),
  scalar: (i, a) => table(SCALAR, a.str('fn'))(i.get('x'), a.num('s')),
  clamp: (i, a) => i.get('x').clamp(a.numOrNull('min'), a.numOrNull('max')),
  clamp_tensor: (i) => i.get('x').clamp(i.get('lo'), i.get('hi')),
  lerp: (i, a) => i.get('a').lerp(i.get('b'), a.num('w')),
  addcmul: (i, a) => ops.addcmul(i.get('x'), i.get('a'), i.get('b'), a.num('value')),
  addcdiv: (i, a) => ops.addcdiv(i.get('x'), i.get('a'), i.get('b'), a.num('value')),
  cumsum: (i, a) => i.get('x').cumsum(a.num('dim')),
  cumprod: (i, a) => i.get('x').cumprod(a.num('dim')),
  cummax: (i, a) => ops.cummax(i.get('x'), a.num('dim')),
  // reductions
  sum_all: (i) => i.get('x').sum(),
  sum: (i, a) => i.get('x').sum(a.nums('dim'), a.bool('keepdim')),
  sum_dtype: (i, a) => i.get('x').sum(a.nums('dim'), a.bool('keepdim'), a.dtype('dtype')),
  mean_all: (i) => i.get('x').mean(),
  mean: (i, a) => i.get('x').mean(a.nums('dim'), a.bool('keepdim')),
  prod: (i, a) => i.get('x').prod(a.num('dim'), a.bool('keepdim')),
  max_all: (i) => i.get('x').max(),
  min_all: (i) => i.get('x').min(),
  max_dim: (i, a) => {
    const r = i.get('x').maxDim(a.num('dim'), a.bool('keepdim'));
    return [r.values, r.indices];
  },
  min_dim: (i, a) => {
    const r = i.get('x').minDim(a.num('dim'), a.bool('keepdim'));
    return [r.values, r.indices];
  },
  amax: (i, a) => i.get('x').amax(a.nums('dim'), a.bool('keepdim')),
  amin: (i, a) => i.get('x').amin(a.nums('dim'), a.bool('keepdim')),
  argmax: (i, a) => i.get('x').argmax(a.num('dim'), a.bool('keepdim')),
  argmin: (i, a) => i.get('x').argmin(a.num('dim'), a.bool('keepdim')),
  argmax_all: (i) => i.get('x').argmax(),
  logsumexp: (i, a) => i.get('x').logsumexp(a.nums('dim'), a.bool('keepdim')),
  std: (i, a) => i.get('x').std(a.nums('dim'), a.num('correction'), a.bool('keepdim')),
  var: (i, a) => i.get('x').var(a.nums('dim'), a.num('correction'), a.bool('keepdim')),
  std_all: (i) => i.get('x').std(),
  any: (i, a) => i.get('x').any(a.num('dim'), a.bool('keepdim')),
  all: (i, a) => i.get('x').all(a.num('dim'), a.bool('keepdim')),
  any_all: (i) => i.get('x').any(),
  all_all: (i) => i.get('x').all(),
  norm: (i, a) => i.get('x').norm(a.num('p'), a.nums('dim'), a.bool('keepdim')),
  // sorting and selection
  topk: (i, a) => {
    const r = i.get('x').topk(a.num('k'), a.num('dim'), a.bool('largest'), a.bool('sorted'));
    return [r.values, r.indices];
  },
  sort: (i, a) => {
    const r = i.get('x').sort(a.num('dim'), a.bool('descending'), a.bool('stable'));
    return [r.values, r.indices];
  },
  argsort: (i, a) => i.get('x').argsort(a.num('dim'), a.bool('descending')),
  unique: (i) => {
    const r = i.get('x').unique();
    return [r.values, r.inverse, r.counts];
  },
  kthvalue: (i, a) => ops.kthvalue(i.get('x'), a.num('k'), a.num('dim'), a.bool('keepdim')),
  searchsorted: (i, a) => ops.searchsorted_Tensor(i.get('s'), i.get('x'), false, a.bool('right')),
  // linear algebra
  matmul: (i) => i.get('a').matmul(i.get('b')),
  mm: (i) => i.get('a').mm(i.get('b')),
  bmm: (i) => i.get('a').bmm(i.get('b')),
  einsum1: (i, a) => einsum(a.str('eq'), i.get('a')),
  einsum2: (i, a) => einsum(a.str('eq'), i.get('a'), i.get('b')),
  linear: (i) => F.linear(i.get('x'), i.get('w'), i.opt('b')),
  addmm: (i, a) => ops.addmm(i.get('c'), i.get('a'), i.get('b'), a.num('beta'), a.num('alpha')),
  outer: (i) => ops.outer(i.get('a'), i.get('b')),
  dot: (i) => ops.dot(i.get('a'), i.get('b')),
  // convolution, pooling, resampling
  conv2d: (i, a) =>
    F.conv2d(i.get('x'), i.get('w'), i.opt('b'), {
      stride: a.pair('stride'),
      padding: a.pair('padding'),
      dilation: a.pair('dilation'),
      groups: a.num('groups'),
    }),
  conv_transpose2d: (i, a) =>
    F.convTranspose2d(i.get('x'), i.get('w'), i.opt('b'), {
      stride: a.pair('stride'),
      padding: a.pair('padding'),
      outputPadding: a.pair('output_padding'),
      groups: a.num('groups'),
      dilation: a.pair('dilation'),
    }),
  max_pool2d: (i, a) =>
    F.maxPool2d(i.get('x'), a.pair('kernel'), {
      ...(a.isNull('stride') ? {} : { stride: a.pair('stride') }),
      padding: a.pair('padding'),
      dilation: a.pair('dilation'),
      ceilMode: a.bool('ceil_mode'),
    }),
  avg_pool2d: (i, a) =>
    F.avgPool2d(i.get('x'), a.pair('kernel'), {
      ...(a.isNull('stride') ? {} : { stride: a.pair('stride') }),
      padding: a.pair('padding'),
      ceilMode: a.bool('ceil_mode'),
      countIncludePad: a.bool('count_include_pad'),
    }),
  adaptive_avg_pool2d: (i, a) => F.adaptiveAvgPool2d(i.get('x'), a.pair('size')),
  adaptive_max_pool2d: (i, a) => F.adaptiveMaxPool2d(i.get('x'), a.pair('size')),
  interpolate: (i, a) => {
    const mode = oneOf(a.str('mode'), ['nearest', 'bilinear'] as const);
    const size = a.has('size') ? a.pair('size') : undefined;
    return F.interpolate(i.get('x'), {
      mode,
      ...(typeof size === 'object' ? { size } : {}),
      ...(a.has('scale') ? { scaleFactor: a.pair('scale') } : {}),
      ...(a.has('align_corners') ? { alignCorners: a.bool('align_corners') } : {}),
    });
  },
  pad: (i, a) =>
    F.pad(
      i.get('x'),
      a.nums('pad'),
      oneOf(a.str('mode'), ['constant', 'reflect', 'replicate'] as const),
      a.has('value') ? a.num('value') : 0,
    ),
  pixel_shuffle: (i, a) => F.pixelShuffle(i.get('x'), a.num('r')),
  grid_sample: (i, a) =>
    ops.grid_sampler(
      i.get('x'),
      i.get('grid'),
      table(GRID_MODE, a.str('mode')),
      table(GRID_PAD, a.str('padding_mode')),
      a.bool('align_corners'),
    ),
  // activations
  softmax: (i, a) => F.softmax(i.get('x'), a.num('dim')),
  log_softmax: (i, a) => F.logSoftmax(i.get('x'), a.num('dim')),
  // normalisation
  batch_norm: (i, a) => {
    const rm = i.opt('rm')?.clone() ?? null;
    const rv = i.opt('rv')?.clone() ?? null;
    const out = F.batchNorm(
      i.get('x'),
      rm,
      rv,
      i.opt('w'),
      i.opt('b'),
      a.bool('training'),
      a.num('momentum'),
      a.num('eps'),
    );
    return rm !== null && rv !== null ? [out, rm, rv] : out;
  },
  group_norm: (i, a) => F.groupNorm(i.get('x'), a.num('groups'), i.opt('w'), i.opt('b'), a.num('eps')),
  layer_norm: (i, a) => F.layerNorm(i.get('x'), a.nums('shape'), i.opt('w'), i.opt('b'), a.num('eps')),
  instance_norm: (i, a) => F.instanceNorm(i.get('x'), i.opt('w'), i.opt('b'), a.num('eps')),
  // losses
  cross_entropy: (i, a) =>
    F.crossEntropy(i.get('x'), i.get('t'), {
      weight: i.opt('w'),
      reduction: oneOf(a.str('reduction'), REDUCTIONS),
      ...(a.has('ignore_index') ? { ignoreIndex: a.num('ignore_index') } : {}),
      ...(a.has('label_smoothing') ? { labelSmoothing: a.num('label_smoothing') } : {}),
    }),
  nll_loss: (i, a) =>
    F.nllLoss(i.get('x'), i.get('t'), {
      weight: i.opt('w'),
      reduction: oneOf(a.str('reduction'), REDUCTIONS),
      ...(a.has('ignore_index') ? { ignoreIndex: a.num('ignore_index') } : {}),
    }),
  bce_logits: (i, a) =>
    F.binaryCrossEntropyWithLogits(i.get('x'), i.get('t'), {
      weight: i.opt('w'),
      posWeight: i.opt('pw'),
      reduction: oneOf(a.str('reduction'), REDUCTIONS),
    }),
  bce: (i, a) =>
    F.binaryCrossEntropy(i.get('x'), i.get('t'), {
      weight: i.opt('w'),
      reduction: oneOf(a.str('reduction'), REDUCTIONS),
    }),
  kl_div: (i, a) =>
    F.klDiv(i.get('x'), i.get('t'), {
      reduction: oneOf(a.str('reduction'), [...REDUCTIONS, 'batchmean'] as const),
      logTarget: a.bool('log_target'),
    }),
  smooth_l1: (i, a) =>
    F.smoothL1Loss(i.get('x'), i.get('t'), {
      reduction: oneOf(a.str('reduction'), REDUCTIONS),
      beta: a.num('beta'),
    }),
  huber: (i, a) =>
    F.huberLoss(i.get('x'), i.get('t'), {
      reduction: oneOf(a.str('reduction'), REDUCTIONS),
      delta: a.num('delta'),
    }),
  l1: (i, a) => F.l1Loss(i.get('x'), i.get('t'), { reduction: oneOf(a.str('reduction'), REDUCTIONS) }),
  mse: (i, a) => F.mseLoss(i.get('x'), i.get('t'), { reduction: oneOf(a.str('reduction'), REDUCTIONS) }),
};

// --- running a case ------------------------------------------------------------------------------

export interface CaseResult {
  outputs: Tensor[];
  grads: Map<string, Tensor | null>;
}

function raw(fx: Fixtures, key: string): RawTensor {
  const r = fx.tensors[key];
  if (r === undefined) throw new Error(`fixture tensor '${key}' is missing`);
  return r;
}

/** Runs one case: inputs from the fixture, the op, then backward with the stored cotangents. */
export function runCase(fx: Fixtures, c: OracleCase): CaseResult {
  const m = new Map<string, Tensor>();
  for (const name of c.inputs) {
    const t = fromRaw(raw(fx, `${c.id}.in.${name}`));
    if (c.grad.includes(name)) t.requiresGrad = true;
    m.set(name, t);
  }
  const fn = OPS[c.op];
  if (fn === undefined) throw new Error(`${c.id}: op '${c.op}' has no TypeScript implementation`);
  const out = fn(new Ins(m, c.id), new Args(c.args, c.id));
  const outputs = Array.isArray(out) ? out : [out];
  const grads = new Map<string, Tensor | null>();
  if (c.grad.length > 0) {
    const cots = c.diffOutputs.map((k) => fromRaw(raw(fx, `${c.id}.cot.${k}`)));
    if (c.diffOutputs.length === 1) {
      (outputs[c.diffOutputs[0] as number] as Tensor).backward(cots[0] as Tensor);
    } else {
      // the script's sum_i sum(out_i * r_i), built left to right the same way
      let loss: Tensor | null = null;
      for (let j = 0; j < c.diffOutputs.length; j++) {
        const k = c.diffOutputs[j] as number;
        const term = (outputs[k] as Tensor).mul(cots[j] as Tensor).sum();
        loss = loss === null ? term : loss.add(term);
      }
      loss?.backward();
    }
    for (const name of c.grad) grads.set(name, m.get(name)?.grad ?? null);
  }
  return { outputs, grads };
}

/** All mismatches of a case's outputs and gradients, described. */
export function checkCase(
  fx: Fixtures,
  c: OracleCase,
  r: CaseResult,
  tol: Tolerance | null = null,
): string[] {
  const errs: string[] = [];
  if (r.outputs.length !== c.outputs) errs.push(`${r.outputs.length} outputs, expected ${c.outputs}`);
  r.outputs.forEach((t, k) => {
    const e = compareBits(t, raw(fx, `${c.id}.out.${k}`), tol);
    if (e !== null) errs.push(`out.${k}: ${e}`);
  });
  for (const name of c.grad) {
    const g = r.grads.get(name) ?? null;
    if (g === null) {
      errs.push(`grad.${name}: missing`);
      continue;
    }
    const e = compareBits(g, raw(fx, `${c.id}.grad.${name}`), tol);
    if (e !== null) errs.push(`grad.${name}: ${e}`);
  }
  return errs;
}
