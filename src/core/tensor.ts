// The typed Tensor and its creation functions. Scopes and grad mode live in scope.ts, the
// handle plumbing the generated ops use in handles.ts; both are re-exported here.

import {
  type AnyTypedArray,
  type DType,
  dtypeCode,
  dtypeFromCode,
  dtypeOfTypedArray,
  isFloating,
  type Scalar,
  type TypedArrayFor,
  typedArrayView,
} from './dtype.ts';
import { DetkdError } from './errors.ts';
import { registerTensorClass } from './handles.ts';
import { type NativeArg, native, type TensorHandle } from './native.ts';
import * as ops from './ops.generated.ts';
import type { Generator } from './random.ts';
import { Scoped, tidy } from './scope.ts';

export { hs, ogen, oh, ohs, wrap, wrapAll } from './handles.ts';
export { dispose, enableGrad, isGradEnabled, keep, memoryInfo, noGrad, tidy } from './scope.ts';

/** Thrown when a disposed tensor is used. */
export class DisposedTensorError extends Error {
  override name = 'DisposedTensorError';
}

// --- the Tensor ------------------------------------------------------------------------------

export type Device = string;
export type TensorOrScalar = Tensor | number;
export type Reduction = 'none' | 'mean' | 'sum';

function normDim(dim: number | readonly number[] | undefined): number[] {
  if (dim === undefined) return [];
  return typeof dim === 'number' ? [dim] : [...dim];
}

/**
 * An n-dimensional array on a device, backed by an at::Tensor. Methods mirror PyTorch's
 * (camelCase); in-place variants end in `_` and return `this`.
 */
export class Tensor extends Scoped {
  private _h: TensorHandle | null;

  constructor(h: TensorHandle) {
    super();
    this._h = h;
  }

  /** The native handle; throws if the tensor was disposed. */
  get h(): TensorHandle {
    const h = this._h;
    if (h === null) throw new DisposedTensorError('tensor was disposed');
    return h;
  }

  get isDisposed(): boolean {
    return this._h === null;
  }

