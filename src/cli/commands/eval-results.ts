// `detkd eval --gt GT.json --results DT.json [--json]`: COCO bbox mAP of a results file, with
// pycocotools' numbers and text layout. `detkd eval --recipe R --checkpoint C`: runs the recipe's
// detector with the checkpoint's weights over the val set first, then the same evaluation; for a
// two-stage detector also its RPN proposals' class-agnostic recall (AR@100/300/1000, as mmdet).

import type { EvalCheckpointOptions as AppEvalCheckpointOptions } from '../../app/eval-checkpoint.ts';
import type { DetectorEvaluation, ProposalStats } from '../../app/evaluate.ts';
import { type CocoEvalResult, evaluateIndexed } from '../../eval/coco-eval.ts';
import { flattenResults, indexGroundTruth, loadJsonFile } from '../../eval/coco-input.ts';
import { formatProposalSummary } from '../../eval/proposal-recall.ts';
import { formatCategoryTable, formatSummary, toJsonReport } from '../../eval/report.ts';
import { parseVerbArgs, UsageError } from '../args.ts';
import type { Command } from '../main.ts';
import { VERBS } from '../verbs.ts';

export const USAGE = VERBS.eval.usage;

export interface EvalResultsOptions {
  gt: string;
  results: string;
  json?: boolean;
}

/**
 * The `--gt/--results` form: loads both files, evaluates, writes the report to `write`.
 * Errors name the file (and the entry index and field for a bad detection).
 */
export function evalResults(
  opts: EvalResultsOptions,
  write: (text: string) => void = (t) => process.stdout.write(t),
): CocoEvalResult {
  const gt = indexGroundTruth(loadJsonFile(opts.gt), opts.gt);
  const dets = flattenResults(gt, loadJsonFile(opts.results), opts.results);
  const result = evaluateIndexed(gt, dets);
  writeReport(result, opts.gt, { json: opts.json ?? false }, write);
  return result;
}

/** The report both forms print: pycocotools' summary and the category table, or one json object. */
function writeReport(
  result: CocoEvalResult,
  gtFile: string,
  o: {
    json: boolean;
    speed?: { images: number; seconds: number; imagesPerSecond: number };
    proposals?: ProposalStats;
  },
  write: (text: string) => void,
): void {
  if (o.json) {
    const obj = {
      ...toJsonReport(result),
      ...(o.speed ? { imagesPerSecond: o.speed.imagesPerSecond } : {}),
      ...(o.proposals ? { proposals: o.proposals.metrics } : {}),
    };
    write(`${JSON.stringify(obj)}\n`);
    return;
  }
  write(`${formatSummary(result.stats)}\n\n${formatCategoryTable(result)}\n`);
  if (o.proposals) {
    const p = o.proposals;
    write(
      `\nRPN proposals (class-agnostic, ${p.numProposals} proposals for ${p.numGt} boxes; mmdet's proposal metric):\n${formatProposalSummary(p.result)}\n`,
    );
  }
  if (result.droppedDetections > 0) {
    write(`\n${result.droppedDetections} detection(s) with a category id not in ${gtFile} were dropped\n`);
  }
  if (o.speed) {
    const s = o.speed;
    write(
      `\n${s.images} images in ${s.seconds.toFixed(2)} s: ${s.imagesPerSecond.toFixed(1)} images/s (decode, resize, forward, postprocess)\n`,
    );
  }
}

export interface EvalCheckpointOptions extends AppEvalCheckpointOptions {
  json?: boolean;
}

/**
 * The `--recipe/--checkpoint` form: evaluates the checkpoint (src/app/eval-checkpoint.ts) and
 * writes the report (plus images per second) to `write`. Progress and notes go to `log`
 * (stderr), so `--json` output stays one object.
 */
export async function evalCheckpoint(
  opts: EvalCheckpointOptions,
  write: (text: string) => void = (t) => process.stdout.write(t),
  log: (text: string) => void = (t) => console.error(t),
): Promise<DetectorEvaluation> {
  // Loaded here, not at the top: the --gt/--results form runs without libtorch.
  const { evaluateCheckpoint } = await import('../../app/eval-checkpoint.ts');
  const { evaluation: e, gtFile } = await evaluateCheckpoint(opts, log);
  writeReport(
    e.coco,
    gtFile,
    { json: opts.json ?? false, speed: e, ...(e.proposals ? { proposals: e.proposals } : {}) },
    write,
  );
  return e;
}

export const command: Command = {
  async run(argv: string[]): Promise<number> {
    const { values: v, help } = parseVerbArgs(VERBS.eval, argv);
    if (help) {
      console.log(USAGE);
      return 0;
    }
    if (v.recipe !== undefined || v.checkpoint !== undefined) {
      if (v.gt !== undefined || v.results !== undefined) {
        throw new UsageError('use either --gt/--results or --recipe/--checkpoint, not both');
      }
      if (v.recipe === undefined || v.checkpoint === undefined) {
        throw new UsageError(`${v.recipe === undefined ? '--recipe' : '--checkpoint'} is required`);
      }
      if (v.images !== undefined && v.data === undefined) throw new UsageError('--images goes with --data');
      await evalCheckpoint({
        recipe: v.recipe,
        checkpoint: v.checkpoint,
        json: v.json,
        ...(v.data === undefined ? {} : { data: v.data }),
        ...(v.images === undefined ? {} : { images: v.images }),
        ...(v['save-results'] === undefined ? {} : { saveResults: v['save-results'] }),
        ...(v.device === undefined ? {} : { device: v.device }),
      });
      return 0;
    }
    for (const k of ['data', 'images', 'save-results', 'device'] as const) {
      if (v[k] !== undefined) throw new UsageError(`--${k} goes with --recipe/--checkpoint`);
    }
    if (v.gt === undefined || v.results === undefined) {
      throw new UsageError(`${v.gt === undefined ? '--gt' : '--results'} is required`);
    }
    evalResults({ gt: v.gt, results: v.results, json: v.json });
    return 0;
  },
};
