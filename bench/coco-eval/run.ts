// Benchmark: detkd's COCO bbox evaluation on the COCO-sized workload of gen.ts (5,000 images x 80
// categories x 100 detections per image, ~32,000 gt), against pycocotools' 55-66 s for the same
// shape on this 2-core machine (pycocotools cannot be installed here, so that range is quoted, not
// re-measured). When bench/coco-eval/expected.json matches the generated files, the numbers are
// also checked against the literal Python reference's (scripts/coco-eval-reference.py).
//
//   node --import tsx bench/coco-eval/run.ts [--dir DIR] [--repeat N] [--regen] [--reference]
//
// --reference also times scripts/coco-eval-reference.py (the literal pycocotools port, ~80 s here)
// on the same files in the same run and compares the numbers.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluateIndexed, STAT_NAMES } from '../../src/eval/coco-eval.ts';
import { flattenResults, indexGroundTruth } from '../../src/eval/coco-input.ts';
import { DEFAULT_BENCH, defaultBenchDir, writeBenchmark } from './gen.ts';

const PYCOCOTOOLS_S: readonly [number, number] = [55, 66];

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: defaultBenchDir() },
    repeat: { type: 'string', default: '3' },
    regen: { type: 'boolean', default: false },
    reference: { type: 'boolean', default: false },
  },
});
const dir = values.dir;
const gtPath = join(dir, 'gt.json');
const dtPath = join(dir, 'dt.json');
if (values.regen || !existsSync(gtPath) || !existsSync(dtPath)) {
  const t = performance.now();
  const { numGt } = writeBenchmark(dir, DEFAULT_BENCH);
  console.log(`generated ${dir} (${numGt} gt) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

const sec = (ms: number): string => (ms / 1000).toFixed(2);
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Run {
  parse: number; // read + JSON.parse of both files
  evaluate: number; // index gt + check/flatten results + match + accumulate + summarize
  total: number;
}
const runs: Run[] = [];
let last: ReturnType<typeof evaluateIndexed> | undefined;
for (let rep = 0; rep < Number(values.repeat); rep++) {
  const t0 = performance.now();
  let gtJson: unknown = JSON.parse(readFileSync(gtPath, 'utf8'));
  let dtJson: unknown = JSON.parse(readFileSync(dtPath, 'utf8'));
  const t1 = performance.now();
  const gt = indexGroundTruth(gtJson, gtPath);
  const dets = flattenResults(gt, dtJson, dtPath);
  // As in `detkd eval`, the parsed json is garbage once flattened: let it go so the collector
  // does not trace 500k result objects during evaluation.
  gtJson = undefined;
  dtJson = undefined;
  const result = evaluateIndexed(gt, dets);
  const t2 = performance.now();
  runs.push({ parse: t1 - t0, evaluate: t2 - t1, total: t2 - t0 });
  last = result;
  console.log(`run ${rep + 1}: parse ${sec(t1 - t0)} s + evaluate ${sec(t2 - t1)} s = ${sec(t2 - t0)} s`);
}
const best = Math.min(...runs.map((r) => r.total));
const med = median(runs.map((r) => r.total));
const evalMed = median(runs.map((r) => r.evaluate));
console.log(
  `\ndetkd: ${sec(med)} s median (${sec(best)} s best) incl. json parse; evaluation alone ${sec(evalMed)} s`,
);
console.log(
  `pycocotools: ${PYCOCOTOOLS_S[0]}-${PYCOCOTOOLS_S[1]} s (quoted) -> ` +
    `${(PYCOCOTOOLS_S[0] / (med / 1000)).toFixed(1)}x-${(PYCOCOTOOLS_S[1] / (med / 1000)).toFixed(1)}x faster incl. parse, ` +
    `${(PYCOCOTOOLS_S[0] / (evalMed / 1000)).toFixed(1)}x-${(PYCOCOTOOLS_S[1] / (evalMed / 1000)).toFixed(1)}x on evaluation alone`,
);

// Same numbers as the literal reference?
const expectedPath = join(import.meta.dirname, 'expected.json');
if (last && existsSync(expectedPath)) {
  const exp = JSON.parse(readFileSync(expectedPath, 'utf8')) as {
    dt_sha256: string;
    gt_sha256: string;
    stats: number[];
    per_category_ap: Record<string, number>;
  };
  const sha = (p: string): string => createHash('sha256').update(readFileSync(p)).digest('hex');
  if (sha(dtPath) !== exp.dt_sha256 || sha(gtPath) !== exp.gt_sha256) {
    console.log('expected.json is for other files: numbers not checked');
  } else {
    let worst = 0;
    let exact = true;
    STAT_NAMES.forEach((n, i) => {
      const d = Math.abs(last!.stats[n] - exp.stats[i]!);
      worst = Math.max(worst, d);
      exact &&= d === 0;
    });
    for (const [id, ap] of Object.entries(exp.per_category_ap)) {
      const d = Math.abs(last.perCategory[Number(id)]! - ap);
      worst = Math.max(worst, d);
      exact &&= d === 0;
    }
    console.log(
      `numbers vs the literal reference: ${exact ? 'identical' : `max |diff| ${worst}`} ` +
        `(12 stats + ${Object.keys(exp.per_category_ap).length} per-category AP)`,
    );
    if (worst > 1e-6) process.exitCode = 1;
  }
}
if (last && values.reference) {
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'coco-eval-reference.py');
  const t = performance.now();
  const py = spawnSync('python3', [script, gtPath, dtPath], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const s = (performance.now() - t) / 1000;
  if (py.status !== 0) throw new Error(`reference failed: ${py.stderr}`);
  const ref = JSON.parse(py.stdout) as { stats: number[] };
  const worst = Math.max(...STAT_NAMES.map((n, i) => Math.abs(last!.stats[n] - ref.stats[i]!)));
  console.log(
    `literal Python reference, same run: ${s.toFixed(1)} s -> ${(s / (med / 1000)).toFixed(1)}x faster; ` +
      `max |diff| on the 12 stats ${worst}`,
  );
}
console.log(`AP ${last?.stats.AP} AP50 ${last?.stats.AP50} AR100 ${last?.stats.AR100}`);
