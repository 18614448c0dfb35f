// The method factories' option schemas, checked without libtorch: an unknown key names the
// nearest valid one, a wrong type the expected one, both under the factory's name; defaults come
// from the schema. The pair's student and teacher are stand-ins shaped like the real ones.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { DetkdError } from '../../core/errors.ts';
import {
  cwdFpnOptionsSchema,
  fgdOptionsSchema,
  kdOptionsSchema,
  ladOptionsSchema,
  ldOptionsSchema,
  PKD_DEFAULT_WEIGHT,
  parseOptions,
  pkdOptionsSchema,
} from './options.ts';

const pair = {
  student: { forward: () => null, detectorKind: 'dense', spec: { kind: 'gfl' } },
  teacher: { run: () => null, peek: () => null },
};

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof DetkdError, `a DetkdError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected an error');
}

test('an unknown option key names the factory and the nearest valid key', () => {
  assert.equal(
    message(() => parseOptions(ldOptionsSchema, { ...pair, vlrWeigth: 0 }, 'ld')),
    "ld(): unknown key 'vlrWeigth' (did you mean 'vlrWeight'?)",
  );
  assert.equal(
    message(() => parseOptions(kdOptionsSchema, { ...pair, wieght: 2 }, 'kd')),
    "kd(): unknown key 'wieght' (did you mean 'weight'?)",
  );
  assert.equal(
    message(() => parseOptions(kdOptionsSchema, { ...pair, temperature: 2 }, 'kd')),
    "kd(): unknown key 'temperature' (valid keys here: student, teacher, weight, tau, dense, schedule)",
  );
  // nested: FGD's config and LAD's PAA options are strict too
  assert.match(
    message(() =>
      parseOptions(
        fgdOptionsSchema,
        { ...pair, config: { temp: 0.5, alphaFgd: 1, betaFgd: 1, gammaFgd: 1, lamdaFgd: 1 } },
        'fgd',
      ),
    ),
    /^fgd\(\):[\s\S]*unknown key 'config\.lamdaFgd' \(did you mean 'config\.lambdaFgd'\?\)/,
  );
  assert.equal(
    message(() => parseOptions(ladOptionsSchema, { ...pair, config: { topK: 5 } }, 'ladAssignment')),
    "ladAssignment(): unknown key 'config.topK' (did you mean 'config.topk'?)",
  );
});

test('a wrong option type names the expected one; a raw detector is not a teacher', () => {
  assert.equal(
    message(() => parseOptions(ldOptionsSchema, { ...pair, weight: '0.25' }, 'ld')),
    `ld(): 'weight' must be number, got a string ("0.25")`,
  );
  assert.equal(
    message(() => parseOptions(cwdFpnOptionsSchema, { ...pair, levels: 0 }, 'cwdFpn')),
    "cwdFpn(): 'levels' must be array, got a number (0)",
  );
  assert.equal(
    message(() => parseOptions(kdOptionsSchema, { ...pair, dense: 'yes', tau: 0 }, 'kd')),
    `kd():\n  - 'tau' must be > 0, got a number (0)\n  - 'dense' must be boolean, got a string ("yes")`,
  );
  assert.equal(
    message(() => parseOptions(kdOptionsSchema, { ...pair, teacher: pair.student }, 'kd')),
    "kd(): 'teacher': must be the frozen teacher (the pair's teacher; wrap a detector in new Frozen(model))",
  );
  assert.equal(
    message(() => parseOptions(ldOptionsSchema, { student: pair.student }, 'ld')),
    "ld(): 'teacher': must be the frozen teacher (the pair's teacher; wrap a detector in new Frozen(model))",
  );
});

test('defaults come from the schema; the pair passes through untouched', () => {
  const o = parseOptions(ldOptionsSchema, { ...pair, vlrWeight: 0 }, 'ld');
  assert.equal(o.student, pair.student);
  assert.equal(o.teacher, pair.teacher);
  assert.deepEqual(
    { weight: o.weight, vlrWeight: o.vlrWeight, tau: o.tau, ref: o.refImagesPerGpu },
    { weight: 0.25, vlrWeight: 0, tau: 10, ref: 2 },
  );
  const k = parseOptions(kdOptionsSchema, { ...pair, schedule: { start: 5 } }, 'kd');
  assert.deepEqual([k.weight, k.tau, k.dense, k.schedule], [10, 2, false, { start: 5 }]);
});

test("PKD's weight stays unset unless given (the factory picks it by the teacher's kind); pairing is stride or index", () => {
  const o = parseOptions(pkdOptionsSchema, { ...pair }, 'pkd');
  assert.equal(o.weight, undefined);
  assert.equal(o.pairing, undefined);
  assert.equal(parseOptions(pkdOptionsSchema, { ...pair, weight: 0, pairing: 'index' }, 'pkd').weight, 0);
  // The reference configs: 10 with one-stage teachers, 6 with R-CNN teachers.
  assert.deepEqual(PKD_DEFAULT_WEIGHT, { dense: 10, 'two-stage': 6 });
  assert.equal(
    message(() => parseOptions(pkdOptionsSchema, { ...pair, weight: '6' }, 'pkd')),
    `pkd(): 'weight' must be number, got a string ("6")`,
  );
  assert.equal(
    message(() => parseOptions(pkdOptionsSchema, { ...pair, wieght: 6 }, 'pkd')),
    "pkd(): unknown key 'wieght' (did you mean 'weight'?)",
  );
  assert.match(
    message(() => parseOptions(cwdFpnOptionsSchema, { ...pair, pairing: 'scale' }, 'cwdFpn')),
    /^cwdFpn\(\): 'pairing' must be one of/,
  );
});

test('the schemas load no native code', () => {
  const cache = Object.keys(createRequire(import.meta.url).cache);
  assert.deepEqual(
    cache.filter((k) => k.endsWith('.node')),
    [],
  );
});
