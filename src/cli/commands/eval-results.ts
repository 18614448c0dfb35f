// `detkd eval --gt GT.json --results DT.json [--json]`: COCO bbox mAP of a results file, with
// pycocotools' numbers and text layout. (`--recipe R --checkpoint C` is planned: it will run a
// detector first, then the same evaluation.)

import { parseArgs } from 'node:util';
import { DetkdError } from '../../core/errors.ts';
import { type CocoEvalResult, evaluateIndexed } from '../../eval/coco-eval.ts';
import { flattenResults, indexGroundTruth, loadJsonFile } from '../../eval/coco-input.ts';
import { formatCategoryTable, formatSummary, toJsonReport } from '../../eval/report.ts';
import type { Command } from '../main.ts';

export const USAGE = `usage: detkd eval --gt GT.json --results DT.json [--json]

COCO bbox evaluation, equal to pycocotools' COCOeval (iouType='bbox', default parameters).

options:
  --gt FILE        COCO ground truth (instances_*.json)
  --results FILE   COCO results: a json list of {image_id, category_id, bbox: [x, y, w, h], score}
  --json           print one json object: the 12 stats by name and perCategory {id: AP@[.50:.95]}
  -h, --help       show this help

Detections of categories that are not in the ground truth are dropped; any other malformed
detection (unknown image id, bad bbox, non-finite score) is an error. Ground truth without an
'area' field uses w*h for the small/medium/large ranges, and without 'iscrowd' is not a crowd.`;

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
  if (opts.json) {
    write(`${JSON.stringify(toJsonReport(result))}\n`);
  } else {
    write(`${formatSummary(result.stats)}\n\n${formatCategoryTable(result)}\n`);
    if (result.droppedDetections > 0) {
      write(`\n${result.droppedDetections} detection(s) with a category id not in ${opts.gt} were dropped\n`);
    }
  }
  return result;
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        gt: { type: 'string' },
        results: { type: 'string' },
        json: { type: 'boolean', default: false },
        recipe: { type: 'string' },
        checkpoint: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    throw new DetkdError(`eval: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  }
}

export const command: Command = {
  summary: 'COCO bbox mAP of a results file against ground truth (pycocotools numbers)',
  async run(argv: string[]): Promise<number> {
    const v = parse(argv);
    if (v.help) {
      console.log(USAGE);
      return 0;
    }
    if (v.recipe !== undefined || v.checkpoint !== undefined) {
      throw new DetkdError(
        'eval: --recipe/--checkpoint is not available yet; evaluate a results file with --gt GT.json --results DT.json',
      );
    }
    if (v.gt === undefined || v.results === undefined) {
      throw new DetkdError(`eval: ${v.gt === undefined ? '--gt' : '--results'} is required\n\n${USAGE}`);
    }
    evalResults({ gt: v.gt, results: v.results, json: v.json });
    return 0;
  },
};
