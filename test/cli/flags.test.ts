// Every verb's command line as a user types it (bin/detkd.js in a child process), with libtorch
// forbidden (./no-libtorch.mjs): a bad flag, value or argument is one line naming it plus the
// verb's usage, exit 2, no stack trace; -h prints the usage and exits 0; --version.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { VERBS } from '../../src/cli/verbs.ts';
import { assertClean, detkdAll } from './run-detkd.ts';

/** Each verb, with what it needs besides the flag under test (nothing here is ever read). */
const LINES: Record<string, string[]> = {
  train: ['train', 'r.ts'],
  distill: ['distill', 'r.ts'],
  convert: ['convert', 'x.pth', '--from', 'torchvision', '--recipe', 'r.ts', '--out', 'o.safetensors'],
  compare: ['compare', 'r.ts', '--out', 'o'],
  demo: ['demo'],
  eval: ['eval', '--gt', 'g.json', '--results', 'd.json'],
  predict: ['predict', '--recipe', 'r.ts', '--checkpoint', 'c', '--out', 'o', 'a.png'],
  info: ['info', 'r.ts'],
  'data synth': ['data', 'synth', '--out', 'o'],
  'data check': ['data', 'check', '--ann', 'a.json', '--images', 'i'],
  'data hash': ['data', 'hash', 'dir'],
};

test('every verb is covered here', () => {
  assert.deepEqual(Object.keys(LINES).sort(), Object.keys(VERBS).sort());
});

test('an unknown flag on every verb: one line naming it, the usage, exit 2, no libtorch', async () => {
  const verbs = Object.keys(LINES);
  const runs = await detkdAll(
    verbs.map((v) => [...LINES[v]!, '--bogus']),
    { noLibtorch: true },
  );
  for (const [i, r] of runs.entries()) {
    const verb = verbs[i]!;
    assertClean(
      r,
      2,
      new RegExp(`^detkd ${verb}: unknown option '--bogus'\n\nusage: detkd ${verb.split(' ')[0]}`),
    );
    assert.equal(r.stdout, '');
  }
});

test('-h and --help on every verb print its usage on stdout and exit 0', async () => {
  const verbs = Object.keys(LINES);
  const runs = await detkdAll(
    verbs.map((v, i) => [...LINES[v]!, i % 2 === 0 ? '-h' : '--help']),
    { noLibtorch: true },
  );
  for (const [i, r] of runs.entries()) {
    const verb = verbs[i]! as keyof typeof VERBS;
    assertClean(r, 0);
    assert.equal(r.stdout, `${VERBS[verb].usage}\n`);
    assert.equal(r.stderr, '');
  }
});

test('bad values, missing values, wrong positionals, exclusive flags, a typo', async () => {
  const cases: [string[], RegExp][] = [
    [
      ['compare', 'r.ts', '--out', 'o', '--seeds', 'abc'],
      /^detkd compare: --seeds expects a positive integer, got 'abc'\n/,
    ],
    [['compare', 'r.ts'], /^detkd compare: --out DIR is required\n/],
    [
      [...LINES.predict!, '--score-thr', '1.5'],
      /^detkd predict: --score-thr expects a number in \[0, 1\], got '1\.5'\n/,
    ],
    [
      ['data', 'synth', '--out', 'o', '--seed', '-1'],
      /^detkd data synth: --seed expects a non-negative integer, got '-1'\n/,
    ],
    [['train', 'r.ts', '--out'], /^detkd train: --out needs a value\n/],
    [['train'], /^detkd train: missing RECIPE\n\nusage: detkd train/],
    [['train', 'a.ts', 'b.ts'], /^detkd train: unexpected argument 'b\.ts' \(expected one RECIPE\)\n/],
    [
      ['train', 'r.ts', '--resume', '--overwrite'],
      /^detkd train: --resume and --overwrite exclude each other\n/,
    ],
    [
      ['distill', 'r.ts', '--overwrit'],
      /^detkd distill: unknown option '--overwrit' \(did you mean --overwrite\?\)\n/,
    ],
    [
      ['eval', '--gt', 'g.json', '--recipe', 'r.ts'],
      /^detkd eval: use either --gt\/--results or --recipe\/--checkpoint, not both\n\nusage: detkd eval/,
    ],
    [['info', 'r.ts', '--input', 'big'], /^detkd info: --input expects HxW, e.g. 800x1333, got 'big'\n/],
    [['trian'], /^detkd: unknown command 'trian' \(did you mean 'train'\?\)\n/],
  ];
  const runs = await detkdAll(
    cases.map(([a]) => a),
    { noLibtorch: true },
  );
  for (const [i, r] of runs.entries()) assertClean(r, 2, cases[i]![1]);
});

test('--version and -V print the package version; the top-level usage has one line per verb', async () => {
  const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  const [v, V, help, none] = await detkdAll([['--version'], ['-V'], ['--help'], []], { noLibtorch: true });
  for (const r of [v!, V!]) {
    assertClean(r, 0);
    assert.equal(r.stdout, `detkd ${version}\n`);
  }
  assertClean(help!, 0);
  for (const verb of ['train', 'distill', 'compare', 'demo', 'eval', 'predict', 'info'] as const) {
    assert.match(help!.stdout, new RegExp(`\n  ${verb} +${VERBS[verb].summary.replace(/[()]/g, '\\$&')}\n`));
  }
  assert.match(help!.stdout, /\n {2}data +make the synthetic dataset/);
  assertClean(none!, 2, /^usage: detkd <command>/);
});
