import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { evaluateCoco } from './coco-eval.ts';
import type { CocoGroundTruth, CocoResult } from './coco-types.ts';
import { formatCategoryTable, formatFixed3, formatSummary, toJsonReport } from './report.ts';

const CASE = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'coco-eval', 'cases', 'single_pair');
const gt = JSON.parse(readFileSync(join(CASE, 'gt.json'), 'utf8')) as CocoGroundTruth;
const dt = JSON.parse(readFileSync(join(CASE, 'dt.json'), 'utf8')) as CocoResult[];

test("formatFixed3 rounds like Python's '{:0.3f}' (half to even on exact ties)", () => {
  assert.equal(formatFixed3(0.0625), '0.062'); // toFixed would give 0.063
  assert.equal(formatFixed3(0.1875), '0.188');
  assert.equal(formatFixed3(0.3125), '0.312');
  assert.equal(formatFixed3(0.9375), '0.938');
  assert.equal(formatFixed3(0.0005), '0.001'); // 0.0005 is not an exact tie in binary
  assert.equal(formatFixed3(0.29999999999999993), '0.300');
  assert.equal(formatFixed3(-1), '-1.000');
  assert.equal(formatFixed3(1), '1.000');
});

test('formatSummary prints pycocotools summarize() lines exactly', () => {
  const text = formatSummary(evaluateCoco(gt, dt).stats);
  assert.equal(
    text,
    [
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.300',
      ' Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 1.000',
      ' Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.000',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000',
      ' Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.300',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.300',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.300',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.300',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = -1.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000',
      ' Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = 0.300',
    ].join('\n'),
  );
});

test('category table: name, id, AP, AP50, AP75, #gt; "-" without ground truth', () => {
  const g: CocoGroundTruth = { ...gt, categories: [...gt.categories, { id: 12, name: 'unseen' }] };
  const lines = formatCategoryTable(evaluateCoco(g, dt)).split('\n');
  assert.equal(lines[0], 'category     id      AP    AP50    AP75     #gt');
  assert.equal(lines[2], 'thing         1   0.300   1.000   0.000       1');
  assert.equal(lines[3], 'unseen       12       -       -       -       0');
});

test('json report: the 12 stats by name, then perCategory by id', () => {
  const j = toJsonReport(evaluateCoco(gt, dt));
  assert.deepEqual(Object.keys(j), [
    'AP',
    'AP50',
    'AP75',
    'APs',
    'APm',
    'APl',
    'AR1',
    'AR10',
    'AR100',
    'ARs',
    'ARm',
    'ARl',
    'perCategory',
  ]);
  assert.equal(j.AP, 0.29999999999999993);
  assert.equal(j.APs, -1);
  assert.deepEqual(j.perCategory, { '1': 0.29999999999999993 });
});
