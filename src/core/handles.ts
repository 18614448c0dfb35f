// Native handles to and from Tensors, for the generated ops (ops.generated.ts).
//
// tensor.ts imports the generated ops at run time, so the ops must not import tensor.ts back:
// this module holds the handle->Tensor constructor, which tensor.ts registers when it loads, and
// imports Tensor only as a type.

import type { GeneratorHandle, TensorHandle } from './native.ts';
import type { Generator } from './random.ts';
import type { Tensor } from './tensor.ts';

let TensorClass: (new (h: TensorHandle) => Tensor) | null = null;

/** Called once by tensor.ts with its Tensor class. */
export function registerTensorClass(cls: new (h: TensorHandle) => Tensor): void {
  TensorClass = cls;
}

export function wrap(h: TensorHandle): Tensor {
  if (TensorClass === null) throw new Error('core/handles.ts: an op ran before core/tensor.ts was loaded');
  return new TensorClass(h);
}
export function wrapAll(hs: TensorHandle[]): Tensor[] {
  return hs.map(wrap);
}
export function oh(t: Tensor | null): TensorHandle | null {
  return t === null ? null : t.h;
}
export function hs(ts: readonly Tensor[]): TensorHandle[] {
  return ts.map((t) => t.h);
}
export function ohs(ts: readonly (Tensor | null)[]): (TensorHandle | null)[] {
  return ts.map((t) => (t === null ? null : t.h));
}
export function ogen(g: Generator | null): GeneratorHandle | null {
  return g === null ? null : g.h;
}
