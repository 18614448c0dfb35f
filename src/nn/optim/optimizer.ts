// Optimizer base: parameter groups with their own hyper-parameters, per-parameter state tensors
// (kept; freed by dispose) and a state dict split into tensors + JSON for checkpoints.
import { DetkdError } from '../../core/errors.ts';
import { keep, noGrad, Tensor, tidy } from '../../core/tensor.ts';

/** Hyper-parameters every optimizer group has; schedules set `lr` from `initialLr`. */
export interface BaseHyper {
  lr: number;
  weightDecay: number;
}

type JsonValue = number | boolean | readonly number[];

/** One group: its tensors, its hyper-parameters, and the lr schedules start from. */
export type ParamGroup<H extends BaseHyper> = H & { params: Tensor[]; initialLr: number };

/** A group as the caller gives it: params plus overrides of the optimizer's defaults. */
export type GroupSpec<H extends BaseHyper> = { params: readonly Tensor[] } & Partial<H>;

/**
 * What a checkpoint stores: `tensors` named `state.<index>.<name>` (index counts parameters
 * across groups in order, as PyTorch's state_dict does) and a JSON-able `meta`.
 * The tensors are detached views the caller owns (dispose them, or take them inside a tidy).
 */
export interface OptimizerStateDict {
  tensors: Map<string, Tensor>;
  meta: {
    kind: string;
    groups: (Record<string, JsonValue> & { params: number[]; initialLr: number })[];
    /** Per-parameter step counts by index (AdamW). */
    steps: Record<string, number>;
  };
}

function isTensorList<H extends BaseHyper>(
  x: readonly Tensor[] | readonly GroupSpec<H>[],
): x is readonly Tensor[] {
  return x.length === 0 || x[0] instanceof Tensor;
}

export abstract class Optimizer<H extends BaseHyper> {
  abstract readonly kind: string;
  readonly paramGroups: ParamGroup<H>[] = [];
  /** Per-parameter state tensors (kept) by name, e.g. 'momentum_buffer', 'exp_avg'. */
  protected readonly state = new Map<Tensor, Map<string, Tensor>>();
  /** Per-parameter step counts. */
  protected readonly steps = new Map<Tensor, number>();

  constructor(params: readonly Tensor[] | readonly GroupSpec<H>[], defaults: H) {
    const one: GroupSpec<H>[] = [];
    if (isTensorList(params)) one.push({ params } as GroupSpec<H>);
    const specs: readonly GroupSpec<H>[] = isTensorList(params) ? one : params;
    const seen = new Set<Tensor>();
    for (const s of specs) {
      const { params: ps, ...over } = s;
      for (const p of ps) {
        if (seen.has(p)) throw new TypeError(`${this.constructor.name}: a parameter appears in two groups`);
        seen.add(p);
      }
      const g = { ...defaults, ...stripUndefined(over), params: [...ps] } as ParamGroup<H>;
      g.initialLr = g.lr;
      this.paramGroups.push(g);
    }
  }

  /** One update of every parameter that has a gradient. */
  abstract step(): void;

