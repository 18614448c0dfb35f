// Sequential and ModuleList: children named '0', '1', ... as in PyTorch, so state dicts match.
import type { Tensor } from '../core/tensor.ts';
import { type Layer, Module } from './module.ts';

/** Applies its layers in order: x -> l0 -> l1 -> ... */
export class Sequential extends Module {
  private readonly layers: Layer[] = [];
  constructor(...layers: Layer[]) {
    super();
    for (const l of layers) this.push(l);
  }
  push(l: Layer): this {
    this.register(String(this.layers.length), l);
    this.layers.push(l);
    return this;
  }
  get length(): number {
    return this.layers.length;
  }
  at(i: number): Layer {
    const l = this.layers.at(i);
    if (l === undefined) throw new RangeError(`Sequential.at(${i}): ${this.layers.length} layers`);
    return l;
  }
  [Symbol.iterator](): Iterator<Layer> {
    return this.layers[Symbol.iterator]();
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const l of this.layers) y = l.forward(y);
    return y;
  }
}

/** An indexed list of modules of one type, e.g. one head branch per FPN level. */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];
  constructor(items: Iterable<M> = []) {
    super();
    for (const m of items) this.push(m);
  }
  push(m: M): this {
    this.register(String(this.items.length), m);
    this.items.push(m);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items.at(i);
    if (m === undefined) throw new RangeError(`ModuleList.at(${i}): ${this.items.length} modules`);
    return m;
  }
  map<T>(fn: (m: M, i: number) => T): T[] {
    return this.items.map(fn);
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
