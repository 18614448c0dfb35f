// Recipes as a user meets them, through the real command (bin/detkd.js), from a folder outside
// the checkout with no package.json and no node_modules (where users keep recipes with their
// data). A mistake exits 1 with one clean message naming the file, the key path and the nearest
// key, before libtorch is loaded (native-probe.mjs reports the addons the process opened); a
// recipe importing from 'detkd' loads, and its tensors are the CLI's.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'detkd.js');
const PROBE = pathToFileURL(join(ROOT, 'test', 'recipes', 'native-probe.mjs')).href;

const dir = mkdtempSync(join(tmpdir(), 'detkd-recipes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A small valid recipe; `data.synth.dir` is never generated (nothing here trains). */
const BASE = {
  name: 'outside',
  description: 'a recipe kept outside the checkout',
  data: {
    synth: { preset: 'tiny', seed: 0, dir: 'never-generated' },
    resize: { kind: 'fixed', height: 64, width: 64 },
    batchSize: 2,
    numWorkers: 0,
  },
  model: {
    kind: 'gfl',
    numClasses: 13,
    backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' },
    channels: 16,
    stackedConvs: 1,
    numLevels: 3,
  },
  train: { iters: 1, optimizer: { kind: 'sgd', lr: 0.02, momentum: 0.9 } },
};

function write(name: string, source: string): string {
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  /** detkd's native addons the process opened. */
  native: string[];
}

function detkd(...args: string[]): Run {
  const env = { ...process.env };
  delete env.DETKD_DEBUG;
  const r = spawnSync(process.execPath, ['--import', PROBE, BIN, ...args], {
    cwd: dir,
    env,
    encoding: 'utf8',
    timeout: 120_000,
  });
  const probe = /^native-probe: (.*)$/m.exec(r.stderr);
  assert.ok(probe, `no report from the native probe:\n${r.stderr}`);
  return {
    status: r.status,
    stdout: r.stdout,
    stderr: r.stderr.replace(/^native-probe: .*\n/m, ''),
    native: JSON.parse(probe[1]!) as string[],
  };
}

/** The error was printed as a message: no stack frames. */
function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, stderr);
}

describe('recipe mistakes: exit 1, the file, the key path and the nearest key; libtorch not loaded', () => {
  test('misspelt keys (model.numClasess, train.lerningRate) in a defineRecipe from detkd/app/recipe', () => {
    const { numClasses: _n, ...model } = BASE.model;
    const bad = { ...BASE, model: { ...model, numClasess: 13 }, train: { ...BASE.train, lerningRate: 0.02 } };
    write(
      'typos.ts',
      `import { defineRecipe } from 'detkd/app/recipe';\nexport const recipe = defineRecipe(${JSON.stringify(bad, null, 2)});\n`,
    );
    const r = detkd('train', 'typos.ts');
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr.split('\n').slice(0, 3).join('\n'),
      [
        'detkd: recipe typos.ts:',
        "  - unknown key 'model.numClasess' (did you mean 'model.numClasses'?)",
        "  - unknown key 'train.lerningRate' (did you mean 'train.lr'? the lr schedule ({ rule, byEpoch, warmup }); the base lr is optimizer.lr)",
      ].join('\n'),
    );
    assertNoStack(r.stderr);
    assert.deepEqual(r.native, []);
  });

  test("a wrong type (optimizer lr: '0.02') in a plain exported object", () => {
    const bad = { ...BASE, train: { ...BASE.train, optimizer: { kind: 'sgd', lr: '0.02' } } };
    const path = write('wrong-type.ts', `export const recipe = ${JSON.stringify(bad, null, 2)};\n`);
    const r = detkd('train', path);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `detkd: recipe ${path}: 'train.optimizer.lr' must be number, got a string ("0.02")`,
    );
    assert.deepEqual(r.native, []);
  });

  test('a syntax error shows the compiler message with file, line and column', () => {
    write('syntax.ts', "export const recipe = {\n  name: 'x',\n  description: 'y',,\n};\n");
    const r = detkd('train', 'syntax.ts');
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /^detkd: recipe syntax\.ts: syntax error\n {2}syntax\.ts:3:20: Expected identifier but found ","\n/,
    );
    // The source line, and a caret under the offending (second) comma.
    const lines = r.stderr.split('\n');
    assert.equal(lines[2], "      3 |   description: 'y',,");
    assert.equal(lines[3]!.indexOf('^'), lines[2]!.lastIndexOf(','));
    assert.doesNotMatch(r.stderr, /Transform failed/);
    assertNoStack(r.stderr);
    assert.deepEqual(r.native, []);
  });
});

test("a recipe outside the checkout imports from 'detkd' and shares the CLI's Tensor class", () => {
  // The CLI's modules import src/core/tensor.ts by path; the recipe gets its Tensor from 'detkd'.
  const cliTensor = pathToFileURL(join(ROOT, 'src', 'core', 'tensor.ts')).href;
  write(
    'outside.ts',
    [
      "import { defineRecipe, ld, Tensor, tensor } from 'detkd';",
      `import { Tensor as CliTensor } from '${cliTensor}';`,
      'const t = tensor([1, 2, 3]);',
      "console.log('same Tensor:', t instanceof CliTensor && Tensor === CliTensor, '; ld:', typeof ld);",
      `export const recipe = defineRecipe(${JSON.stringify(BASE)});`,
      '',
    ].join('\n'),
  );
  const r = detkd('info', join(dir, 'outside.ts'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^same Tensor: true ; ld: function$/m);
  assert.match(r.stdout, /^model: gfl, 13 classes; input 1x3x64x64$/m);
  // The probe does see libtorch when it loads (so the empty lists above mean something).
  assert.equal(r.native.length, 1);
});
