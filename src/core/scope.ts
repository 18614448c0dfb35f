// Scopes (tidy/keep/dispose) and grad mode.
//
// Memory is explicit (docs/architecture.md): every tensor made inside `tidy(fn)` is freed when fn
// returns, except what fn returns or `keep`s. GC finalizers are only a backstop. This module knows
// tensors only through `Scoped`, the base class Tensor extends, so it never imports tensor.ts at
// run time and tensor.ts can import it without a cycle.

import { native } from './native.ts';
import type { Tensor } from './tensor.ts';

const scopes: Scoped[][] = [];

/** Anything a tidy frees: each instance joins the innermost open scope when it is made. */
export abstract class Scoped {
  /** Set by `keep`: no tidy frees this object. */
  kept = false;

  constructor() {
    const s = scopes[scopes.length - 1];
    if (s !== undefined) s.push(this);
  }

  abstract dispose(): void;
}

function collect(v: unknown, out: Set<Scoped>, seen: Set<object>): void {
  if (v instanceof Scoped) {
    out.add(v);
    return;
  }
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if (Array.isArray(v)) {
    for (const e of v) collect(e, out, seen);
  } else if (v instanceof Map) {
    for (const e of v.values()) collect(e, out, seen);
  } else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
    for (const e of Object.values(v)) collect(e, out, seen);
  }
}

/**
 * Runs fn and frees every tensor it created, except those it returns (also inside arrays, Maps
 * and plain objects) and those marked with `keep`. Returned tensors move to the enclosing scope.
 * fn must be synchronous: a returned Promise is an error (its tensors could not be tracked).
 *
 *   const loss = tidy(() => model.forward(x).sub(y).square().mean());
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scoped[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (!t.kept) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) if (!t.kept) t.dispose();
    throw new TypeError('tidy(fn): fn returned a Promise; tidy only takes synchronous functions');
  }
  const keepSet = new Set<Scoped>();
  collect(result, keepSet, new Set());
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (t.kept) continue;
    if (keepSet.has(t)) {
      if (parent !== undefined) parent.push(t);
    } else {
      t.dispose();
    }
  }
  return result;
}

/** Exempts a tensor from every enclosing tidy; it lives until disposed explicitly. */
export function keep<T extends Tensor>(t: T): T {
  t.kept = true;
  return t;
}

/** Disposes every tensor found in v (arrays, Maps, plain objects). */
export function dispose(v: unknown): void {
  const s = new Set<Scoped>();
  collect(v, s, new Set());
  for (const t of s) t.dispose();
}

/** Native tensor handles alive right now, and the bytes of their storages. */
export function memoryInfo(): { handles: number; storages: number; bytes: number } {
  return native.liveHandles();
}

// --- grad mode -------------------------------------------------------------------------------

function withGradMode<T>(enabled: boolean, fn: () => T, what: string): T {
  const prev = native.setGradEnabled(enabled);
  try {
    const r = fn();
    if (r instanceof Promise) {
      throw new TypeError(
        `${what}(fn): fn returned a Promise. Grad mode is thread-local and cannot follow an await; ` +
          'wrap the synchronous part instead (async native calls carry the mode over themselves)',
      );
    }
    return r;
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording off (like torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn, 'noGrad');
}

/** Runs fn with gradient recording on, e.g. inside a noGrad region. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn, 'enableGrad');
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}
