// Element types and their codes in c10::ScalarType.

export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

/** A scalar argument: an integral number becomes an integer Scalar, any other number a double. */
export type Scalar = number | boolean;

export type MemoryFormat = 'contiguous' | 'preserve' | 'channels_last';

const CODES: Record<DType, number> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};
const BY_CODE = new Map<number, DType>(Object.entries(CODES).map(([k, v]) => [v, k as DType]));

export const DTYPES: readonly DType[] = Object.keys(CODES) as DType[];

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.hasOwn(CODES, s);
}

export function dtypeCode(d: DType): number {
  const c = CODES[d];
  if (c === undefined) throw new TypeError(`unknown dtype '${String(d)}' (one of ${DTYPES.join(', ')})`);
  return c;
}

export function odtypeCode(d: DType | null): number | null {
  return d === null ? null : dtypeCode(d);
}

export function dtypeFromCode(code: number): DType {
  const d = BY_CODE.get(code);
  if (d === undefined) throw new Error(`tensor has a dtype detkd does not support (c10::ScalarType ${code})`);
  return d;
}

const MF: Record<MemoryFormat, number> = { contiguous: 0, preserve: 1, channels_last: 2 };

export function memoryFormatCode(m: MemoryFormat): number {
  const c = MF[m];
  if (c === undefined) throw new TypeError(`unknown memory format '${String(m)}'`);
  return c;
}

export function omemoryFormatCode(m: MemoryFormat | null): number | null {
  return m === null ? null : memoryFormatCode(m);
}

export function itemSize(d: DType): number {
  switch (d) {
    case 'float64':
    case 'int64':
      return 8;
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
    case 'bfloat16':
    case 'int16':
      return 2;
    case 'int8':
    case 'uint8':
    case 'bool':
      return 1;
  }
}

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}

/** The typed array that holds a dtype's elements (float16/bfloat16 as raw 16-bit patterns). */
export interface TypedArrayFor {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

export type AnyTypedArray = TypedArrayFor[DType];

export function typedArrayView<D extends DType>(d: D, buf: ArrayBuffer): TypedArrayFor[D];
export function typedArrayView(d: DType, buf: ArrayBuffer): AnyTypedArray {
  switch (d) {
    case 'float32':
      return new Float32Array(buf);
    case 'float64':
      return new Float64Array(buf);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buf);
    case 'int64':
      return new BigInt64Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'int16':
      return new Int16Array(buf);
    case 'int8':
      return new Int8Array(buf);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf);
  }
}

/** The dtype a typed array maps to by default. */
export function dtypeOfTypedArray(a: AnyTypedArray | Float32Array): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  if (a instanceof Uint16Array)
    throw new TypeError('a Uint16Array is ambiguous: pass dtype float16 or bfloat16');
  throw new TypeError('unsupported typed array');
}
