// Tensor <-> safetensors RawTensor, and state dicts <-> safetensors files.
// Bytes are copied as they are (no float conversion), so float16/bfloat16 bit patterns, -0, NaN
// payloads, bool and int64 round-trip exactly.
import { dtypeCode, isDType } from './dtype.ts';
import { DetkdError } from './errors.ts';
import { native } from './native.ts';
import {
  engineToSafeDType,
  type RawTensor,
  readSafetensorsFile,
  safeDTypeToEngine,
  writeSafetensorsFile,
} from './safetensors.ts';
import { type Device, Tensor } from './tensor.ts';

/** A tensor's row-major bytes on the host (copied; works for any device and layout). */
export function tensorToRaw(t: Tensor): RawTensor {
  return { dtype: engineToSafeDType(t.dtype), shape: t.shape, data: new Uint8Array(native.toBuffer(t.h)) };
}

/** A new tensor holding a copy of raw's bytes, optionally on a device. */
export function rawToTensor(raw: RawTensor, opts: { device?: Device } = {}): Tensor {
  const d = safeDTypeToEngine(raw.dtype);
  if (!isDType(d)) throw new DetkdError(`safetensors dtype ${raw.dtype} has no engine dtype`);
  return new Tensor(native.fromBuffer(raw.data, dtypeCode(d), raw.shape, opts.device));
}

/**
 * Writes tensors (e.g. `model.stateDict()`) and string metadata to a safetensors file
 * (atomically). Errors name the file and the key.
 */
export function saveStateDict(
  path: string,
  sd: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  metadata: Record<string, string> = {},
): void {
  const entries: [string, Tensor][] = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
  const raw: Record<string, RawTensor> = {};
  for (const [k, t] of entries) {
    if (Object.hasOwn(raw, k)) throw new DetkdError(`${path}: duplicate key '${k}'`);
    try {
      raw[k] = tensorToRaw(t);
    } catch (e) {
      throw new DetkdError(`${path}: cannot serialise '${k}' (${(e as Error).message})`);
    }
  }
  writeSafetensorsFile(path, raw, metadata);
}

/**
 * Reads a safetensors file into tensors (new, owned by the caller's scope) by name, in the
 * file's header order, plus its metadata.
 */
export function loadStateDictFile(
  path: string,
  opts: { device?: Device } = {},
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const contents = readSafetensorsFile(path);
  const tensors = new Map<string, Tensor>();
  try {
    for (const [k, raw] of Object.entries(contents.tensors)) {
      try {
        tensors.set(k, rawToTensor(raw, opts));
      } catch (e) {
        throw new DetkdError(`${path}: tensor '${k}': ${(e as Error).message}`);
      }
    }
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata: contents.metadata };
}
