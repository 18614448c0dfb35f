/**
 * safetensors read/write on raw bytes, independent of the tensor engine.
 *
 * Layout (https://github.com/huggingface/safetensors, README "Format"):
 *   [u64 little-endian N][N bytes UTF-8 JSON header][data buffer]
 * The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative
 * to the data buffer) and may hold "__metadata__": {string: string}. Tensors are row-major and
 * little-endian.
 *
 * Writer conventions (the Python oracle scripts/fixtures/safetensors_interop.py follows them, and
 * the tests check both produce identical bytes):
 *  - data ordered by dtype rank descending, then name, as the reference writer's `prepare` does
 *    (rank is the reference `Dtype` enum order, increasing alignment), so every tensor's data is
 *    aligned to its item size;
 *  - header JSON compact; top-level keys (names and "__metadata__") sorted by code point; each
 *    entry written dtype, shape, data_offsets (the reference field order); metadata keys sorted;
 *    "__metadata__" omitted when there is no metadata;
 *  - header padded with spaces to a multiple of 8 so the data buffer starts 8-byte aligned.
 * The reader accepts any key order and any valid padding, and checks everything else strictly.
 */

import {
  closeSync,
  fstatSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type { DType } from './dtype.ts';
import { DetkdError } from './errors.ts';

/**
 * Element types of the format. Not supported (a file using them is rejected as "unknown dtype"):
 * the sub-byte F4/F6 types, F8_E8M0 and complex C64.
 */
export type SafeDType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U8'
  | 'BOOL'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'F8_E5M2'
  | 'F8_E4M3';

/** Engine dtype names (src/core/dtype.ts); each has a safetensors counterpart. */
export type EngineDTypeName = DType;

/** One tensor as bytes: `data` is row-major, little-endian, `prod(shape) * itemSize` bytes. */
export type RawTensor = { dtype: SafeDType; shape: number[]; data: Uint8Array };

export type SafetensorsContents = { tensors: Record<string, RawTensor>; metadata: Record<string, string> };

/** Reference `Dtype` enum order (increasing alignment); the writer orders data by it, descending. */
const DTYPE_RANK: readonly SafeDType[] = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
];

const ITEM_SIZE: Record<SafeDType, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

const TO_ENGINE: Partial<Record<SafeDType, EngineDTypeName>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

const FROM_ENGINE: Record<EngineDTypeName, SafeDType> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

/** Same limit as the reference reader: a larger header is a corrupt length prefix. */
export const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

export function isSafeDType(s: string): s is SafeDType {
  return Object.hasOwn(ITEM_SIZE, s);
}

/** Bytes per element: dtypeItemSize('BF16') === 2. */
export function dtypeItemSize(d: SafeDType): number {
  return ITEM_SIZE[d];
}

/** safetensors dtype -> engine dtype name; throws for U16/U32/U64/F8_* (no engine counterpart). */
export function safeDTypeToEngine(d: SafeDType): EngineDTypeName {
  const e = TO_ENGINE[d];
  if (e === undefined) throw new DetkdError(`safetensors dtype ${d} has no engine dtype`);
  return e;
}

/** Engine dtype name -> safetensors dtype: engineToSafeDType('bfloat16') === 'BF16'. */
export function engineToSafeDType(d: EngineDTypeName): SafeDType {
  return FROM_ENGINE[d];
}

/** Element count of a shape; [] (a scalar) has 1. Throws past 2^53. */
function numel(shape: readonly number[], where: string): number {
  let n = 1;
  for (const s of shape) n *= s;
  if (!Number.isSafeInteger(n)) throw new DetkdError(`${where}: shape [${shape}] overflows`);
  return n;
}

/** Orders strings by Unicode code point (= UTF-8 byte order, Rust's and Python's str order). */
function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

type Prepared = { header: Uint8Array; order: RawTensor[]; dataBytes: number };

