// How the CLI ends on an error: a mistake the user made (DetkdError, the NaN guard's
// NonFiniteError) is one `detkd: ...` line without a stack trace, anything else is an internal
// error with its stack, DETKD_DEBUG=1 shows stacks always; an empty dataset is named, in
// `data check` and in `train`.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { formatError } from '../../src/cli/main.ts';
import { DetkdError } from '../../src/core/errors.ts';
import { NonFiniteError } from '../../src/train/trainer.ts';
import { makeWorld } from './fixture.ts';
import { assertClean, detkd, detkdAll } from './run-detkd.ts';

const dir = mkdtempSync(join(tmpdir(), 'detkd-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('formatError: user errors without a stack, internal errors with one, DETKD_DEBUG with both', () => {
  assert.equal(
    formatError(new DetkdError('recipe r.ts: no such file'), false),
    'detkd: recipe r.ts: no such file',
  );
  const nan = new NonFiniteError('loss is NaN at iter 3 (runs/x): lower the learning rate', 'loss', {
    epoch: 0,
    step: 3,
    iter: 3,
  });
  assert.equal(formatError(nan, false), `detkd: ${nan.message}`);
  // A subclass of a second copy of DetkdError (a recipe importing detkd through another path).
  const Copy = class DetkdError extends Error {};
  class RecipeProblem extends Copy {}
  assert.equal(formatError(new RecipeProblem('recipe r.ts: bad key'), false), 'detkd: recipe r.ts: bad key');
  const bug = new TypeError("Cannot read properties of undefined (reading 'shape')");
  const text = formatError(bug, false);
  assert.match(
    text,
    /^detkd: internal error \(a bug in detkd; please report it with what follows\)\nTypeError: Cannot read/,
  );
  assert.match(text, /\n\s+at /);
  const debug = formatError(new DetkdError('bad flag'), true);
  assert.match(debug, /^detkd: bad flag\nDetkdError: bad flag\n\s+at /);
  assert.equal(
    formatError('a string', false),
    'detkd: internal error (a bug in detkd; please report it with what follows)\na string',
  );
});

test('a user error through the real command: no stack, exit 1; DETKD_DEBUG=1 adds it', async () => {
  const missing = join(dir, 'missing.json');
  const args = ['eval', '--gt', missing, '--results', missing];
  const [plain, debug] = [
    await detkd(args, { noLibtorch: true }),
    await detkd(args, { noLibtorch: true, env: { DETKD_DEBUG: '1' } }),
  ];
  assertClean(plain!, 1, new RegExp(`^detkd: .*${missing}`));
  assert.equal(plain!.stderr.split('\n').filter((l) => l !== '').length, 1, plain!.stderr);
  assert.equal(debug!.code, 1);
  assert.match(debug!.stderr, /\n\s+at /);
});

/** A COCO json with these images and annotations (one category). */
function coco(name: string, images: object[], annotations: object[]): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ images, annotations, categories: [{ id: 1, name: 'box' }] }));
  return path;
}

test('an empty dataset: data check exits 1 naming the file; train fails naming the annotation file', async () => {
  const noImages = coco('no-images.json', [], []);
  // The image file need not exist: data check reads headers only of listed images, and there is a problem
  // either way; the 'no annotation' case uses a real PNG.
  const png = join(dir, 'a.png');
  const { encodePng } = await import('../../src/data/decode.ts');
  writeFileSync(png, await encodePng({ data: new Uint8Array(8 * 8 * 3), height: 8, width: 8 }));
  const noAnns = coco('no-anns.json', [{ id: 1, file_name: 'a.png', width: 8, height: 8 }], []);
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  const recipe = join(dir, 'empty.ts');
  const r = {
    name: 'empty',
    description: 'a recipe whose train set has no images',
    data: {
      train: { ann: noImages, images: dir },
      val: { ann: noAnns, images: dir },
      resize: { kind: 'fixed', height: 32, width: 32 },
      batchSize: 1,
      numWorkers: 0,
    },
    model: {
      kind: 'gfl',
      numClasses: 1,
      backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' },
      channels: 16,
      stackedConvs: 1,
      numLevels: 3,
    },
    train: { epochs: 1, optimizer: { kind: 'sgd', lr: 0.01 }, seed: 0 },
  };
  writeFileSync(recipe, `export const recipe = ${JSON.stringify(r, null, 2)};\n`);
  const [c1, c2, t] = await detkdAll([
    ['data', 'check', '--ann', noImages, '--images', dir],
    ['data', 'check', '--ann', noAnns, '--images', dir],
    ['train', recipe, '--out', join(dir, 'run')],
  ]);
  assertClean(c1!, 1);
  assert.match(c1!.stdout, new RegExp(`\n${noImages}: 'images' is empty\n$`));
  assertClean(c2!, 1);
  assert.match(c2!.stdout, new RegExp(`\n${noAnns}: 'annotations' is empty: there is no box to train on\n$`));
  assertClean(t!, 1);
  assert.equal(t!.stderr.trim(), `detkd: ${noImages}: 'images' is empty`);
});

test('a diverging run: the NaN guard says so without a stack, naming the term and the checkpoint kept', async () => {
  const w = await makeWorld();
  try {
    // A learning rate of 1e12: the first step is finite, the second forward is not.
    const src = readFileSync(w.recipe, 'utf8')
      .replace('"lr": 0.01', '"lr": 1e12')
      .replace('"epochs": 1', '"epochs": 3');
    const recipe = join(w.dir, 'nan.ts');
    writeFileSync(recipe, src);
    const out = join(w.dir, 'nan-run');
    const r = await detkd(['train', recipe, '--out', out]);
    assertClean(r, 1);
    assert.match(
      r.stderr,
      new RegExp(
        `^detkd: NaN guard: loss term 'loss_\\w+' is (NaN|Infinity|-Infinity) at iter 1 .*${join(out, 'last.safetensors')}\n$`,
      ),
    );
  } finally {
    rmSync(w.dir, { recursive: true, force: true });
  }
});