  /** Sets every parameter's gradient to null. */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = null;
  }

  /** Every parameter, group by group. */
  params(): Tensor[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  protected getState(p: Tensor, name: string): Tensor | undefined {
    return this.state.get(p)?.get(name);
  }

  /** Stores a state tensor (kept) for p, freeing what was there. */
  protected setState(p: Tensor, name: string, t: Tensor): Tensor {
    let m = this.state.get(p);
    if (m === undefined) {
      m = new Map();
      this.state.set(p, m);
    }
    const old = m.get(name);
    if (old !== undefined && old !== t) old.dispose();
    m.set(name, keep(t));
    return t;
  }

  stateDict(): OptimizerStateDict {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    const groups: OptimizerStateDict['meta']['groups'] = [];
    let idx = 0;
    for (const g of this.paramGroups) {
      const indices: number[] = [];
      for (const p of g.params) {
        const st = this.state.get(p);
        if (st !== undefined) for (const [n, t] of st) tensors.set(`state.${idx}.${n}`, t.detach());
        const s = this.steps.get(p);
        if (s !== undefined) steps[String(idx)] = s;
        indices.push(idx++);
      }
      const { params: _ps, ...hyper } = g;
      const rec: Record<string, JsonValue> = {};
      for (const [k, v] of Object.entries(hyper)) {
        if (typeof v === 'number' || typeof v === 'boolean' || Array.isArray(v)) rec[k] = v;
      }
      groups.push({ ...rec, params: indices, initialLr: g.initialLr });
    }
    return { tensors, meta: { kind: this.kind, groups, steps } };
  }

  /**
   * Restores hyper-parameters, step counts and state tensors (copied, cast to each parameter's
   * device and dtype). The group layout must match; problems are listed in one DetkdError.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const { meta, tensors } = sd;
    const problems: string[] = [];
    if (meta.kind !== this.kind)
      problems.push(`optimizer kind '${meta.kind}' in the checkpoint, '${this.kind}' here`);
    if (meta.groups.length !== this.paramGroups.length) {
      problems.push(`${meta.groups.length} param groups in the checkpoint, ${this.paramGroups.length} here`);
    } else {
      this.paramGroups.forEach((g, i) => {
        const n = meta.groups[i]?.params.length;
        if (n !== g.params.length)
          problems.push(`param group ${i}: ${n} params in the checkpoint, ${g.params.length} here`);
      });
    }
    const all = this.params();
    const byIndex = new Map<number, Map<string, Tensor>>();
    for (const [k, t] of tensors) {
      const m = /^state\.(\d+)\.([A-Za-z0-9_]+)$/.exec(k);
      const i = m === null ? -1 : Number(m[1]);
      const p = all[i];
      if (m === null || p === undefined) {
        problems.push(`unexpected optimizer state key '${k}'`);
        continue;
      }
      const ps = p.shape;
      const ts = t.shape;
      if (ps.length !== ts.length || ps.some((v, j) => v !== ts[j])) {
        problems.push(
          `size mismatch for '${k}': checkpoint [${ts.join(', ')}], parameter [${ps.join(', ')}]`,
        );
        continue;
      }
      let e = byIndex.get(i);
      if (e === undefined) {
        e = new Map();
        byIndex.set(i, e);
      }
      e.set(m[2] ?? '', t);
    }
    if (problems.length > 0) {
      throw new DetkdError(
        `${this.constructor.name}.loadStateDict: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`,
      );
    }
    this.clearState();
    this.paramGroups.forEach((g, i) => {
      const saved = meta.groups[i];
      if (saved === undefined) return;
      const { params: _p, ...hyper } = saved;
      Object.assign(g, hyper);
    });
    all.forEach((p, i) => {
      const s = meta.steps[String(i)];
      if (s !== undefined) this.steps.set(p, s);
      const e = byIndex.get(i);
      if (e === undefined) return;
      for (const [n, t] of e) {
        const copy = noGrad(() => tidy(() => t.to(p.device).to(p.dtype).clone()));
        this.setState(p, n, copy);
      }
    });
  }

  private clearState(): void {
    for (const m of this.state.values()) for (const t of m.values()) t.dispose();
    this.state.clear();
    this.steps.clear();
  }

  /** Frees the state tensors (not the parameters). */
  dispose(): void {
    this.clearState();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** Splits params and their grads (params without a grad are skipped, as PyTorch does). */
export function withGrads(params: readonly Tensor[]): { ps: Tensor[]; grads: Tensor[] } {
  const ps: Tensor[] = [];
  const grads: Tensor[] = [];
  for (const p of params) {
    const g = p.grad;
    if (g !== null) {
      ps.push(p);
      grads.push(g);
    }
  }
  return { ps, grads };
}