function prepare(tensors: Record<string, RawTensor>, metadata: Record<string, string> | undefined): Prepared {
  const names = Object.keys(tensors);
  for (const name of names) {
    const t = tensors[name]!;
    const where = `safetensors write: tensor "${name}"`;
    if (name === METADATA_KEY) throw new DetkdError(`${where}: the name is reserved`);
    if (!isSafeDType(t.dtype)) throw new DetkdError(`${where}: unknown dtype ${String(t.dtype)}`);
    if (!t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
      throw new DetkdError(`${where}: shape [${t.shape}] must hold non-negative integers`);
    }
    const want = numel(t.shape, where) * ITEM_SIZE[t.dtype];
    if (t.data.byteLength !== want) {
      throw new DetkdError(`${where}: ${t.data.byteLength} bytes, but ${t.dtype}[${t.shape}] needs ${want}`);
    }
  }
  const metaKeys = Object.keys(metadata ?? {});
  for (const k of metaKeys) {
    if (typeof metadata![k] !== 'string') {
      throw new DetkdError(`safetensors write: metadata "${k}" must be a string, got ${typeof metadata![k]}`);
    }
  }

  const rank = (d: SafeDType): number => DTYPE_RANK.indexOf(d);
  const dataOrder = [...names].sort(
    (a, b) => rank(tensors[b]!.dtype) - rank(tensors[a]!.dtype) || compareCodePoints(a, b),
  );
  // Built by hand rather than JSON.stringify(object): JS objects put integer-like keys first.
  const entries = new Map<string, string>();
  let offset = 0;
  for (const name of dataOrder) {
    const t = tensors[name]!;
    const end = offset + t.data.byteLength;
    entries.set(
      name,
      `{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  if (metaKeys.length > 0) {
    const body = [...metaKeys]
      .sort(compareCodePoints)
      .map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata![k])}`);
    entries.set(METADATA_KEY, `{${body.join(',')}}`);
  }
  const keys = [...entries.keys()].sort(compareCodePoints);
  let json = `{${keys.map((k) => `${JSON.stringify(k)}:${entries.get(k)}`).join(',')}}`;
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - (jsonBytes % 8)) % 8);
  const header = new TextEncoder().encode(json);
  return { header, order: dataOrder.map((n) => tensors[n]!), dataBytes: offset };
}

function lengthPrefix(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  return out;
}

/**
 * Serialises tensors (and optional string metadata) to safetensors bytes, following the writer
 * conventions in the file comment; the same input always gives the same bytes.
 *
 * @example encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Uint8Array(8) } }, { format: 'pt' })
 */
export function encodeSafetensors(
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const { header, order, dataBytes } = prepare(tensors, metadata);
  const out = new Uint8Array(8 + header.byteLength + dataBytes);
  out.set(lengthPrefix(header.byteLength), 0);
  out.set(header, 8);
  let pos = 8 + header.byteLength;
  for (const t of order) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Finds a key repeated within one JSON object (JSON.parse silently keeps the last). `text` must
 * already be valid JSON. Returns the decoded key, or undefined.
 */
function findDuplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = []; // null for arrays
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '{') stack.push(new Set());
    else if (c === '[') stack.push(null);
    else if (c === '}' || c === ']') stack.pop();
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const token = text.slice(i, j + 1);
      i = j + 1;
      while (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r') i++;
      const keys = stack[stack.length - 1];
      if (text[i] === ':' && keys) {
        const key = JSON.parse(token) as string;
        if (keys.has(key)) return key;
        keys.add(key);
      }
      continue;
    }
    i++;
  }
  return undefined;
}

function isIndexArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0);
}

/**
 * Parses safetensors bytes. Every tensor's `data` is a subarray view onto `bytes` (zero-copy): it
 * aliases the input, so mutating one mutates the other, and it keeps the whole buffer alive. The
 * views start at `bytes.byteOffset + 8 + N + begin`; to view them as Float32Array etc. that must
 * be a multiple of the item size (true for files from aligned writers read by readSafetensorsFile).
 * Throws DetkdError naming `source` (default "<buffer>") for anything that is not a valid file.
 */
