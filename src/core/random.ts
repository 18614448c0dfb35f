// Random number generators: the global default (manualSeed) and explicit seeded generators.
import { type GeneratorHandle, native } from './native.ts';
import { Tensor } from './tensor.ts';

/** A seeded generator, passed to rand/randn/randint/randperm/dropout-like ops. */
export class Generator {
  readonly h: GeneratorHandle;
  constructor(seed: number | bigint, device = 'cpu') {
    this.h = native.newGenerator(seed, device);
  }
  get seed(): number {
    return native.generatorSeed(this.h);
  }
  /** The full state as a uint8 tensor (save it to resume exactly). */
  getState(): Tensor {
    return new Tensor(native.generatorGetState(this.h));
  }
  setState(state: Tensor): void {
    native.generatorSetState(this.h, state.h);
  }
}

/** Seeds the global CPU (and CUDA) generators. */
export function manualSeed(seed: number | bigint): void {
  native.manualSeed(seed);
}

/** The global CPU generator's state as a uint8 tensor. */
export function getRngState(): Tensor {
  return new Tensor(native.generatorGetState(null));
}

export function setRngState(state: Tensor): void {
  native.generatorSetState(null, state.h);
}

/**
 * Deterministic mode: ATen uses deterministic algorithms only (and errors on ops that have none).
 * With a fixed seed and thread count, two runs then give bit-identical weights.
 */
export function setDeterministic(flag: boolean): void {
  native.setDeterministic(flag);
}
