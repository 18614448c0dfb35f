// Module: a tree of named parameters, buffers and child modules (torch.nn.Module's model).
//
// Registration is explicit and typed. A subclass assigns what the registration returns to a
// field of the same name, in the constructor or as a field initializer:
//
//   class Block extends Module {
//     readonly conv = this.register('conv', new Conv2d(3, 8, 3));
//     readonly scale: Tensor;
//     constructor() {
//       super();
//       this.scale = this.param('scale', ones([1]));
//     }
//   }
//
// Names are those PyTorch gives the same structure (`layer1.0.conv1.weight`), in registration
// order. Parameters and buffers are `keep`ed: they survive every `tidy` and are freed by
// `dispose()`. `to(device)` swaps each tensor for a moved one and rebinds the own fields that held
// the old tensor, so keep the field name equal to the registered name (or read tensors through
// `namedParameters()`); build optimizers after moving a model, as in PyTorch.
import { DetkdError } from '../core/errors.ts';
import { type Device, keep, noGrad, type Tensor, tidy } from '../core/tensor.ts';

/** Parameters and persistent buffers by dotted name, in registration order. */
export type StateDict = Map<string, Tensor>;

export interface LoadStateDictOptions {
  /** Missing or unexpected keys are errors (default true). Shape/dtype mismatches always are. */
  strict?: boolean;
  /** Load only keys under this prefix (e.g. 'backbone.'), with the prefix stripped. */
  prefix?: string;
}

export interface LoadStateDictResult {
  /** Model keys the state dict did not have. */
  missing: string[];
  /** State dict keys (after the prefix filter) the model does not have. */
  unexpected: string[];
}

const NAME_RE = /^[A-Za-z0-9_]+$/;

