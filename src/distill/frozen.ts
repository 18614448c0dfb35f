// The teacher, frozen by type (docs/architecture.md, the distillation seam). `Frozen<M>` is not
// a Module: nothing that walks a module tree (the optimizer's parameter groups, state dicts,
// `train()` called by the trainer on the distiller) can reach the teacher through it. Every use
// goes through `run`, which puts the model back in eval mode (norms use running statistics; LAD
// re-calls teacher_eval() each step for the same reason) and runs under no-grad. No-grad, not
// inference mode: the student's backward may save teacher tensors (e.g. as KL targets).
import { noGrad } from '../core/tensor.ts';
import type { Module } from '../nn/module.ts';

export class Frozen<M extends Module> {
  readonly #model: M;

  /** Takes ownership of `model`: its parameters stop requiring gradients and it goes to eval mode. */
  constructor(model: M) {
    model.requiresGrad_(false);
    model.eval();
    this.#model = model;
  }

  /** Runs `fn` on the model in eval mode under no-grad. `fn` must be synchronous. */
  run<R>(fn: (model: M) => R): R {
    const m = this.#model;
    if (m.training) m.eval();
    return noGrad(() => fn(m));
  }

  /** Read-only facts about the model (its config, channel counts) without running it. */
  peek<R>(fn: (model: M) => R): R {
    return fn(this.#model);
  }

  /** Number of parameters (none of them trainable). */
  numParameters(): number {
    return this.#model.numParameters();
  }

  to(device: string): this {
    this.#model.to(device);
    return this;
  }

  dispose(): void {
    this.#model.dispose();
  }
}