export function decodeSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsContents {
  const fail = (msg: string): never => {
    throw new DetkdError(`${source}: not a valid safetensors file: ${msg}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header size ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  if (8 + n > bytes.byteLength) {
    fail(`header size ${n} runs past the end of the file (${bytes.byteLength} bytes; truncated?)`);
  }
  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{'))
    fail(`header must start with '{', starts with ${JSON.stringify(text.slice(0, 16))}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    fail(`header is not JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(parsed)) fail('header JSON is not an object');
  const header = parsed as Record<string, unknown>;
  const dup = findDuplicateKey(text);
  if (dup !== undefined) fail(`header repeats the key ${JSON.stringify(dup)}`);

  const metadata: Record<string, string> = {};
  const meta = header[METADATA_KEY];
  if (meta !== undefined) {
    if (!isPlainObject(meta)) fail(`"${METADATA_KEY}" is not an object`);
    for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
      if (typeof v !== 'string')
        fail(`"${METADATA_KEY}" value "${k}" is not a string (${JSON.stringify(v)})`);
      Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
    }
  }

  const data = bytes.subarray(8 + n);
  type Entry = { name: string; dtype: SafeDType; shape: number[]; begin: number; end: number };
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) continue;
    const where = `tensor "${name}"`;
    if (!isPlainObject(info)) fail(`${where} entry is not an object`);
    const { dtype, shape, data_offsets: offsets, ...extra } = info as Record<string, unknown>;
    const extraKeys = Object.keys(extra);
    if (extraKeys.length > 0) fail(`${where} has unknown field(s) ${extraKeys.join(', ')}`);
    if (typeof dtype !== 'string' || !isSafeDType(dtype))
      fail(`${where} has unknown dtype ${JSON.stringify(dtype)}`);
    if (!isIndexArray(shape))
      fail(`${where} shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!isIndexArray(offsets) || offsets.length !== 2) {
      fail(`${where} data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    const dt = dtype as SafeDType;
    const sh = shape as number[];
    if (end < begin) fail(`${where} data_offsets [${begin}, ${end}] end before they begin`);
    const want = numel(sh, `${source}: ${where}`) * ITEM_SIZE[dt];
    if (end - begin !== want) {
      fail(
        `${where} is ${dt}[${sh}] (${want} bytes) but data_offsets [${begin}, ${end}] span ${end - begin}`,
      );
    }
    if (end > data.byteLength) {
      fail(`${where} data_offsets [${begin}, ${end}] out of bounds: data buffer is ${data.byteLength} bytes`);
    }
    entries.push({ name, dtype: dt, shape: sh, begin, end });
  }
  // The spec requires the offsets to tile the buffer: no gaps, no overlaps, nothing left over.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const e of entries) {
    if (e.begin > pos) fail(`gap: bytes [${pos}, ${e.begin}) before tensor "${e.name}" belong to no tensor`);
    if (e.begin < pos)
      fail(`tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap the previous tensor`);
    pos = e.end;
  }
  if (pos !== data.byteLength) {
    fail(`data buffer is ${data.byteLength} bytes but the tensors cover ${pos} (trailing bytes)`);
  }
  const tensors = Object.fromEntries(
    entries.map((e) => [e.name, { dtype: e.dtype, shape: e.shape, data: data.subarray(e.begin, e.end) }]),
  );
  return { tensors, metadata };
}

/**
 * Reads and decodes a file. The file is read into a fresh buffer (byteOffset 0), so with an
 * 8-aligned writer each tensor's view is aligned to its item size. Views alias that buffer.
 */
export function readSafetensorsFile(path: string): SafetensorsContents {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new DetkdError(`${path}: cannot open safetensors file (${(e as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    const bytes = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const r = readSync(fd, bytes, got, size - got, got);
      if (r === 0) throw new DetkdError(`${path}: file shrank while reading (${got} of ${size} bytes)`);
      got += r;
    }
    return decodeSafetensors(bytes, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a file atomically: the bytes go to `${path}.tmp-<pid>`, are fsynced, and the temp file is
 * renamed over `path`, so a crash leaves either the old file or the complete new one.
 */
export function writeSafetensorsFile(
  path: string,
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  const { header, order } = prepare(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  const writeAll = (fd: number, b: Uint8Array): void => {
    let done = 0;
    while (done < b.byteLength) done += writeSync(fd, b, done, b.byteLength - done);
  };
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w');
    writeAll(fd, lengthPrefix(header.byteLength));
    writeAll(fd, header);
    for (const t of order) writeAll(fd, t.data);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw new DetkdError(`${path}: cannot write safetensors file (${(e as Error).message})`);
  }
  // Persist the rename itself; not possible on every platform, and the data is already safe.
  try {
    const dfd = openSync(dirname(path), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // directory fsync unsupported (e.g. Windows)
  }
}
