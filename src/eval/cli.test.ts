// `detkd eval --gt/--results`: the command module (src/cli/commands/eval-results.ts), run in-process
// and through bin/detkd.js.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { command, evalResults } from '../cli/commands/eval-results.ts';
import { DetkdError } from '../core/errors.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const FIX = join(ROOT, 'test', 'fixtures', 'coco-eval');
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as {
  stat_names: string[];
  cases: Record<string, { stats: number[]; per_category_ap: Record<string, number> }>;
};

test('--json prints one object with the 12 stats and perCategory', () => {
  const out: string[] = [];
  evalResults(
    {
      gt: join(FIX, 'cases', 'perfect', 'gt.json'),
      results: join(FIX, 'cases', 'perfect', 'dt.json'),
      json: true,
    },
    (t) => out.push(t),
  );
  assert.equal(out.length, 1);
  const j = JSON.parse(out[0]!) as Record<string, unknown>;
  const exp = expected.cases['perfect']!;
  for (const [i, n] of expected.stat_names.entries()) assert.equal(j[n], exp.stats[i], n);
  assert.deepEqual(j['perCategory'], exp.per_category_ap);
});

test('text output: pycocotools lines, then the category table', () => {
  const out: string[] = [];
  evalResults(
    { gt: join(FIX, 'edge', 'categories', 'gt.json'), results: join(FIX, 'edge', 'categories', 'dt.json') },
    (t) => out.push(t),
  );
  const text = out.join('');
  const lines = text.split('\n');
  assert.equal(lines[0], ' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500');
  assert.equal(lines[12], '');
  assert.match(lines[13]!, /^category +id +AP +AP50 +AP75 +#gt$/);
  assert.match(text, /\ncat2 +2 +0\.000 +0\.000 +0\.000 +1\n/);
  assert.match(text, /1 detection\(s\) with a category id not in .*gt\.json were dropped/);
});

test('errors: a missing recipe file, missing flags, bad files', async () => {
  await assert.rejects(command.run(['--recipe', 'r.ts', '--checkpoint', 'c']), (e: unknown) => {
    return e instanceof DetkdError && /recipe r\.ts: file not found/.test(e.message);
  });
  await assert.rejects(command.run(['--gt', 'a.json']), /--results is required/);
  await assert.rejects(command.run(['--frobnicate']), DetkdError);
  const dir = mkdtempSync(join(tmpdir(), 'detkd-eval-'));
  const dt = join(dir, 'dt.json');
  writeFileSync(dt, JSON.stringify([{ image_id: 1, category_id: 1, bbox: [0, 0, 5], score: 0.2 }]));
  const gt = join(FIX, 'cases', 'single_pair', 'gt.json');
  assert.throws(
    () => evalResults({ gt, results: dt }, () => {}),
    /dt\.json: results\[0\]\.bbox must be 4 finite/,
  );
  assert.throws(
    () => evalResults({ gt: join(dir, 'nope.json'), results: dt }, () => {}),
    /cannot read .*nope\.json/,
  );
});

test('bin/detkd.js eval --json end to end', () => {
  const r = spawnSync(
    process.execPath,
    [
      join(ROOT, 'bin', 'detkd.js'),
      'eval',
      '--gt',
      join(FIX, 'cases', 'single_pair', 'gt.json'),
      '--results',
      join(FIX, 'cases', 'single_pair', 'dt.json'),
      '--json',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as Record<string, number>;
  assert.equal(j['AP'], 0.29999999999999993);
  assert.equal(j['AP50'], 0.9999999999999999);
  const help = spawnSync(process.execPath, [join(ROOT, 'bin', 'detkd.js'), 'eval', '--help'], {
    encoding: 'utf8',
  });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: detkd eval --gt GT\.json --results DT\.json \[--json\]/);
});
