// Oracle fixtures and bitwise comparisons, for every test that checks detkd against a PyTorch (or
// other reference) fixture written by scripts/fixtures/*.py. It lives under test/ so that it is
// never built into dist/; tests under src/ import it by relative path.
//
// Loading: `loadOracle('nn')` reads test/fixtures/nn/oracle.safetensors once per process, with
// every tensor kept (no tidy frees it). Comparing: `compareBits` is the one comparison, bitwise
// by default (any NaN equals any NaN, -0 differs from 0) or within a `Tolerance`; `assertBits`
// and `assertClose` wrap it for node:assert.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { type DType, itemSize } from '../../src/core/dtype.ts';
import { native } from '../../src/core/native.ts';
import {
  type RawTensor,
  readSafetensorsFile,
  type SafetensorsContents,
  safeDTypeToEngine,
} from '../../src/core/safetensors.ts';
import { loadStateDictFile, tensorToRaw } from '../../src/core/serialize.ts';
import type { Tensor } from '../../src/core/tensor.ts';
import type { LrScheduleSpec } from '../../src/nn/optim/lr-schedule.ts';

/** test/fixtures, where the oracle scripts write. */
export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');

/** A path under test/fixtures; an absolute path is taken as is. */
export function fixturePath(path: string): string {
  return isAbsolute(path) ? path : join(FIXTURES, path);
}

/** A JSON fixture (a path under test/fixtures, or absolute), parsed. */
export function readJsonFixture<T>(path: string): T {
  return JSON.parse(readFileSync(fixturePath(path), 'utf8')) as T;
}

/** A safetensors fixture's raw bytes, for comparisons that must not go through a Tensor. */
export function readRawFixture(path: string): SafetensorsContents {
  return readSafetensorsFile(fixturePath(path));
}

export interface OracleFixture {
  /** Every tensor of the fixture, kept for the whole test process. */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** The safetensors metadata (string values, JSON where the oracle wrote JSON). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The tensor `name`; throws when the fixture has none. */
  get(name: string): Tensor;
  /** The tensor `name`, or undefined (for optional inputs). */
  find(name: string): Tensor | undefined;
  has(name: string): boolean;
  /** Every tensor whose name starts with prefix, keyed by the rest of its name. */
  prefixed(prefix: string): Map<string, Tensor>;
  /** `metadata[key]` parsed as JSON; throws when the key is missing. */
  json<T>(key: string): T;
  /** `metadata.cases` parsed as JSON: case name -> its parameters. */
  cases<T>(): Record<string, T>;
}

const loaded = new Map<string, OracleFixture>();

/**
 * The oracle tensors of `where`: a folder under test/fixtures (its oracle.safetensors, e.g.
 * 'distill-logit') or a .safetensors file (under test/fixtures, or absolute). Loaded once per
 * process; the tensors are kept.
 */
