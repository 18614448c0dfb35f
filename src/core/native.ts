// Loads the addon and declares its surface. Everything above this file goes through `native`.
// The OpenMP wait policy must be in the environment before libgomp loads with the addon.
import './omp-policy.ts';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque owner of one at::Tensor (a native object; free it with native.dispose). */
export interface TensorHandle {
  readonly __brand: 'TensorHandle';
}

/** An opaque at::Generator. */
export interface GeneratorHandle {
  readonly __brand: 'GeneratorHandle';
}

export type NativeArg =
  | TensorHandle
  | GeneratorHandle
  | null
  | undefined
  | number
  | boolean
  | string
  | readonly NativeArg[];

export interface AllocatorStats {
  kind: 'caching' | 'system';
  inUseBytes?: number;
  cachedBytes?: number;
  mappedBytes?: number;
  limitBytes?: number;
  hits?: number;
  misses?: number;
}

export interface NativeBinding {
  callTensor(id: number, ...args: NativeArg[]): TensorHandle;
  callTensors(id: number, ...args: NativeArg[]): TensorHandle[];
  callVoid(id: number, ...args: NativeArg[]): void;
  callValue(id: number, ...args: NativeArg[]): number | boolean;
  callAsync(
    id: number,
    ...args: NativeArg[]
  ): Promise<TensorHandle | TensorHandle[] | number | boolean | undefined>;
  opTable(): { name: string; ready: boolean; error?: string }[];
  dispose(h: TensorHandle): void;
  isDisposed(h: TensorHandle): boolean;
  fromBuffer(
    data: ArrayBufferView | ArrayBuffer,
    dtype: number,
    shape: readonly number[],
    device?: string,
  ): TensorHandle;
  toBuffer(h: TensorHandle): ArrayBuffer;
  shape(h: TensorHandle): number[];
  strides(h: TensorHandle): number[];
  meta(h: TensorHandle): [number, string, number, number, boolean, boolean, boolean];
  dtype(h: TensorHandle): number;
  numel(h: TensorHandle): number;
  storageKey(h: TensorHandle): number | null;
  setRequiresGrad(h: TensorHandle, flag: boolean): void;
  grad(h: TensorHandle): TensorHandle | null;
  setGrad(h: TensorHandle, g: TensorHandle | null): void;
  retainGrad(h: TensorHandle): void;
  backward(h: TensorHandle, grad: TensorHandle | null, retainGraph: boolean, createGraph: boolean): void;
  setGradEnabled(flag: boolean): boolean;
  isGradEnabled(): boolean;
  setNumThreads(n: number): void;
  getNumThreads(): { intraOp: number; interOp: number; blas: number };
  setInteropThreads(n: number): void;
  manualSeed(seed: number | bigint): void;
  newGenerator(seed: number | bigint, device?: string): GeneratorHandle;
  generatorGetState(g: GeneratorHandle | null): TensorHandle;
  generatorSetState(g: GeneratorHandle | null, state: TensorHandle): void;
  generatorSeed(g: GeneratorHandle | null): number;
  setDeterministic(flag: boolean): void;
  cudaInfo(): { available: boolean; deviceCount: number };
  cudaSynchronize(device?: number): void;
  version(): { torch: string; config: string; parallel: string; blasCore: string };
  batchedNms(
    boxes: TensorHandle,
    scores: TensorHandle,
    idxs: TensorHandle,
    iouThreshold: number,
  ): TensorHandle;
  allocatorStats(): AllocatorStats;
  emptyCache(): void;
  setCacheLimit(bytes: number): void;
  liveHandles(): { handles: number; storages: number; bytes: number };
}

function findAddon(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'native', 'build', 'Release', 'detkd_native.node');
    if (existsSync(p)) return p;
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) {
      throw new Error(`detkd: the native addon is not built (${p} is missing). Run 'make build' in ${dir}.`);
    }
    dir = dirname(dir);
  }
  throw new Error("detkd: the native addon is not built; run 'make build' in the detkd checkout");
}

const require = createRequire(import.meta.url);
export const native: NativeBinding = require(findAddon());

/** The thread budget: DETKD_NUM_THREADS, else the machine's cores (libtorch defaults to 1 here). */
export function defaultThreads(): number {
  const env = process.env.DETKD_NUM_THREADS;
  if (env !== undefined && /^\d+$/.test(env) && Number(env) > 0) return Number(env);
  return availableParallelism();
}

native.setInteropThreads(1);
native.setNumThreads(defaultThreads());
