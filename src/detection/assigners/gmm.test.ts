// fitGmm1d against scikit-learn 1.2's GaussianMixture (scripts/fixtures/distill_lad_oracle.py ->
// test/fixtures/distill-lad/gmm.json): parameters, lower bound and score_samples to 1e-9 relative
// (BLAS sums in another order), iteration count, convergence and predict exactly, and the same
// failures where sklearn raises. Then properties that hold without an oracle.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readJsonFixture } from '../../../test/support/oracle.ts';
import { fitGmm1d, type Gmm1dInit, GmmFitError } from './gmm.ts';

interface SkCase {
  x: (number | string)[];
  init: {
    weights?: [number, number];
    means?: [number, number];
    precisions?: [number, number];
    tol?: number;
    max_iter?: number;
  };
  error?: string;
  weights: number[];
  means: number[];
  variances: number[];
  converged: boolean;
  n_iter: number;
  lower_bound: number;
  predict: number[];
  score_samples: number[];
  query: number[];
  predict_query: number[];
  score_query: number[];
}

const fx = readJsonFixture<{ sklearn: string; cases: Record<string, SkCase> }>('distill-lad/gmm.json');

function close(
  actual: readonly number[],
  expected: readonly number[],
  what: string,
  rtol = 1e-9,
  atol = 1e-12,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  actual.forEach((a, i) => {
    const e = expected[i]!;
    assert.ok(Math.abs(a - e) <= atol + rtol * Math.abs(e), `${what}[${i}]: ${a} vs ${e}`);
  });
}

function initOf(c: SkCase): Gmm1dInit {
  const o: Gmm1dInit = {};
  if (c.init.weights) o.weights = c.init.weights;
  if (c.init.means) o.means = c.init.means;
  if (c.init.precisions) o.precisions = c.init.precisions;
  if (c.init.tol !== undefined) o.tol = c.init.tol;
  if (c.init.max_iter !== undefined) o.maxIter = c.init.max_iter;
  return o;
}

test('the fixture covers the cases the brief names', () => {
  for (const k of [
    'well_separated',
    'overlapping',
    'ties',
    'two_points',
    'constant',
    'collapsed',
    'one_sample',
  ]) {
    assert.ok(k in fx.cases, k);
  }
});

for (const [name, c] of Object.entries(fx.cases)) {
  const x = c.x.map(Number); // 'nan' -> NaN
  if (c.error !== undefined) {
    test(`fitGmm1d throws where sklearn raises: ${name} (${c.error.slice(0, 40)})`, () => {
      assert.throws(() => fitGmm1d(x, initOf(c)), GmmFitError);
    });
    continue;
  }
  test(`fitGmm1d matches sklearn ${fx.sklearn}: ${name}`, () => {
    const g = fitGmm1d(x, initOf(c));
    assert.equal(g.nIter, c.n_iter, 'n_iter');
    assert.equal(g.converged, c.converged, 'converged');
    close(g.weights, c.weights, 'weights');
    close(g.means, c.means, 'means');
    close(g.variances, c.variances, 'variances');
    close([g.lowerBound], [c.lower_bound], 'lower_bound');
    assert.deepEqual(g.predict(x), c.predict, 'predict');
    close(g.scoreSamples(x), c.score_samples, 'score_samples');
    assert.deepEqual(g.predict(c.query), c.predict_query, 'predict (query)');
    close(g.scoreSamples(c.query), c.score_query, 'score_samples (query)');
  });
}

test('fitGmm1d: permuting the samples changes nothing but summation order', () => {
  const x = [0.9, 0.1, 1.7, 0.15, 1.6, 0.2, 0.12];
  const a = fitGmm1d(x);
  const b = fitGmm1d([...x].reverse());
  close(b.means, a.means, 'means', 1e-12);
  close(b.variances, a.variances, 'variances', 1e-12);
  assert.equal(a.nIter, b.nIter);
});

test('fitGmm1d: constant data collapses both components onto the value with variance regCovar', () => {
  const g = fitGmm1d([2, 2, 2, 2]);
  close(g.means, [2, 2], 'means', 1e-12);
  close(g.variances, [1e-6, 1e-6], 'variances', 1e-6);
  assert.deepEqual(g.predict([2, 2]), [0, 0]); // argmax ties -> component 0
  assert.equal(g.nIter, 3); // bounds: -inf, L, L
});

test('fitGmm1d: scoreSamples is the log density of the mixture it reports', () => {
  const g = fitGmm1d([0.1, 0.3, 0.35, 1.2, 1.4, 1.9]);
  const pdf = (v: number, m: number, s2: number): number =>
    Math.exp(-((v - m) ** 2) / (2 * s2)) / Math.sqrt(2 * Math.PI * s2);
  for (const v of [-1, 0.2, 0.8, 1.5, 3]) {
    const p =
      g.weights[0] * pdf(v, g.means[0], g.variances[0]) + g.weights[1] * pdf(v, g.means[1], g.variances[1]);
    close(g.scoreSamples([v]), [Math.log(p)], `log p(${v})`, 1e-12);
  }
  close([g.weights[0] + g.weights[1]], [1], 'weights sum', 1e-15);
});

test('fitGmm1d: fewer than two samples or a non-finite one throw GmmFitError', () => {
  assert.throws(() => fitGmm1d([]), GmmFitError);
  assert.throws(() => fitGmm1d([1]), GmmFitError);
  assert.throws(() => fitGmm1d([1, Number.POSITIVE_INFINITY]), GmmFitError);
});
