// A two-component, one-dimensional Gaussian mixture fitted by EM exactly as scikit-learn's
// GaussianMixture(n_components=2, covariance_type='diag', n_init=1) fits it (sklearn 1.2,
// sklearn/mixture/_base.py fit_predict and _gaussian_mixture.py), with every initial parameter
// given, as PAA does (mmdet/models/dense_heads/paa_head.py paa_reassign): weights_init [0.5, 0.5],
// means_init [min, max], precisions_init [1, 1]. With all three given, sklearn's k-means
// initialisation has no effect on the result, so it is not run here.
//
// Plain JS numbers (float64): LAD fits one small vector (at most topk * levels values) per GT.
// sklearn runs the dot products through BLAS, so results agree to ~1e-12 relative, not bit for bit.
// Only 'diag' (PAA's default) is implemented; with one feature 'spherical' is the same model.

/** EM options; defaults are sklearn's and PAA's. */
export interface Gmm1dInit {
  /** Mixing weights at the start. Default [0.5, 0.5]. */
  weights?: readonly [number, number];
  /** Component means at the start. Default [min(x), max(x)]. */
  means?: readonly [number, number];
  /** Component precisions (1 / variance) at the start. Default [1, 1]. */
  precisions?: readonly [number, number];
  /** Added to every variance. Default 1e-6. */
  regCovar?: number;
  /** Convergence threshold on the change of the lower bound. Default 1e-3. */
  tol?: number;
  /** Default 100. */
  maxIter?: number;
}

/** Thrown where sklearn raises ValueError (too few samples, non-finite input, collapsed variance). */
export class GmmFitError extends Error {
  override name = 'GmmFitError';
}

const LOG_2PI = Math.log(2 * Math.PI);
/** np.finfo(np.float64).eps */
const F64_EPS = 2 ** -52;

/** A fitted mixture: sklearn's weights_, means_, covariances_, converged_, n_iter_, lower_bound_. */
export class GaussianMixture1d {
  constructor(
    readonly weights: [number, number],
    readonly means: [number, number],
    readonly variances: [number, number],
    /** 1 / sqrt(variance), sklearn's precisions_cholesky_. */
    readonly precisionsChol: [number, number],
    readonly converged: boolean,
    readonly nIter: number,
    readonly lowerBound: number,
  ) {}

  /** sklearn predict: the component of largest weighted log-probability (0 on ties, as argmax). */
  predict(x: readonly number[]): number[] {
    return x.map((v) => {
      const [a, b] = weightedLogProb(v, this.means, this.precisionsChol, this.weights);
      return b > a ? 1 : 0;
    });
  }

  /** sklearn score_samples: log p(x) under the mixture, per sample. */
  scoreSamples(x: readonly number[]): number[] {
    return x.map((v) => {
      const [a, b] = weightedLogProb(v, this.means, this.precisionsChol, this.weights);
      return logsumexp2(a, b);
    });
  }
}

/**
 * Fits the mixture to x (n >= 2 finite values) as `GaussianMixture(2, weights_init, means_init,
 * precisions_init, covariance_type='diag').fit(x[:, None])` does.
 *
 *   const g = fitGmm1d([0.1, 0.2, 0.25, 1.4, 1.6]);
 *   g.predict([0.1, 1.5]); // [0, 1]
 */
