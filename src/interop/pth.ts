/**
 * PyTorch `.pth` checkpoints, read without importing or running anything.
 *
 * Two formats (both written by `torch.save`):
 *  - zip (PyTorch >= 1.6): one top folder, named after the saved file's stem (`archive` in newer
 *    versions), holding `data.pkl` (the object, a pickle), one file `data/<key>` per storage, and
 *    `version` (plus `byteorder` in newer versions). A storage is referenced from the pickle by a
 *    persistent id `('storage', torch.FloatStorage, key, location, numel)`.
 *  - legacy (`_use_new_zipfile_serialization=False`, and every file before 1.6): pickles back to
 *    back: the magic number 0x1950a86a20f9469cfc6c, the protocol version 1001, a system-info dict,
 *    the object (persistent ids `('storage', type, key, location, numel, view)`), the list of
 *    storage keys; then each storage's raw bytes after an 8-byte element count, in that order.
 *
 * The pickle reader (pickle.ts) resolves only the globals on `ALLOWED` below; any other name is an
 * inert placeholder that is refused when the stream would call it. Tensors are copied out of their
 * storages (views with offsets and strides, shared storages, every detkd dtype) into new CPU
 * tensors. Checkpoint wrappers are unwrapped: mmdetection's `{state_dict, meta, optimizer}`,
 * `{model: ...}` (torchvision's references, detectron2), DDP's `module.` prefix; mmdetection's
 * `ema_` keys are set aside. See docs/interop.md.
 */

import { readFileSync } from 'node:fs';
import { type DType, dtypeCode, itemSize } from '../core/dtype.ts';
import { DetkdError } from '../core/errors.ts';
import { native } from '../core/native.ts';
import { Tensor } from '../core/tensor.ts';
import { NdArray, NpDType, numpyGlobals } from './numpy.ts';
import {
  allowListResolver,
  containerGlobals,
  dataClass,
  describe,
  PyCallable,
  PyGlobal,
  PyObject,
  PySet,
  PyTuple,
  readPickle,
} from './pickle.ts';
import { looksLikeZip, readZip } from './zip.ts';

export interface PthFile {
  /** Every tensor in the checkpoint's state dict (after unwrapping), by key, as detkd Tensors (CPU). */
  tensors: Map<string, Tensor>;
  /** What surrounded the state dict: 'plain' | 'mmdet' ({state_dict, meta, ...}) | 'model' ({model: ...}) */
  layout: 'plain' | 'mmdet' | 'model';
  /** mmdet meta (CLASSES / dataset_meta.classes, etc.) as plain JSON-like values, when present; opaque placeholders for unknown objects. */
  meta: unknown;
  /** Keys that had a `module.` prefix removed (DDP), and any `ema_` keys set aside, for the caller's report. */
  notes: string[];
}

/** The storage classes torch writes, by the dtype of their elements (CPU and legacy CUDA names). */
const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** The dtype of a storage class global (`torch.FloatStorage`, `torch.cuda.HalfStorage`), or undefined. */
export function storageDType(g: unknown): DType | undefined {
  if (!(g instanceof PyGlobal)) return undefined;
  if (g.module !== 'torch' && g.module !== 'torch.cuda') return undefined;
  return Object.hasOwn(STORAGE_DTYPES, g.name) ? STORAGE_DTYPES[g.name] : undefined;
}

/** One storage a persistent id named: its element type and count, and where its bytes are. */
export class StorageRef {
  /** The bytes, once found (the zip entry, or the legacy file's span). */
  bytes: Uint8Array | null = null;
  /** How errors name it: the zip entry (`data/3`) or the legacy key. */
  label: string;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    /** Legacy storage views: the root storage and the element offset into it. */
    readonly root: { key: string; offset: number } | null = null,
  ) {
    this.label = key;
  }
}

