// Helpers for the distill tests that check against a PyTorch oracle fixture
// (test/fixtures/<dir>/oracle.safetensors, written by scripts/fixtures/distill_*_oracle.py):
// loading it with every tensor kept, looking tensors and JSON metadata up, and the 0-ULP
// comparison. Not a *.test.ts file, so the test runner does not execute it on its own.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadStateDictFile } from '../core/serialize.ts';
import type { Tensor } from '../core/tensor.ts';

export interface OracleFixture {
  /** Every tensor of the fixture, kept for the whole test process. */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** The safetensors metadata (string values, JSON where the oracle wrote JSON). */
  readonly metadata: Readonly<Record<string, string>>;
  /** The tensor `name`; throws when the fixture has none. */
  get(name: string): Tensor;
  /** The tensor `name`, or undefined (for optional inputs). */
  find(name: string): Tensor | undefined;
  /** `metadata[key]` parsed as JSON; throws when the key is missing. */
  json<T>(key: string): T;
  /** `metadata.cases` parsed as JSON: case name -> its parameters. */
  cases<T>(): Record<string, T>;
}

const loaded = new Map<string, OracleFixture>();

/** The oracle of test/fixtures/`fixtureDir` (e.g. 'distill-logit'), loaded once per process. */
export function loadOracle(fixtureDir: string): OracleFixture {
  const cached = loaded.get(fixtureDir);
  if (cached) return cached;
  const file = fileURLToPath(
    new URL(`../../test/fixtures/${fixtureDir}/oracle.safetensors`, import.meta.url),
  );
  const { tensors, metadata } = loadStateDictFile(file);
  for (const t of tensors.values()) t.kept = true;
  const json = <T>(key: string): T => {
    const s = metadata[key];
    if (s === undefined) throw new Error(`fixture ${fixtureDir} has no metadata '${key}'`);
    return JSON.parse(s) as T;
  };
  const oracle: OracleFixture = {
    tensors,
    metadata,
    get(name) {
      const t = tensors.get(name);
      if (!t) throw new Error(`fixture has no tensor '${name}'`);
      return t;
    },
    find: (name) => tensors.get(name),
    json,
    cases: <T>() => json<Record<string, T>>('cases'),
  };
  loaded.set(fixtureDir, oracle);
  return oracle;
}

/** Same shape and every element identical under Object.is (0 ULP; -0 vs 0 and NaN count). */
export function assertBits(actual: Tensor, expected: Tensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const a = actual.contiguous().toArray();
  const e = expected.contiguous().toArray();
  for (let i = 0; i < a.length; i++) assert.ok(Object.is(a[i], e[i]), `${what}[${i}]: ${a[i]} !== ${e[i]}`);
}
