// Helpers for the nn tests: fixture loading and exact / tolerance comparisons.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadStateDictFile, tensorToRaw } from '../core/serialize.ts';
import { keep, type Tensor } from '../core/tensor.ts';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'nn');

let oracle: Map<string, Tensor> | null = null;

/** The oracle tensors (kept for the whole test process). */
export function fixture(name: string): Tensor {
  if (oracle === null) {
    oracle = loadStateDictFile(join(FIXTURES, 'oracle.safetensors')).tensors;
    for (const t of oracle.values()) keep(t);
  }
  const t = oracle.get(name);
  if (t === undefined) throw new Error(`no fixture tensor '${name}'`);
  return t;
}

export function fixtureJson(): OracleJson {
  return JSON.parse(readFileSync(join(FIXTURES, 'oracle.json'), 'utf8'));
}

export interface OracleJson {
  init: { gain_leaky_sqrt5: number; gain_tanh: number; bias_prob: Record<string, number> };
  schedules: Record<
    string,
    {
      spec: import('./optim/lr-schedule.ts').LrScheduleSpec;
      itersPerEpoch: number;
      epochs: number;
      base: number[];
      lrs: number[][];
    }
  >;
}

/** Same dtype, shape and bytes (0 ulp; -0 and NaN payloads must match too). */
export function assertExact(got: Tensor, want: Tensor, what: string): void {
  const a = tensorToRaw(got);
  const b = tensorToRaw(want);
  assert.equal(a.dtype, b.dtype, `${what}: dtype`);
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  if (Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) !== 0) {
    const x = got.toArray();
    const y = want.toArray();
    let worst = 0;
    let at = -1;
    x.forEach((v, i) => {
      const d = Math.abs(v - (y[i] ?? Number.NaN));
      if (!(d <= worst)) {
        worst = d;
        at = i;
      }
    });
    assert.fail(`${what}: not bit-identical; max |diff| ${worst} at ${at} (${x[at]} vs ${y[at]})`);
  }
}

/** |got - want| <= rtol * |want| + atol elementwise. */
export function assertClose(got: Tensor, want: Tensor, what: string, rtol = 1e-6, atol = 0): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  const x = got.toArray();
  const y = want.toArray();
  x.forEach((v, i) => {
    const w = y[i] ?? Number.NaN;
    if (!(Math.abs(v - w) <= rtol * Math.abs(w) + atol)) assert.fail(`${what}[${i}]: ${v} vs ${w}`);
  });
}