export function fitGmm1d(x: readonly number[], init: Gmm1dInit = {}): GaussianMixture1d {
  const n = x.length;
  if (n < 2) throw new GmmFitError(`fitGmm1d: n_samples=${n} should be >= n_components=2`);
  for (const v of x) {
    if (!Number.isFinite(v)) throw new GmmFitError('fitGmm1d: input contains NaN or infinity');
  }
  const regCovar = init.regCovar ?? 1e-6;
  const tol = init.tol ?? 1e-3;
  const maxIter = init.maxIter ?? 100;
  let lo = x[0]!;
  let hi = x[0]!;
  for (const v of x) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  let weights: [number, number] = [...(init.weights ?? [0.5, 0.5])];
  let means: [number, number] = [...(init.means ?? [lo, hi])];
  const prec = init.precisions ?? [1, 1];
  // _initialize: precisions_cholesky_ = sqrt(precisions_init) for 'diag'.
  let precChol: [number, number] = [Math.sqrt(prec[0]), Math.sqrt(prec[1])];
  let variances: [number, number] = [1 / prec[0], 1 / prec[1]];

  let lowerBound = Number.NEGATIVE_INFINITY;
  let converged = false;
  let nIter = 0;
  const resp0 = new Float64Array(n);
  const resp1 = new Float64Array(n);
  for (let it = 1; it <= maxIter; it++) {
    nIter = it;
    const prev = lowerBound;
    // E-step (_estimate_log_prob_resp): log_resp = weighted log prob - logsumexp over components;
    // the bound is the mean of the per-sample logsumexp.
    let sumNorm = 0;
    for (let i = 0; i < n; i++) {
      const [a, b] = weightedLogProb(x[i]!, means, precChol, weights);
      const norm = logsumexp2(a, b);
      sumNorm += norm;
      resp0[i] = Math.exp(a - norm);
      resp1[i] = Math.exp(b - norm);
    }
    // M-step (_estimate_gaussian_parameters + _estimate_gaussian_covariances_diag), in sklearn's
    // operation order: nk carries 10 eps so an empty component does not divide by zero.
    const r0 = dot(resp0, x);
    const r1 = dot(resp1, x);
    const nk: [number, number] = [sum(resp0) + 10 * F64_EPS, sum(resp1) + 10 * F64_EPS];
    means = [r0 / nk[0], r1 / nk[1]];
    const x2 = x.map((v) => v * v);
    variances = [
      dot(resp0, x2) / nk[0] - 2 * ((means[0] * r0) / nk[0]) + means[0] ** 2 + regCovar,
      dot(resp1, x2) / nk[1] - 2 * ((means[1] * r1) / nk[1]) + means[1] ** 2 + regCovar,
    ];
    const total = nk[0] + nk[1];
    weights = [nk[0] / total, nk[1] / total];
    // _compute_precision_cholesky ('diag'): sklearn raises on a variance <= 0.
    if (!(variances[0] > 0 && variances[1] > 0)) {
      throw new GmmFitError(
        'fitGmm1d: some components have ill-defined empirical covariance (singleton or collapsed samples)',
      );
    }
    precChol = [1 / Math.sqrt(variances[0]), 1 / Math.sqrt(variances[1])];
    // _compute_lower_bound for GaussianMixture is the mean log-likelihood of the E-step.
    lowerBound = sumNorm / n;
    if (Math.abs(lowerBound - prev) < tol) {
      converged = true;
      break;
    }
  }
  // n_init = 1: the parameters of the last iteration are the best ones. sklearn's final E-step
  // only relabels the training data for fit_predict; fit() discards it.
  return new GaussianMixture1d(weights, means, variances, precChol, converged, nIter, lowerBound);
}

/** _estimate_weighted_log_prob for one sample: log N(x | mu_k, 1/prec_k^2) + log w_k, k = 0, 1. */
function weightedLogProb(
  v: number,
  means: readonly [number, number],
  precChol: readonly [number, number],
  weights: readonly [number, number],
): [number, number] {
  const f = (k: 0 | 1): number => {
    const p = precChol[k] ** 2;
    const m = means[k];
    // _estimate_log_gaussian_prob 'diag': (mu^2 p - 2 x (mu p) + x^2 p), then
    // -0.5 (log 2 pi + that) + log det of the precision Cholesky.
    const logProb = m * m * p - 2 * (v * (m * p)) + v * v * p;
    return -0.5 * (LOG_2PI + logProb) + Math.log(precChol[k]) + Math.log(weights[k]);
  };
  return [f(0), f(1)];
}

/** scipy.special.logsumexp over two values: log(sum(exp(a - max))) + max (max taken as 0 if infinite). */
function logsumexp2(a: number, b: number): number {
  let m = Math.max(a, b);
  if (!Number.isFinite(m)) m = 0;
  return Math.log(Math.exp(a - m) + Math.exp(b - m)) + m;
}

function dot(a: Float64Array, b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function sum(a: Float64Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}