/** A tensor the pickle described: a view of a storage. Its bytes are copied out after reading. */
export class TensorRecord {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

function intList(v: unknown, what: string): number[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : null;
  if (items === null) throw new DetkdError(`${what} is ${describe(v)}, not a tuple`);
  return items.map((x) => nonNegInt(x, what));
}

function nonNegInt(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)
    throw new DetkdError(
      `${what} holds ${typeof x === 'bigint' ? String(x) : describe(x)}, not a non-negative integer`,
    );
  return x;
}

function rebuildTensor(args: unknown[]): TensorRecord {
  if (args.length < 4)
    throw new DetkdError(`takes (storage, offset, size, stride, ...), got ${args.length} arguments`);
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef))
    throw new DetkdError(`the storage is ${describe(storage)}, not a storage`);
  const shape = intList(size, 'the size');
  const strides = intList(stride, 'the stride');
  if (shape.length !== strides.length)
    throw new DetkdError(`size has ${shape.length} dimensions but stride ${strides.length}`);
  return new TensorRecord(storage, nonNegInt(offset, 'the storage offset'), shape, strides);
}

function tensorArg(v: unknown, what: string): TensorRecord {
  if (!(v instanceof TensorRecord)) throw new DetkdError(`${what} is ${describe(v)}, not a tensor`);
  return v;
}

/**
 * The globals a checkpoint may use: the tensor and parameter rebuild functions, torch.device,
 * and the containers (pickle.ts `containerGlobals`). Storage classes are data (persistent ids
 * name them) and need no entry. Everything here is detkd's own code; nothing is imported.
 */
