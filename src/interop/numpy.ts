/**
 * numpy values inside a checkpoint's metadata (mmcv's `hook_msgs`, mmengine's `message_hub`),
 * decoded from their bytes; nothing of numpy is imported or run. numpy pickles them as:
 *  - a dtype: `numpy.dtype(typestr, align, copy)` then BUILD `(version, byteorder, ...)`;
 *  - a scalar: `numpy.core.multiarray.scalar(dtype, bytes)`;
 *  - an array: `numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')` then BUILD
 *    `(version, shape, dtype, is_fortran, bytes)`.
 * Numeric and bool dtypes decode to numbers (a 64-bit int beyond 2^53 - 1 to a bigint); an array
 * keeps its dtype, shape and bytes (`NdArray`). Object arrays and structured dtypes are refused.
 * numpy 2 names the module `numpy._core.multiarray`; both are accepted.
 */

import { DetkdError } from '../core/errors.ts';
import { type Buildable, describe, PyCallable, PyTuple } from './pickle.ts';

/** A numpy dtype: kind letter (f, i, u, b), item size, byte order. */
export class NpDType implements Buildable {
  byteorder: string;
  constructor(
    readonly kind: string,
    readonly size: number,
  ) {
    this.byteorder = size === 1 ? '|' : '<';
  }
  setState(state: unknown): void {
    const items = state instanceof PyTuple ? state.items : null;
    if (items === null || typeof items[1] !== 'string')
      throw new DetkdError(`numpy dtype state is ${describe(state)}, not (version, byteorder, ...)`);
    if (items[2] !== null || items[3] !== null || items[4] !== null)
      throw new DetkdError('structured numpy dtypes are not supported');
    this.byteorder = items[1];
  }
  get name(): string {
    return `${this.byteorder}${this.kind}${this.size}`;
  }
}

/** A numpy array from a checkpoint's metadata: dtype, shape and row-major (or Fortran) bytes. */
export class NdArray implements Buildable {
  dtype: NpDType | null = null;
  shape: number[] = [];
  fortran = false;
  data: Uint8Array = new Uint8Array(0);
  setState(state: unknown): void {
    const items = state instanceof PyTuple ? state.items : null;
    if (items === null || items.length !== 5)
      throw new DetkdError(
        `numpy array state is ${describe(state)}, not (version, shape, dtype, fortran, data)`,
      );
    const [, shape, dtype, fortran, data] = items;
    if (!(dtype instanceof NpDType)) throw new DetkdError(`numpy array dtype is ${describe(dtype)}`);
    if (!(data instanceof Uint8Array)) throw new DetkdError('numpy object arrays are not supported');
    const dims = shape instanceof PyTuple ? shape.items : [];
    if (!dims.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0))
      throw new DetkdError(`numpy array shape is ${describe(shape)}`);
    const numel = (dims as number[]).reduce((a, b) => a * b, 1);
    if (numel * dtype.size !== data.length)
      throw new DetkdError(`numpy array of ${numel} ${dtype.name} elements holds ${data.length} bytes`);
    this.dtype = dtype;
    this.shape = dims as number[];
    this.fortran = fortran === true;
    this.data = data;
  }
  /** The elements as numbers (or bigints, booleans), in storage order. */
  values(): unknown[] {
    const d = this.dtype;
    if (d === null) return [];
    const out: unknown[] = [];
    for (let k = 0; k < this.data.length; k += d.size)
      out.push(decodeScalar(d, this.data.subarray(k, k + d.size)));
    return out;
  }
}

const KINDS = new Set(['f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'b1']);

function parseTypestr(s: unknown): NpDType {
  if (typeof s !== 'string') throw new DetkdError(`numpy dtype name is ${describe(s)}`);
  const m = /^[<>|=]?([fiub])(\d)$/.exec(s);
  if (m === null || !KINDS.has(`${m[1]}${m[2]}`)) throw new DetkdError(`numpy dtype '${s}' is not supported`);
  const d = new NpDType(m[1]!, Number(m[2]));
  if (s[0] === '>' && d.size > 1) d.byteorder = '>';
  return d;
}

function decodeScalar(d: NpDType, b: Uint8Array): unknown {
  if (b.length !== d.size) throw new DetkdError(`a ${d.name} scalar holds ${b.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = d.byteorder !== '>';
  const int64 = (x: bigint) => (x >= -(2n ** 53n) + 1n && x <= 2n ** 53n - 1n ? Number(x) : x);
  switch (`${d.kind}${d.size}`) {
    case 'f2': {
      const h = v.getUint16(0, le);
      const e = (h >> 10) & 0x1f;
      const f = h & 0x3ff;
      const sign = h & 0x8000 ? -1 : 1;
      if (e === 0) return sign * f * 2 ** -24;
      if (e === 0x1f) return f ? Number.NaN : sign * Number.POSITIVE_INFINITY;
      return sign * (1 + f / 1024) * 2 ** (e - 15);
    }
    case 'f4':
      return v.getFloat32(0, le);
    case 'f8':
      return v.getFloat64(0, le);
    case 'i1':
      return v.getInt8(0);
    case 'i2':
      return v.getInt16(0, le);
    case 'i4':
      return v.getInt32(0, le);
    case 'i8':
      return int64(v.getBigInt64(0, le));
    case 'u1':
      return v.getUint8(0);
    case 'u2':
      return v.getUint16(0, le);
    case 'u4':
      return v.getUint32(0, le);
    case 'u8':
      return int64(v.getBigUint64(0, le));
    case 'b1':
      return v.getUint8(0) !== 0;
  }
  throw new DetkdError(`numpy dtype '${d.name}' is not supported`);
}

/** The numpy globals the metadata of mmcv and mmengine checkpoints use, as data decoders. */
export function numpyGlobals(): PyCallable[] {
  const out: PyCallable[] = [new PyCallable('numpy', 'dtype', (args) => parseTypestr(args[0]))];
  for (const module of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
    out.push(
      new PyCallable(module, 'scalar', (args) => {
        const [dtype, data] = args;
        if (!(dtype instanceof NpDType) || !(data instanceof Uint8Array))
          throw new DetkdError(`expects (dtype, bytes), got ${describe(dtype)}, ${describe(data)}`);
        return decodeScalar(dtype, data);
      }),
      new PyCallable(module, '_reconstruct', (args) => {
        const [cls] = args;
        const name =
          cls instanceof PyCallable || (cls !== null && typeof cls === 'object' && 'qualname' in cls)
            ? (cls as { qualname: string }).qualname
            : describe(cls);
        if (name !== 'numpy.ndarray')
          throw new DetkdError(`refuses to reconstruct '${name}' (only numpy.ndarray)`);
        return new NdArray();
      }),
    );
  }
  return out;
}