  override dispose(): void {
    const h = this._h;
    if (h !== null) {
      this._h = null;
      native.dispose(h);
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  // metadata
  get shape(): number[] {
    return native.shape(this.h);
  }
  get strides(): number[] {
    return native.strides(this.h);
  }
  get dtype(): DType {
    return dtypeFromCode(native.dtype(this.h));
  }
  get device(): Device {
    return native.meta(this.h)[1];
  }
  get numel(): number {
    return native.numel(this.h);
  }
  get ndim(): number {
    return native.meta(this.h)[3];
  }
  get isContiguous(): boolean {
    return native.meta(this.h)[6];
  }
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    const v = s[d];
    if (v === undefined) throw new RangeError(`size(${dim}): tensor has ${s.length} dims`);
    return v;
  }
  /** Same id for views sharing one storage. */
  get storageKey(): number | null {
    return native.storageKey(this.h);
  }

  // read-back
  /** The elements, row-major, in the typed array of the dtype (int64 as BigInt64Array). */
  toTypedArray(): AnyTypedArray {
    return typedArrayView(this.dtype, native.toBuffer(this.h));
  }
  /** Typed read-back checked against the expected dtype. */
  data<D extends DType>(dtype: D): TypedArrayFor[D] {
    const d = this.dtype;
    if (d !== dtype) throw new TypeError(`data('${dtype}'): tensor is ${d}`);
    return typedArrayView(dtype, native.toBuffer(this.h));
  }
  /** The elements as plain numbers (int64 converted; float16/bfloat16 decoded via float32). */
  toArray(): number[] {
    const d = this.dtype;
    if (d === 'float16' || d === 'bfloat16') return tidy(() => this.to('float32').toArray());
    const a = this.toTypedArray();
    if (a instanceof BigInt64Array) return Array.from(a, (x) => Number(x));
    return Array.from(a);
  }
  /** The value of a one-element tensor. */
  item(): number {
    const v = ops.item(this);
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }

  // autograd
  get requiresGrad(): boolean {
    return native.meta(this.h)[4];
  }
  set requiresGrad(flag: boolean) {
    native.setRequiresGrad(this.h, flag);
  }
  requiresGrad_(flag = true): this {
    native.setRequiresGrad(this.h, flag);
    return this;
  }
  get isLeaf(): boolean {
    return native.meta(this.h)[5];
  }
  /** The accumulated gradient, or null. Each access returns a new handle onto it. */
  get grad(): Tensor | null {
    const g = native.grad(this.h);
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) {
    native.setGrad(this.h, g === null ? null : g.h);
  }
  retainGrad(): this {
    native.retainGrad(this.h);
    return this;
  }
  backward(grad?: Tensor | null, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward(this.h, grad ? grad.h : null, opts.retainGraph ?? false, opts.createGraph ?? false);
  }
  detach(): Tensor {
    return ops.detach(this);
  }

  // conversion
  /** Converts to a dtype and/or device (a copy only when needed). */
  to(target: DType | Device, opts: { copy?: boolean } = {}): Tensor {
    if (isDTypeName(target)) return ops.to_dtype(this, target, false, opts.copy ?? false);
    return ops.to_device(this, target, this.dtype, false, opts.copy ?? false);
  }
  float(): Tensor {
    return this.to('float32');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  half(): Tensor {
    return this.to('float16');
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  cuda(index = 0): Tensor {
    return this.to(`cuda:${index}`);
  }
  clone(): Tensor {
    return ops.clone(this);
  }
  contiguous(): Tensor {
    return ops.contiguous(this);
  }
  copy_(src: Tensor): this {
    ops.copy_(this, src);
    return this;
  }
  fill_(v: Scalar): this {
    ops.fill__Scalar(this, v);
    return this;
  }
  zero_(): this {
    ops.zero_(this);
    return this;
  }
  normal_(mean = 0, std = 1, generator: Generator | null = null): this {
    ops.normal_(this, mean, std, generator);
    return this;
  }
  uniform_(from = 0, to = 1, generator: Generator | null = null): this {
    ops.uniform_(this, from, to, generator);
    return this;
  }

  // shape
  view(...shape: number[]): Tensor {
    return ops.view(this, shape);
  }
  reshape(...shape: number[]): Tensor {
    return ops.reshape(this, shape);
  }
  permute(...dims: number[]): Tensor {
    return ops.permute(this, dims);
  }
  transpose(d0: number, d1: number): Tensor {
    return ops.transpose_int(this, d0, d1);
  }
  t(): Tensor {
    return ops.t(this);
  }
  expand(...shape: number[]): Tensor {
    return ops.expand(this, shape);
  }
  expandAs(other: Tensor): Tensor {
    return ops.expand_as(this, other);
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? ops.squeeze(this) : ops.squeeze_dim(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten_using_ints(this, startDim, endDim);
  }
  unflatten(dim: number, sizes: readonly number[]): Tensor {
    return ops.unflatten_int(this, dim, sizes);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return ops.narrow(this, dim, start, length);
  }
  select(dim: number, index: number): Tensor {
    return ops.select_int(this, dim, index);
  }
  /** Elements start..end (exclusive) along dim, with a step. */
  slice(dim: number, start: number | null = null, end: number | null = null, step = 1): Tensor {
    return ops.slice_Tensor(this, dim, start, end, step);
  }
  flip(...dims: number[]): Tensor {
    return ops.flip(this, dims);
  }
  roll(shifts: number | readonly number[], dims: number | readonly number[] = []): Tensor {
    return ops.roll(this, normDim(shifts), normDim(dims));
  }
  repeat(...times: number[]): Tensor {
    return ops.repeat(this, times);
  }
  repeatInterleave(repeats: number, dim?: number): Tensor {
    return ops.repeat_interleave_self_int(this, repeats, dim ?? null);
  }
  split(sizeOrSizes: number | readonly number[], dim = 0): Tensor[] {
    return typeof sizeOrSizes === 'number'
      ? ops.split_Tensor(this, sizeOrSizes, dim)
      : ops.split_with_sizes(this, sizeOrSizes, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return ops.chunk(this, chunks, dim);
  }
  unbind(dim = 0): Tensor[] {
    return ops.unbind_int(this, dim);
  }
  tril(diagonal = 0): Tensor {
    return ops.tril(this, diagonal);
  }
  triu(diagonal = 0): Tensor {
    return ops.triu(this, diagonal);
  }

  // indexing
  indexSelect(dim: number, index: Tensor): Tensor {
    return ops.index_select(this, dim, index);
  }
  gather(dim: number, index: Tensor): Tensor {
    return ops.gather(this, dim, index);
  }
  scatter(dim: number, index: Tensor, src: Tensor | number): Tensor {
    return typeof src === 'number'
      ? ops.scatter_value(this, dim, index, src)
      : ops.scatter_src(this, dim, index, src);
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return ops.scatter_add(this, dim, index, src);
  }
  scatterReduce(
    dim: number,
    index: Tensor,
    src: Tensor,
    reduce: 'sum' | 'prod' | 'mean' | 'amax' | 'amin',
    includeSelf = true,
  ): Tensor {
    return ops.scatter_reduce_two(this, dim, index, src, reduce, includeSelf);
  }
  /** Advanced indexing, like x[i0, i1, ...] with tensor indices (null keeps a dim whole). */
  index(indices: readonly (Tensor | null)[]): Tensor {
    return ops.index_Tensor(this, indices);
  }
  /** Boolean-mask or integer-tensor indexing along dim 0: x[mask] / x[idx]. */
  at(index: Tensor): Tensor {
    return ops.index_Tensor(this, [index]);
  }
  indexPut(indices: readonly (Tensor | null)[], values: Tensor, accumulate = false): Tensor {
    return ops.index_put(this, indices, values, accumulate);
  }
  indexPut_(indices: readonly (Tensor | null)[], values: Tensor, accumulate = false): this {
    ops.index_put_(this, indices, values, accumulate);
    return this;
  }
  maskedSelect(mask: Tensor): Tensor {
    return ops.masked_select(this, mask);
  }
  maskedFill(mask: Tensor, value: Scalar | Tensor): Tensor {
    return value instanceof Tensor
      ? ops.masked_fill_Tensor(this, mask, value)
      : ops.masked_fill_Scalar(this, mask, value);
  }
  maskedFill_(mask: Tensor, value: Scalar): this {
    ops.masked_fill__Scalar(this, mask, value);
    return this;
  }
  /** Indices of non-zero elements, [N, ndim] int64. */
  nonzero(): Tensor {
    return ops.nonzero(this);
  }

  // arithmetic
  add(other: TensorOrScalar, alpha: number = 1): Tensor {
    return typeof other === 'number'
      ? ops.add_Scalar(this, other, alpha)
      : ops.add_Tensor(this, other, alpha);
  }
  sub(other: TensorOrScalar, alpha: number = 1): Tensor {
    return typeof other === 'number'
      ? ops.sub_Scalar(this, other, alpha)
      : ops.sub_Tensor(this, other, alpha);
  }
  /** other - this */
  rsub(other: number): Tensor {
    return ops.rsub_Scalar(this, other);
  }
  mul(other: TensorOrScalar): Tensor {
    return typeof other === 'number' ? ops.mul_Scalar(this, other) : ops.mul_Tensor(this, other);
  }
  div(other: TensorOrScalar, roundingMode?: 'trunc' | 'floor'): Tensor {
    if (roundingMode !== undefined) {
      return typeof other === 'number'
        ? ops.div_Scalar_mode(this, other, roundingMode)
        : ops.div_Tensor_mode(this, other, roundingMode);
    }
    return typeof other === 'number' ? ops.div_Scalar(this, other) : ops.div_Tensor(this, other);
  }
  add_(other: TensorOrScalar, alpha: number = 1): this {
    if (typeof other === 'number') ops.add__Scalar(this, other, alpha);
    else ops.add__Tensor(this, other, alpha);
    return this;
  }
  sub_(other: Tensor, alpha: number = 1): this {
    ops.sub__Tensor(this, other, alpha);
    return this;
  }
  mul_(other: TensorOrScalar): this {
    if (typeof other === 'number') ops.mul__Scalar(this, other);
    else ops.mul__Tensor(this, other);
    return this;
  }
  div_(other: TensorOrScalar): this {
    if (typeof other === 'number') ops.div__Scalar(this, other);
    else ops.div__Tensor(this, other);
    return this;
  }
  remainder(other: TensorOrScalar): Tensor {
    return typeof other === 'number' ? ops.remainder_Scalar(this, other) : ops.remainder_Tensor(this, other);
  }
  fmod(other: number): Tensor {
    return ops.fmod_Scalar(this, other);
  }
  pow(exponent: TensorOrScalar): Tensor {
    return typeof exponent === 'number'
      ? ops.pow_Tensor_Scalar(this, exponent)
      : ops.pow_Tensor_Tensor(this, exponent);
  }
  neg(): Tensor {
    return ops.neg(this);
  }
  abs(): Tensor {
    return ops.abs(this);
  }
  sign(): Tensor {
    return ops.sign(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  expm1(): Tensor {
    return ops.expm1(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  log2(): Tensor {
    return ops.log2(this);
  }
  log1p(): Tensor {
    return ops.log1p(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  sqrt_(): this {
    ops.sqrt_(this);
    return this;
  }
  rsqrt(): Tensor {
    return ops.rsqrt(this);
  }
  square(): Tensor {
    return ops.square(this);
  }
  reciprocal(): Tensor {
    return ops.reciprocal(this);
  }
  sin(): Tensor {
    return ops.sin(this);
  }
  cos(): Tensor {
    return ops.cos(this);
  }
  tan(): Tensor {
    return ops.tan(this);
  }
  atan(): Tensor {
    return ops.atan(this);
  }
  atan2(other: Tensor): Tensor {
    return ops.atan2(this, other);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  erf(): Tensor {
    return ops.erf(this);
  }
  floor(): Tensor {
    return ops.floor(this);
  }
  ceil(): Tensor {
    return ops.ceil(this);
  }
  round(decimals?: number): Tensor {
    return decimals === undefined ? ops.round(this) : ops.round_decimals(this, decimals);
  }
  trunc(): Tensor {
    return ops.trunc(this);
  }
  frac(): Tensor {
    return ops.frac(this);
  }
  clamp(min: TensorOrScalar | null, max: TensorOrScalar | null = null): Tensor {
    if (min instanceof Tensor || max instanceof Tensor) {
      return ops.clamp_Tensor(
        this,
        typeof min === 'number' ? full([], min, { dtype: this.dtype }) : min,
        typeof max === 'number' ? full([], max, { dtype: this.dtype }) : max,
      );
    }
    return ops.clamp(this, min, max);
  }
  clamp_(min: number | null, max: number | null = null): this {
    ops.clamp_(this, min, max);
    return this;
  }
  clampMin(min: TensorOrScalar): Tensor {
    return typeof min === 'number' ? ops.clamp_min(this, min) : ops.maximum(this, min);
  }
  clampMax(max: TensorOrScalar): Tensor {
    return typeof max === 'number' ? ops.clamp_max(this, max) : ops.minimum(this, max);
  }
  maximum(other: Tensor): Tensor {
    return ops.maximum(this, other);
  }
  minimum(other: Tensor): Tensor {
    return ops.minimum(this, other);
  }
  lerp(end: Tensor, weight: number): Tensor {
    return ops.lerp_Scalar(this, end, weight);
  }
  lerp_(end: Tensor, weight: number): this {
    ops.lerp__Scalar(this, end, weight);
    return this;
  }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    ops.addcmul_(this, t1, t2, value);
    return this;
  }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    ops.addcdiv_(this, t1, t2, value);
    return this;
  }
  nanToNum(nan = 0, posinf: number | null = null, neginf: number | null = null): Tensor {
    return ops.nan_to_num(this, nan, posinf, neginf);
  }

  // activations
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  relu_(): this {
    ops.relu_(this);
    return this;
  }
  softmax(dim: number): Tensor {
    return ops.softmax_int(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return ops.log_softmax_int(this, dim);
  }

  // comparisons (results are bool tensors)
  eq(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? ops.eq_Scalar(this, o) : ops.eq_Tensor(this, o);
  }
  ne(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? ops.ne_Scalar(this, o) : ops.ne_Tensor(this, o);
  }
  lt(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? ops.lt_Scalar(this, o) : ops.lt_Tensor(this, o);
  }
  le(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? ops.le_Scalar(this, o) : ops.le_Tensor(this, o);
  }
  gt(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? ops.gt_Scalar(this, o) : ops.gt_Tensor(this, o);
  }
  ge(o: TensorOrScalar): Tensor {
    return typeof o === 'number' ? ops.ge_Scalar(this, o) : ops.ge_Tensor(this, o);
  }
  logicalAnd(o: Tensor): Tensor {
    return ops.logical_and(this, o);
  }
  logicalOr(o: Tensor): Tensor {
    return ops.logical_or(this, o);
  }
  logicalNot(): Tensor {
    return ops.logical_not(this);
  }
  logicalXor(o: Tensor): Tensor {
    return ops.logical_xor(this, o);
  }
  isfinite(): Tensor {
    return ops.isfinite(this);
  }
  isnan(): Tensor {
    return ops.isnan(this);
  }
  isinf(): Tensor {
    return ops.isinf(this);
  }
  /** True when shapes and all elements are equal. */
  equal(o: Tensor): boolean {
    return ops.equal(this, o);
  }
  allclose(o: Tensor, rtol = 1e-5, atol = 1e-8): boolean {
    return ops.allclose(this, o, rtol, atol);
  }

  // reductions
  sum(dim?: number | readonly number[], keepdim = false, dtype: DType | null = null): Tensor {
    return dim === undefined ? ops.sum(this, dtype) : ops.sum_dim_IntList(this, normDim(dim), keepdim, dtype);
  }
  mean(dim?: number | readonly number[], keepdim = false): Tensor {
    return dim === undefined ? ops.mean(this) : ops.mean_dim(this, normDim(dim), keepdim);
  }
  prod(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? ops.prod(this) : ops.prod_dim_int(this, dim, keepdim);
  }
  /** The largest element. */
  max(): Tensor {
    return ops.max(this);
  }
  min(): Tensor {
    return ops.min(this);
  }
  /** Largest values along dim and their indices. */
  maxDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = ops.max_dim(this, dim, keepdim);
    return { values, indices };
  }
  minDim(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = ops.min_dim(this, dim, keepdim);
    return { values, indices };
  }
  amax(dim: number | readonly number[] = [], keepdim = false): Tensor {
    return ops.amax(this, normDim(dim), keepdim);
  }
  amin(dim: number | readonly number[] = [], keepdim = false): Tensor {
    return ops.amin(this, normDim(dim), keepdim);
  }
  argmax(dim: number | null = null, keepdim = false): Tensor {
    return ops.argmax(this, dim, keepdim);
  }
  argmin(dim: number | null = null, keepdim = false): Tensor {
    return ops.argmin(this, dim, keepdim);
  }
  logsumexp(dim: number | readonly number[], keepdim = false): Tensor {
    return ops.logsumexp(this, normDim(dim), keepdim);
  }
  /** Standard deviation; correction 1 is the unbiased estimate (PyTorch's default). */
  std(dim: number | readonly number[] | null = null, correction = 1, keepdim = false): Tensor {
    return ops.std_correction(this, dim === null ? null : normDim(dim), correction, keepdim);
  }
  var(dim: number | readonly number[] | null = null, correction = 1, keepdim = false): Tensor {
    return ops.var_correction(this, dim === null ? null : normDim(dim), correction, keepdim);
  }
  any(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? ops.any(this) : ops.any_dim(this, dim, keepdim);
  }
  all(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? ops.all(this) : ops.all_dim(this, dim, keepdim);
  }
  cumsum(dim: number, dtype: DType | null = null): Tensor {
    return ops.cumsum(this, dim, dtype);
  }
  cumprod(dim: number): Tensor {
    return ops.cumprod(this, dim);
  }
  norm(p = 2, dim: number | readonly number[] | null = null, keepdim = false): Tensor {
    return ops.linalg_vector_norm(this, p, dim === null ? null : normDim(dim), keepdim);
  }

  // sorting
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [values, indices] = ops.topk(this, k, dim, largest, sorted);
    return { values, indices };
  }
  /** Sorts along dim; `stable` keeps the order of equal elements. */
  sort(dim = -1, descending = false, stable = false): { values: Tensor; indices: Tensor } {
    const [values, indices] = stable
      ? ops.sort_stable(this, true, dim, descending)
      : ops.sort(this, dim, descending);
    return { values, indices };
  }
  argsort(dim = -1, descending = false, stable = false): Tensor {
    return stable ? ops.argsort_stable(this, true, dim, descending) : ops.argsort(this, dim, descending);
  }
  /** Sorted unique values, with inverse indices and counts. */
  unique(): { values: Tensor; inverse: Tensor; counts: Tensor } {
    const [values, inverse, counts] = ops._unique2(this, true, true, true);
    return { values, inverse, counts };
  }

  // linear algebra
  matmul(o: Tensor): Tensor {
    return ops.matmul(this, o);
  }
  mm(o: Tensor): Tensor {
    return ops.mm(this, o);
  }
  bmm(o: Tensor): Tensor {
    return ops.bmm(this, o);
  }

  override toString(): string {
    if (this._h === null) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}

// The generated ops make Tensors through handles.ts, which cannot import this module at run time.
registerTensorClass(Tensor);

function isDTypeName(s: string): s is DType {
  return (
    s === 'float32' ||
    s === 'float64' ||
    s === 'float16' ||
    s === 'bfloat16' ||
    s === 'int64' ||
    s === 'int32' ||
    s === 'int16' ||
    s === 'int8' ||
    s === 'uint8' ||
    s === 'bool'
  );
}

// --- creation --------------------------------------------------------------------------------

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

function finish(t: Tensor, o: CreateOptions): Tensor {
  if (o.requiresGrad) native.setRequiresGrad(t.h, true);
  return t;
}

function checkShape(shape: readonly number[], what: string): void {
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0)
      throw new TypeError(`${what}: shape must hold non-negative integers, got [${shape.join(', ')}]`);
  }
}

type NestedNumbers = number | boolean | readonly NestedNumbers[];

function flattenNested(v: NestedNumbers, shape: number[], out: number[], depth: number): void {
  if (Array.isArray(v)) {
    if (shape.length <= depth) shape.push(v.length);
    else if (shape[depth] !== v.length) throw new TypeError('tensor(): ragged nested array');
    for (const e of v) flattenNested(e, shape, out, depth + 1);
  } else {
    if (depth !== shape.length) throw new TypeError('tensor(): ragged nested array');
    out.push(typeof v === 'boolean' ? (v ? 1 : 0) : (v as number));
  }
}

function allBooleans(v: NestedNumbers): boolean {
  if (Array.isArray(v)) return v.length > 0 && v.every((e) => allBooleans(e));
  return typeof v === 'boolean';
}

function fillTyped(d: DType, values: readonly number[]): ArrayBufferView {
  switch (d) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(values, (x) => BigInt(Math.trunc(x)));
    case 'int32':
      return Int32Array.from(values);
    case 'int16':
      return Int16Array.from(values);
    case 'int8':
      return Int8Array.from(values);
    case 'uint8':
      return Uint8Array.from(values);
    case 'bool':
      return Uint8Array.from(values, (x) => (x ? 1 : 0));
    case 'float16':
    case 'bfloat16':
      return Float32Array.from(values);
  }
}

/**
 * A tensor from numbers, nested arrays or a typed array (copied).
 *   tensor([[1, 2], [3, 4]])                       // float32 [2,2]
 *   tensor(new Float32Array(12), { shape: [3, 4] })
 *   tensor([0, 2], { dtype: 'int64' })
 */
export function tensor(
  data: NestedNumbers | AnyTypedArray,
  opts: CreateOptions & { shape?: readonly number[] } = {},
): Tensor {
  if (ArrayBuffer.isView(data)) {
    const shape = opts.shape ?? [data.length];
    checkShape(shape, 'tensor');
    let dtype = opts.dtype ?? dtypeOfTypedArray(data);
    const natural = data instanceof Uint16Array ? dtype : dtypeOfTypedArray(data);
    if (natural === 'uint8' && dtype === 'bool') dtype = 'bool';
    if (natural !== dtype && !(natural === 'uint8' && dtype === 'bool') && !(data instanceof Uint16Array)) {
      const t = new Tensor(native.fromBuffer(data, dtypeCode(natural), shape));
      const r = tidy(() => t.to(dtype));
      t.dispose();
      return finish(opts.device ? moveTo(r, opts.device) : r, opts);
    }
    return finish(new Tensor(native.fromBuffer(data, dtypeCode(dtype), shape, opts.device)), opts);
  }
  const shape: number[] = [];
  const flat: number[] = [];
  flattenNested(data, shape, flat, 0);
  const target = opts.dtype ?? (allBooleans(data) ? 'bool' : 'float32');
  const outShape = opts.shape ?? shape;
  if (target === 'float16' || target === 'bfloat16') {
    const t = new Tensor(native.fromBuffer(Float32Array.from(flat), dtypeCode('float32'), outShape));
    const r = tidy(() => t.to(target));
    t.dispose();
    return finish(opts.device ? moveTo(r, opts.device) : r, opts);
  }
  return finish(
    new Tensor(native.fromBuffer(fillTyped(target, flat), dtypeCode(target), outShape, opts.device)),
    opts,
  );
}

function moveTo(t: Tensor, device: Device): Tensor {
  if (t.device === device) return t;
  const r = tidy(() => t.to(device));
  t.dispose();
  return r;
}

export function zeros(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  checkShape(shape, 'zeros');
  return finish(ops.zeros(shape, opts.dtype ?? 'float32', null, opts.device ?? null), opts);
}
export function ones(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  checkShape(shape, 'ones');
  return finish(ops.ones(shape, opts.dtype ?? 'float32', null, opts.device ?? null), opts);
}
export function empty(shape: readonly number[], opts: CreateOptions = {}): Tensor {
  checkShape(shape, 'empty');
  return finish(ops.empty_memory_format(shape, opts.dtype ?? 'float32', null, opts.device ?? null), opts);
}
export function full(shape: readonly number[], value: Scalar, opts: CreateOptions = {}): Tensor {
  checkShape(shape, 'full');
  const dtype = opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32');
  return finish(ops.full(shape, value, dtype, null, opts.device ?? null), opts);
}
/** Scalar tensor (0-d). */
export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return full([], value, opts);
}
export function zerosLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return finish(ops.zeros_like(t, opts.dtype ?? null, null, opts.device ?? null), opts);
}
export function onesLike(t: Tensor, opts: CreateOptions = {}): Tensor {
  return finish(ops.ones_like(t, opts.dtype ?? null, null, opts.device ?? null), opts);
}
export function fullLike(t: Tensor, value: Scalar, opts: CreateOptions = {}): Tensor {
  return finish(ops.full_like(t, value, opts.dtype ?? null, null, opts.device ?? null), opts);
}
/**
 * Values start, start+step, ... below end. Integral arguments give int64 unless a dtype is set,
 * as in PyTorch.
 */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  return finish(ops.arange_start_step(s, e, step, opts.dtype ?? null, null, opts.device ?? null), opts);
}
export function linspace(start: number, end: number, steps: number, opts: CreateOptions = {}): Tensor {
  return finish(ops.linspace(start, end, steps, opts.dtype ?? null, null, opts.device ?? null), opts);
}
export function eye(n: number, opts: CreateOptions = {}): Tensor {
  return finish(ops.eye(n, opts.dtype ?? null, null, opts.device ?? null), opts);
}
export interface RandomOptions extends CreateOptions {
  generator?: Generator | null;
}
/** Uniform [0, 1). */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return finish(
    ops.rand_generator(shape, opts.generator ?? null, opts.dtype ?? null, null, opts.device ?? null),
    opts,
  );
}
/** Standard normal. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return finish(
    ops.randn_generator(shape, opts.generator ?? null, opts.dtype ?? null, null, opts.device ?? null),
    opts,
  );
}
/** Integers in [low, high), int64 unless a dtype is given. */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  opts: RandomOptions = {},
): Tensor {
  return finish(
    ops.randint_low_generator(
      low,
      high,
      shape,
      opts.generator ?? null,
      opts.dtype ?? 'int64',
      null,
      opts.device ?? null,
    ),
    opts,
  );
}
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  return finish(
    ops.randperm_generator(n, opts.generator ?? null, opts.dtype ?? 'int64', null, opts.device ?? null),
    opts,
  );
}

// --- functions over several tensors ------------------------------------------------------------

export function cat(ts: readonly Tensor[], dim = 0): Tensor {
  return ops.cat(ts, dim);
}
export function stack(ts: readonly Tensor[], dim = 0): Tensor {
  return ops.stack(ts, dim);
}
/** Elementwise cond ? a : b (numbers broadcast). */
export function where(cond: Tensor, a: TensorOrScalar, b: TensorOrScalar): Tensor {
  if (typeof a === 'number' && typeof b === 'number') return ops.where_Scalar(cond, a, b);
  if (typeof a === 'number') return ops.where_ScalarSelf(cond, a, b as Tensor);
  if (typeof b === 'number') return ops.where_ScalarOther(cond, a, b);
  return ops.where_self(cond, a, b);
}
export function einsum(equation: string, ...ts: Tensor[]): Tensor {
  return ops.einsum(equation, ts);
}
export function meshgrid(ts: readonly Tensor[], indexing: 'ij' | 'xy' = 'ij'): Tensor[] {
  return ops.meshgrid_indexing(ts, indexing);
}
export function maximum(a: Tensor, b: Tensor): Tensor {
  return ops.maximum(a, b);
}
export function minimum(a: Tensor, b: Tensor): Tensor {
  return ops.minimum(a, b);
}

/** Runs an op on a worker thread; grad mode and other thread-local state come along. */
export async function callAsync(
  op: number,
  ...args: NativeArg[]
): Promise<Tensor | Tensor[] | number | boolean | undefined> {
  const r = await native.callAsync(op, ...args);
  if (r === undefined || typeof r === 'number' || typeof r === 'boolean') return r;
  if (Array.isArray(r)) return r.map((h) => new Tensor(h));
  return new Tensor(r);
}

export function isFloatingTensor(t: Tensor): boolean {
  return isFloating(t.dtype);
}

/** Throws a DetkdError if any element of t is NaN or infinite; names `what`. */
export function assertFinite(t: Tensor, what: string): void {
  const ok = tidy(() => t.isfinite().all().item());
  if (!ok) throw new DetkdError(`${what} is not finite (NaN or Inf)`);
}