export const ALLOWED: readonly PyCallable[] = [
  new PyCallable('torch._utils', '_rebuild_tensor_v2', rebuildTensor),
  new PyCallable('torch._utils', '_rebuild_tensor', rebuildTensor),
  new PyCallable('torch._utils', '_rebuild_parameter', (args) => tensorArg(args[0], 'the parameter data')),
  new PyCallable('torch._utils', '_rebuild_parameter_with_state', (args) =>
    tensorArg(args[0], 'the parameter data'),
  ),
  // Tensors with Python attributes or subclasses: (func, type, args, state); only plain types.
  new PyCallable('torch._tensor', '_rebuild_from_type_v2', (args) => {
    const [func, type, inner] = args;
    const t = type instanceof PyGlobal ? type.qualname : describe(type);
    if (t !== 'torch.Tensor' && t !== 'torch.nn.parameter.Parameter')
      throw new DetkdError(`refuses tensor subclass '${t}'`);
    if (!(func instanceof PyCallable) || !(inner instanceof PyTuple))
      throw new DetkdError(`refuses to call ${describe(func)}`);
    return tensorArg(func.call(inner.items), 'the rebuilt value');
  }),
  new PyCallable('torch', 'device', (args) => {
    const [type, index] = args;
    if (typeof type !== 'string') throw new DetkdError(`expects a device string, not ${describe(type)}`);
    return typeof index === 'number' ? `${type}:${index}` : type;
  }),
  ...containerGlobals(),
  // metadata: numpy scalars and arrays (decoded from their bytes), mmengine's log buffers (data)
  ...numpyGlobals(),
  dataClass('mmengine.logging.history_buffer', 'HistoryBuffer'),
];

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** Reads a `.pth` file; errors name the file and the entry (`model.pth: data.pkl: ...`). */
export function readPth(path: string): PthFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new DetkdError(
      `${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  return parsePth(bytes, path);
}

/** A checkpoint's object and the storages it references, with their bytes found. */
export interface RawCheckpoint {
  format: 'zip' | 'legacy';
  object: unknown;
  storages: Map<string, StorageRef>;
}

/** Reads the object pickle and locates every storage's bytes (not yet copied). */
export function readCheckpointObject(bytes: Uint8Array, where: string): RawCheckpoint {
  if (looksLikeZip(bytes)) return readZipCheckpoint(bytes, where);
  if (bytes.length >= 2 && bytes[0] === 0x80) return readLegacyCheckpoint(bytes, where);
  if (bytes.length > 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar')
    throw new DetkdError(
      `${where}: a tar-format checkpoint (PyTorch before 0.4) is not supported; re-save it`,
    );
  throw new DetkdError(
    `${where}: not a PyTorch checkpoint (neither a zip archive nor a legacy pickle stream)`,
  );
}

function storageFromPid(pid: unknown, storages: Map<string, StorageRef>, legacy: boolean): StorageRef {
  const items = pid instanceof PyTuple ? pid.items : null;
  if (items === null || items[0] !== 'storage' || items.length < 5)
    throw new DetkdError(`expected ('storage', type, key, location, numel), got ${describe(pid)}`);
  const [, type, key, , numel] = items;
  const dtype = storageDType(type);
  if (dtype === undefined)
    throw new DetkdError(
      `storage type ${describe(type)} is not one detkd reads (${Object.keys(STORAGE_DTYPES).join(', ')})`,
    );
  if (typeof key !== 'string') throw new DetkdError(`storage key is ${describe(key)}, not a string`);
  const count = nonNegInt(numel, `storage '${key}' element count`);
  let ref: StorageRef;
  const view = legacy ? items[5] : null;
  if (view !== null && view !== undefined) {
    // Legacy storage views: (view key, offset, size) into the root storage `key`.
    const v = view instanceof PyTuple ? view.items : [];
    if (v.length !== 3 || typeof v[0] !== 'string')
      throw new DetkdError(`storage '${key}': bad view ${describe(view)}`);
    const offset = nonNegInt(v[1], `storage view '${v[0]}' offset`);
    const size = nonNegInt(v[2], `storage view '${v[0]}' size`);
    rootOf(storages, key, dtype, count);
    ref = storages.get(v[0]) ?? new StorageRef(v[0], dtype, size, { key, offset });
    storages.set(v[0], ref);
  } else {
    ref = rootOf(storages, key, dtype, count);
  }
  return ref;
}

function rootOf(storages: Map<string, StorageRef>, key: string, dtype: DType, numel: number): StorageRef {
  const seen = storages.get(key);
  if (seen) {
    if (seen.dtype !== dtype || seen.numel !== numel)
      throw new DetkdError(
        `storage '${key}' is ${seen.numel} ${seen.dtype} elements in one place and ${numel} ${dtype} in another`,
      );
    return seen;
  }
  const ref = new StorageRef(key, dtype, numel);
  storages.set(key, ref);
  return ref;
}

function readZipCheckpoint(bytes: Uint8Array, where: string): RawCheckpoint {
  const entries = readZip(bytes, where);
  const pkls = [...entries.keys()].filter((k) => /^[^/]+\/data\.pkl$/.test(k));
  if (pkls.length !== 1)
    throw new DetkdError(
      `${where}: a torch.save archive holds one '<name>/data.pkl'; this one has ${pkls.length} (entries: ${[
        ...entries.keys(),
      ]
        .slice(0, 8)
        .join(', ')})`,
    );
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(order.data).trim() !== 'little')
    throw new DetkdError(
      `${where}: byteorder: storages are big-endian; detkd reads little-endian checkpoints`,
    );
  const storages = new Map<string, StorageRef>();
  const resolver = allowListResolver(ALLOWED, (pid) => storageFromPid(pid, storages, false));
  const { value, end } = readPickle(entries.get(pkls[0]!)!.data, resolver, { where: `${where}: data.pkl` });
  if (end !== entries.get(pkls[0]!)!.data.length)
    throw new DetkdError(`${where}: data.pkl: ${entries.get(pkls[0]!)!.data.length - end} bytes after STOP`);
  for (const s of storages.values()) {
    const name = `data/${s.key}`;
    const e = entries.get(`${prefix}${name}`);
    if (!e)
      throw new DetkdError(`${where}: storage '${name}' is referenced by data.pkl but not in the archive`);
    const want = s.numel * itemSize(s.dtype);
    if (e.data.length < want)
      throw new DetkdError(
        `${where}: storage '${name}' holds ${e.data.length} bytes, its ${s.numel} ${s.dtype} elements need ${want}`,
      );
    s.bytes = e.data.subarray(0, want);
    s.label = name;
  }
  return { format: 'zip', object: value, storages };
}

function readLegacyCheckpoint(bytes: Uint8Array, where: string): RawCheckpoint {
  const plain = allowListResolver(ALLOWED);
  const magic = readPickle(bytes, plain, { where: `${where}: magic number` });
  if (magic.value !== LEGACY_MAGIC)
    throw new DetkdError(`${where}: not a PyTorch checkpoint (a pickle without torch's magic number)`);
  const proto = readPickle(bytes, plain, { where: `${where}: protocol version`, offset: magic.end });
  if (proto.value !== LEGACY_PROTOCOL)
    throw new DetkdError(
      `${where}: legacy protocol version ${describe(proto.value)}, expected ${LEGACY_PROTOCOL}`,
    );
  const info = readPickle(bytes, plain, { where: `${where}: system info`, offset: proto.end });
  if (info.value instanceof Map && info.value.get('little_endian') === false)
    throw new DetkdError(
      `${where}: system info: saved on a big-endian machine; detkd reads little-endian checkpoints`,
    );
  const storages = new Map<string, StorageRef>();
  const resolver = allowListResolver(ALLOWED, (pid) => storageFromPid(pid, storages, true));
  const obj = readPickle(bytes, resolver, { where: `${where}: object pickle`, offset: info.end });
  const keys = readPickle(bytes, plain, { where: `${where}: storage keys`, offset: obj.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string'))
    throw new DetkdError(`${where}: storage keys: expected a list of strings, got ${describe(keys.value)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.get(key);
    if (!s || s.root !== null)
      throw new DetkdError(`${where}: storage '${key}' is listed but no tensor in the object pickle uses it`);
    if (pos + 8 > bytes.length)
      throw new DetkdError(
        `${where}: storage '${key}': unexpected end at byte ${bytes.length} (its size at byte ${pos})`,
      );
    const count = view.getBigInt64(pos, true);
    if (count !== BigInt(s.numel))
      throw new DetkdError(
        `${where}: storage '${key}': the file says ${count} elements, the object pickle ${s.numel}`,
      );
    const len = s.numel * itemSize(s.dtype);
    if (pos + 8 + len > bytes.length)
      throw new DetkdError(
        `${where}: storage '${key}': ${len} bytes at byte ${pos + 8} run past the end of the file (${bytes.length} bytes; truncated?)`,
      );
    s.bytes = bytes.subarray(pos + 8, pos + 8 + len);
    pos += 8 + len;
  }
  for (const s of storages.values()) {
    if (s.root === null) {
      if (s.bytes === null)
        throw new DetkdError(`${where}: storage '${s.key}' is used but not in the storage list`);
      continue;
    }
    const root = storages.get(s.root.key)!;
    const at = s.root.offset * itemSize(s.dtype);
    const len = s.numel * itemSize(s.dtype);
    if (root.bytes === null || at + len > root.bytes.length)
      throw new DetkdError(`${where}: storage view '${s.key}' runs past its storage '${s.root.key}'`);
    s.bytes = root.bytes.subarray(at, at + len);
  }
  return { format: 'legacy', object: obj.value, storages };
}

/**
 * The row-major bytes of a tensor record (copied out of its storage), checked against the
 * storage. `limit` bounds the result's size (an expanded view with zero strides could otherwise
 * ask for far more memory than its file holds).
 */
export function tensorBytes(rec: TensorRecord, limit: number): Uint8Array {
  const s = rec.storage;
  const size = itemSize(s.dtype);
  const bytes = s.bytes;
  if (bytes === null) throw new DetkdError(`storage '${s.key}' has no bytes`);
  let numel = 1;
  let last = 0;
  for (let d = 0; d < rec.shape.length; d++) {
    numel *= rec.shape[d]!;
    last += (rec.shape[d]! - 1) * rec.stride[d]!;
  }
  if (numel === 0) return new Uint8Array(0);
  const needed = (rec.offset + last + 1) * size;
  if (!Number.isSafeInteger(needed) || needed > bytes.length)
    throw new DetkdError(
      `storage '${s.label}' holds ${bytes.length} bytes, a ${s.dtype} tensor of shape [${rec.shape.join(', ')}] ` +
        `(offset ${rec.offset}, stride [${rec.stride.join(', ')}]) needs ${needed}`,
    );
  if (numel * size > limit)
    throw new DetkdError(
      `a ${s.dtype} tensor of shape [${rec.shape.join(', ')}] would expand ${bytes.length} stored bytes to ${numel * size}`,
    );
  // Row-major (strides of size-1 dimensions do not matter): one slice.
  let contiguous = true;
  let expect = 1;
  for (let d = rec.shape.length - 1; d >= 0; d--) {
    if (rec.shape[d] !== 1 && rec.stride[d] !== expect) contiguous = false;
    expect *= rec.shape[d]!;
  }
  if (contiguous) return bytes.slice(rec.offset * size, (rec.offset + numel) * size);
  const out = new Uint8Array(numel * size);
  const nd = rec.shape.length;
  const idx = new Array<number>(nd).fill(0);
  let src = rec.offset;
  for (let e = 0; e < numel; e++) {
    const from = src * size;
    for (let b = 0; b < size; b++) out[e * size + b] = bytes[from + b]!;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]!++;
      src += rec.stride[d]!;
      if (idx[d]! < rec.shape[d]!) break;
      src -= rec.stride[d]! * rec.shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** A new CPU tensor holding a copy of the record's elements. */
export function materialize(rec: TensorRecord, limit: number): Tensor {
  const data = tensorBytes(rec, limit);
  return new Tensor(native.fromBuffer(data, dtypeCode(rec.storage.dtype), rec.shape));
}

/**
 * Metadata as plain JSON-like values: dicts become objects, tuples, lists and sets arrays; a
 * tensor becomes `{ $tensor: { dtype, shape } }`, a global `{ $global: 'module.name' }`, an
 * data class `{ $object: 'argparse.Namespace', ...fields }`, bytes `{ $bytes: length }`, a numpy
 * scalar its number, a numpy array `{ $ndarray: { dtype, shape, values } }` (storage order),
 * an int beyond 2^53 its decimal string; a container that contains itself `'$recursive'`.
 */
export function plainMeta(v: unknown): unknown {
  const done = new Map<object, unknown>();
  const active = new Set<object>();
  const go = (x: unknown): unknown => {
    if (x === null || typeof x === 'boolean' || typeof x === 'number' || typeof x === 'string') return x;
    if (typeof x === 'bigint') return String(x);
    if (typeof x !== 'object') return String(x);
    if (done.has(x)) return done.get(x);
    if (active.has(x)) return '$recursive';
    active.add(x);
    let out: unknown;
    if (x instanceof TensorRecord) out = { $tensor: { dtype: x.storage.dtype, shape: [...x.shape] } };
    else if (x instanceof StorageRef) out = { $storage: { dtype: x.dtype, numel: x.numel } };
    else if (x instanceof PyGlobal || x instanceof PyCallable) out = { $global: x.qualname };
    else if (x instanceof Uint8Array) out = { $bytes: x.length };
    else if (x instanceof NpDType) out = { $dtype: x.name };
    else if (x instanceof NdArray)
      out = { $ndarray: { dtype: x.dtype?.name ?? null, shape: [...x.shape], values: x.values().map(go) } };
    else if (x instanceof PyTuple || x instanceof PySet) out = x.items.map(go);
    else if (Array.isArray(x)) out = x.map(go);
    else if (x instanceof Map || x instanceof PyObject) {
      const o: Record<string, unknown> = x instanceof PyObject ? { $object: x.qualname } : {};
      for (const [k, val] of x instanceof PyObject ? x.fields : x) {
        const key =
          typeof k === 'string' ? k : typeof k === 'object' && k !== null ? JSON.stringify(go(k)) : String(k);
        o[key] = go(val);
      }
      out = o;
    } else out = String(x);
    active.delete(x);
    done.set(x, out);
    return out;
  };
  return go(v);
}

function notesList(keys: string[], max = 5): string {
  const shown = keys.slice(0, max).map((k) => `'${k}'`);
  return keys.length > max ? `${shown.join(', ')} and ${keys.length - max} more` : shown.join(', ');
}

/** Reads a checkpoint held in memory; `where` names it in errors. */
export function parsePth(bytes: Uint8Array, where: string): PthFile {
  const raw = readCheckpointObject(bytes, where);
  const top = raw.object;
  if (!(top instanceof Map))
    throw new DetkdError(
      `${where}: the checkpoint holds ${describe(top)}, not a dict (a state dict or a wrapper of one)`,
    );
  let layout: PthFile['layout'] = 'plain';
  let sd: Map<unknown, unknown> = top;
  let meta: unknown = null;
  const hasTensors = [...top.values()].some((x) => x instanceof TensorRecord);
  if (top.get('state_dict') instanceof Map && !hasTensors) {
    layout = 'mmdet';
    sd = top.get('state_dict') as Map<unknown, unknown>;
    meta = top.has('meta') ? plainMeta(top.get('meta')) : null;
  } else if (top.get('model') instanceof Map && !hasTensors) {
    layout = 'model';
    sd = top.get('model') as Map<unknown, unknown>;
  }
  const section = layout === 'mmdet' ? "'state_dict'" : layout === 'model' ? "'model'" : 'the state dict';
  const notes: string[] = [];
  const ema: string[] = [];
  const prefixed: string[] = [];
  const skipped: string[] = [];
  const records = new Map<string, { rec: TensorRecord; original: string }>();
  for (const [k, v] of sd) {
    if (typeof k !== 'string')
      throw new DetkdError(`${where}: ${section} has a key ${describe(k)}, not a string`);
    if (!(v instanceof TensorRecord)) {
      skipped.push(`'${k}' (${describe(v)})`);
      continue;
    }
    if (k.startsWith('ema_')) {
      ema.push(k);
      continue;
    }
    let key = k;
    if (k.startsWith('module.')) {
      key = k.slice('module.'.length);
      prefixed.push(k);
    }
    const clash = records.get(key);
    if (clash)
      throw new DetkdError(`${where}: ${section}: '${k}' and '${clash.original}' both become '${key}'`);
    records.set(key, { rec: v, original: k });
  }
  if (prefixed.length > 0)
    notes.push(`removed the DDP prefix 'module.' from ${prefixed.length} keys (${notesList(prefixed)})`);
  if (ema.length > 0) notes.push(`set aside ${ema.length} 'ema_' keys (EMA copies: ${notesList(ema)})`);
  if (skipped.length > 0)
    notes.push(`ignored ${skipped.length} entries that are not tensors (${skipped.slice(0, 5).join(', ')})`);

  const limit = 16 * bytes.length + (1 << 20);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [key, { rec, original }] of records) {
      try {
        tensors.set(key, materialize(rec, limit));
      } catch (e) {
        if (e instanceof DetkdError) throw new DetkdError(`${where}: tensor '${original}': ${e.message}`);
        throw e;
      }
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, layout, meta, notes };
}