function fmtShape(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

export abstract class Module {
  /** Training mode (train()/eval()); layers like BatchNorm2d read it. */
  training = true;
  private readonly _params = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, { t: Tensor; persistent: boolean }>();
  private readonly _children = new Map<string, Module>();

  // --- registration -------------------------------------------------------------------------

  private checkName(name: string): void {
    if (!NAME_RE.test(name)) throw new TypeError(`module: invalid name '${name}' (letters, digits, _)`);
    if (this._params.has(name) || this._buffers.has(name) || this._children.has(name)) {
      throw new TypeError(`module: '${name}' is already registered on ${this.constructor.name}`);
    }
  }

  /** Registers a trainable parameter (kept, requiresGrad on) and returns it. */
  protected param(name: string, t: Tensor): Tensor {
    this.checkName(name);
    keep(t);
    if (!t.requiresGrad) t.requiresGrad_(true);
    this._params.set(name, t);
    return t;
  }

  /**
   * Registers a buffer (kept, no gradient). Persistent buffers go into the state dict, like
   * BatchNorm's running statistics.
   */
  protected buffer(name: string, t: Tensor, opts: { persistent?: boolean } = {}): Tensor {
    this.checkName(name);
    keep(t);
    this._buffers.set(name, { t, persistent: opts.persistent ?? true });
    return t;
  }

  /** Registers a child module and returns it. */
  register<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    if (Object.is(m, this)) throw new TypeError('module: cannot register a module as its own child');
    this._children.set(name, m);
    return m;
  }

  /**
   * Local state-dict keys this module drops silently when loading (FrozenBatchNorm2d ignores
   * `num_batches_tracked`, as torchvision's does).
   */
  protected ignoredStateKeys(): readonly string[] {
    return [];
  }

  // --- traversal ----------------------------------------------------------------------------

  /** [name, child] for direct children, in registration order. */
  namedChildren(): [string, Module][] {
    return [...this._children.entries()];
  }

  children(): Module[] {
    return [...this._children.values()];
  }

  /** [dotted name, module] for this module ('' or prefix) and every descendant, depth first. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [];
    const seen = new Set<Module>();
    const walk = (m: Module, p: string): void => {
      if (seen.has(m)) return;
      seen.add(m);
      out.push([p, m]);
      for (const [n, c] of m._children) walk(c, p === '' ? n : `${p}.${n}`);
    };
    walk(this, prefix);
    return out;
  }

  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** [dotted name, parameter] in registration order, each tensor once (like PyTorch). */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [p, m] of this.namedModules()) {
      for (const [n, t] of m._params) {
        if (seen.has(t)) continue;
        seen.add(t);
        out.push([p === '' ? n : `${p}.${n}`, t]);
      }
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters with requiresGrad on: what an optimizer should get. */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((t) => t.requiresGrad);
  }

  /** [dotted name, buffer] for every buffer, persistent or not. */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [p, m] of this.namedModules()) {
      for (const [n, b] of m._buffers) out.push([p === '' ? n : `${p}.${n}`, b.t]);
    }
    return out;
  }

  buffers(): Tensor[] {
    return this.namedBuffers().map(([, t]) => t);
  }

  /** Total number of parameter elements. */
  numParameters(onlyTrainable = false): number {
    return (onlyTrainable ? this.trainableParameters() : this.parameters()).reduce((s, t) => s + t.numel, 0);
  }

  /** Calls fn on every module, children first then this one (torch's Module.apply). */
  apply(fn: (m: Module) => void): this {
    for (const c of this._children.values()) c.apply(fn);
    fn(this);
    return this;
  }

  // --- modes --------------------------------------------------------------------------------

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Turns gradients on or off for every parameter of this subtree (freezing). */
  requiresGrad_(flag = true): this {
    for (const t of this.parameters()) t.requiresGrad_(flag);
    return this;
  }

  /** Drops every parameter's gradient (sets it to null, as PyTorch's set_to_none). */
  zeroGrad(): void {
    for (const t of this.parameters()) if (t.requiresGrad) t.grad = null;
  }

  // --- state dict ---------------------------------------------------------------------------

  /** Parameters and persistent buffers; the tensors are the live ones (not detached copies). */
  private liveState(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [p, m] of this.namedModules()) {
      const full = (n: string): string => (p === '' ? n : `${p}.${n}`);
      for (const [n, t] of m._params) out.set(full(n), t);
      for (const [n, b] of m._buffers) if (b.persistent) out.set(full(n), b.t);
    }
    return out;
  }

  private ignoredKeys(): Set<string> {
    const out = new Set<string>();
    for (const [p, m] of this.namedModules()) {
      for (const n of m.ignoredStateKeys()) out.add(p === '' ? n : `${p}.${n}`);
    }
    return out;
  }

  /**
   * Parameters and persistent buffers by dotted name (BatchNorm's `running_mean`, `running_var`,
   * `num_batches_tracked` included), as detached views sharing storage with the module: the
   * caller owns these handles (free them with `dispose` or a `tidy`), the module's tensors stay.
   */
  stateDict(): StateDict {
    const out: StateDict = new Map();
    for (const [k, t] of this.liveState()) out.set(k, t.detach());
    return out;
  }

  /**
   * Copies values from `sd` into this module's tensors, in place under no-grad (optimizers keep
   * valid references). Every problem is collected first and reported together in one DetkdError;
   * nothing is copied when there is one. Shape or dtype mismatches are always errors; missing and
   * unexpected keys only with `strict` (the default), otherwise they are returned.
   *
   *   model.backbone.loadStateDict(detectorSd, { prefix: 'backbone.' });
   */
  loadStateDict(
    sd: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
    opts: LoadStateDictOptions = {},
  ): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const prefix = opts.prefix ?? '';
    const entries: [string, Tensor][] = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
    const given = new Map<string, Tensor>();
    for (const [k, t] of entries) {
      if (!k.startsWith(prefix)) continue;
      given.set(k.slice(prefix.length), t);
    }
    const live = this.liveState();
    const ignored = this.ignoredKeys();
    const missing: string[] = [];
    const unexpected: string[] = [];
    const problems: string[] = [];
    const copies: [Tensor, Tensor][] = [];
    for (const [k, dst] of live) {
      const src = given.get(k);
      if (src === undefined) {
        missing.push(k);
        continue;
      }
      const ds = dst.shape;
      const ss = src.shape;
      if (!sameShape(ds, ss)) {
        problems.push(`size mismatch for '${prefix}${k}': checkpoint ${fmtShape(ss)}, model ${fmtShape(ds)}`);
      } else if (dst.dtype !== src.dtype) {
        problems.push(
          `dtype mismatch for '${prefix}${k}': checkpoint ${src.dtype} ${fmtShape(ss)}, model ${dst.dtype} ${fmtShape(ds)}`,
        );
      } else {
        copies.push([dst, src]);
      }
    }
    for (const k of given.keys()) if (!live.has(k) && !ignored.has(k)) unexpected.push(k);
    if (strict) {
      for (const k of missing) {
        const t = live.get(k);
        const what = t === undefined ? '' : ` (model ${t.dtype} ${fmtShape(t.shape)})`;
        problems.push(`missing key '${prefix}${k}'${what}`);
      }
      for (const k of unexpected) {
        const t = given.get(k);
        const what = t === undefined ? '' : ` (checkpoint ${t.dtype} ${fmtShape(t.shape)})`;
        problems.push(`unexpected key '${prefix}${k}'${what}`);
      }
    }
    if (problems.length > 0) {
      throw new DetkdError(
        `loadStateDict into ${this.constructor.name}: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`,
      );
    }
    noGrad(() => {
      for (const [dst, src] of copies) dst.copy_(src);
    });
    return { missing, unexpected };
  }

  // --- devices and memory -------------------------------------------------------------------

  /**
   * Moves every parameter and buffer to `device`, in place on this module tree: each registered
   * tensor is replaced and own fields that pointed at the old tensor are rebound to the new one.
   * Optimizers built before the move keep the old tensors; build them after.
   */
  to(device: Device): this {
    for (const [, m] of this.namedModules()) m.moveOwn(device);
    return this;
  }

  private moveOwn(device: Device): void {
    const swap = (old: Tensor): Tensor => {
      if (old.device === device) return old;
      const moved = keep(noGrad(() => tidy(() => old.to(device))));
      if (old.requiresGrad) moved.requiresGrad_(true);
      for (const k of Reflect.ownKeys(this)) {
        const v: unknown = Reflect.get(this, k);
        if (v === old) Reflect.set(this, k, moved);
      }
      old.dispose();
      return moved;
    };
    for (const [n, t] of this._params) this._params.set(n, swap(t));
    for (const [n, b] of this._buffers) this._buffers.set(n, { t: swap(b.t), persistent: b.persistent });
  }

  /** Frees every parameter and buffer of the tree. The module is unusable afterwards. */
  dispose(): void {
    for (const [, m] of this.namedModules()) {
      for (const t of m._params.values()) t.dispose();
      for (const b of m._buffers.values()) b.t.dispose();
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A module that maps one tensor to one tensor (what Sequential chains). */
export type Layer = Module & { forward(x: Tensor): Tensor };