export function loadOracle(where: string): OracleFixture {
  const file = fixturePath(where.endsWith('.safetensors') ? where : join(where, 'oracle.safetensors'));
  const cached = loaded.get(file);
  if (cached) return cached;
  const { tensors, metadata } = loadStateDictFile(file);
  for (const t of tensors.values()) t.kept = true;
  const json = <T>(key: string): T => {
    const s = metadata[key];
    if (s === undefined) throw new Error(`fixture ${where} has no metadata '${key}'`);
    return JSON.parse(s) as T;
  };
  const oracle: OracleFixture = {
    tensors,
    metadata,
    get(name) {
      const t = tensors.get(name);
      if (!t) throw new Error(`fixture ${where} has no tensor '${name}'`);
      return t;
    },
    find: (name) => tensors.get(name),
    has: (name) => tensors.has(name),
    prefixed(prefix) {
      const out = new Map<string, Tensor>();
      for (const [k, t] of tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
      return out;
    },
    json,
    cases: <T>() => json<Record<string, T>>('cases'),
  };
  loaded.set(file, oracle);
  return oracle;
}

// --- comparisons ---------------------------------------------------------------------------------

function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function bf16ToNumber(h: number): number {
  const b = new DataView(new ArrayBuffer(4));
  b.setUint32(0, h << 16, true);
  return b.getFloat32(0, true);
}

/** Element k of a row-major little-endian buffer as a number (int64 via BigInt). */
function elementAt(d: DType, v: DataView, k: number): number {
  switch (d) {
    case 'float32':
      return v.getFloat32(4 * k, true);
    case 'float64':
      return v.getFloat64(8 * k, true);
    case 'float16':
      return f16ToNumber(v.getUint16(2 * k, true));
    case 'bfloat16':
      return bf16ToNumber(v.getUint16(2 * k, true));
    case 'int64':
      return Number(v.getBigInt64(8 * k, true));
    case 'int32':
      return v.getInt32(4 * k, true);
    case 'int16':
      return v.getInt16(2 * k, true);
    case 'int8':
      return v.getInt8(k);
    case 'uint8':
    case 'bool':
      return v.getUint8(k);
  }
}

/**
 * |got - want| <= atol + atolOfMax * max|want| + rtol * |want| elementwise. atolOfMax scales with
 * the tensor: a sum that cancels to near zero carries rounding error of the size of its terms,
 * not its result.
 */
export interface Tolerance {
  rtol: number;
  atol?: number;
  atolOfMax?: number;
}

/**
 * Compares a detkd tensor with an expected tensor (a Tensor or a fixture's raw bytes). Without a
 * tolerance: same dtype, shape and bits, except that any NaN equals any NaN. Returns null when
 * equal, else a description: how many elements differ, the first, and the worst relative error.
 */
export function compareBits(
  got: Tensor,
  want: Tensor | RawTensor,
  tol: Tolerance | null = null,
): string | null {
  const w = 'h' in want ? tensorToRaw(want) : want;
  const wd = safeDTypeToEngine(w.dtype);
  if (got.dtype !== wd) return `dtype ${got.dtype}, expected ${wd}`;
  const gs = got.shape;
  if (gs.length !== w.shape.length || gs.some((s, k) => s !== w.shape[k]))
    return `shape [${gs.join(', ')}], expected [${w.shape.join(', ')}]`;
  const gb = new Uint8Array(native.toBuffer(got.h));
  const wb = w.data;
  if (gb.byteLength !== wb.byteLength) return `byte length ${gb.byteLength} != ${wb.byteLength}`;
  const size = itemSize(wd);
  const gv = new DataView(gb.buffer, gb.byteOffset, gb.byteLength);
  const wv = new DataView(wb.buffer, wb.byteOffset, wb.byteLength);
  const n = gb.byteLength / size;
  let atol = 0;
  if (tol !== null) {
    let maxAbs = 0;
    if (tol.atolOfMax !== undefined) {
      for (let k = 0; k < n; k++) {
        const a = Math.abs(elementAt(wd, wv, k));
        if (Number.isFinite(a) && a > maxAbs) maxAbs = a;
      }
    }
    atol = (tol.atol ?? 0) + (tol.atolOfMax ?? 0) * maxAbs;
  }
  let bad = 0;
  let first = '';
  let worst = 0;
  for (let k = 0; k < n; k++) {
    let same = true;
    for (let b = 0; b < size; b++) {
      if (gb[k * size + b] !== wb[k * size + b]) {
        same = false;
        break;
      }
    }
    if (same) continue;
    const g = elementAt(wd, gv, k);
    const e = elementAt(wd, wv, k);
    if (Number.isNaN(g) && Number.isNaN(e)) continue;
    if (tol !== null && Math.abs(g - e) <= atol + tol.rtol * Math.abs(e)) continue;
    if (tol !== null && g === e) continue; // +-inf equal, or -0 vs 0 under a tolerance
    bad++;
    const rel = Math.abs(g - e) / Math.max(Math.abs(e), Number.MIN_VALUE);
    if (rel > worst || first === '') worst = Math.max(worst, rel);
    if (first === '') first = `element ${k}: got ${g}, expected ${e}`;
  }
  if (bad === 0) return null;
  return `${bad}/${n} elements differ (${first}; worst relative ${worst.toExponential(2)})`;
}

/**
 * The OpenBLAS kernel set the committed fixtures were verified bit-identical against. GEMM-based
 * ops (matmul, linear, convolutions) block and vectorise their sums per kernel set, so on another
 * one (another CPU, or OPENBLAS_CORETYPE forcing e.g. Haswell on a machine that would pick
 * Cooperlake) their float results differ in the last bits; everything else stays bitwise.
 */
export const FIXTURE_BLAS_CORE = 'Cooperlake';

/** The OpenBLAS kernel set this process runs ("" for a BLAS other than OpenBLAS). */
export function blasCore(): string {
  return native.version().blasCore;
}

/**
 * The tolerance for a fixture comparison of a GEMM-based result: null (bitwise) when this process
 * runs the fixtures' kernel set, else a few float32 ULPs of the tensor's scale. Measured on
 * Haswell kernels against the Cooperlake fixtures: at most 6e-7 of max|want| (FPN gradients).
 */
export function gemmTolerance(): Tolerance | null {
  return blasCore() === FIXTURE_BLAS_CORE ? null : { rtol: 1e-5, atolOfMax: 1e-5 };
}

/**
 * A fixture comparison of a GEMM-based result: bitwise on the fixtures' kernel set, within
 * `gemmTolerance()` on another (the message says which).
 */
export function assertGemmOracle(got: Tensor, want: Tensor | RawTensor, what: string): void {
  const tol = gemmTolerance();
  const e = compareBits(got, want, tol);
  if (e !== null)
    assert.fail(
      `${what}: ${e}${tol === null ? '' : ` (BLAS kernels ${blasCore()}, fixtures ${FIXTURE_BLAS_CORE}: within ${JSON.stringify(tol)})`}`,
    );
}

/** Same dtype, shape and bits (0 ULP; -0 differs from 0; any NaN equals any NaN). */
export function assertBits(got: Tensor, want: Tensor | RawTensor, what: string): void {
  const e = compareBits(got, want);
  if (e !== null) assert.fail(`${what}: ${e}`);
}

/** Same dtype and shape, |got - want| <= rtol * |want| + atol elementwise. */
export function assertClose(
  got: Tensor,
  want: Tensor | RawTensor,
  what: string,
  rtol = 1e-6,
  atol = 0,
): void {
  const e = compareBits(got, want, { rtol, atol });
  if (e !== null) assert.fail(`${what}: ${e}`);
}

// --- what the oracle scripts write, beside their tensors ----------------------------------------

/** test/fixtures/nn/oracle.json (scripts/fixtures/nn_oracle.py). */
export interface NnOracleJson {
  init: { gain_leaky_sqrt5: number; gain_tanh: number; bias_prob: Record<string, number> };
  schedules: Record<
    string,
    {
      spec: LrScheduleSpec;
      itersPerEpoch: number;
      epochs: number;
      base: number[];
      lrs: number[][];
    }
  >;
}

export interface FpnConfigJson {
  start_level: number;
  num_outs: number;
  add_extra_convs: false | 'on_input' | 'on_lateral' | 'on_output';
  relu_before_extra_convs: boolean;
  norm: boolean;
  params: string[];
  out_shapes: number[][];
}

/** test/fixtures/detection-models/oracle.json (scripts/fixtures/detection_models_oracle.py). */
export interface DetectionOracleJson {
  resnet18_keys: [string, number[]][];
  resnet50_keys: [string, number[]][];
  resnet18_seed: number;
  resnet18_checksums: Record<string, number>;
  fpn: {
    in_channels: number[];
    out_channels: number;
    gn_groups: number;
    configs: Record<string, FpnConfigJson>;
  };
  priors: {
    feat_sizes: [number, number][];
    pad_feat_sizes: [number, number][];
    image_shape: [number, number];
    anchors: Record<
      string,
      {
        strides: number[];
        ratios: number[];
        scales?: number[];
        octave_base_scale?: number;
        scales_per_octave?: number;
        base_sizes?: number[];
        scale_major?: boolean;
        center_offset?: number;
      }
    >;
  };
  coders: {
    delta_means: [number, number, number, number];
    delta_stds: [number, number, number, number];
    max_shape: [number, number];
  };
}
