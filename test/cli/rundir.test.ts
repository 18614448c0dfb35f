// Run directories as `detkd train` meets them (a child process each): a previous run is kept
// unless --resume or --overwrite says what to do with it, and that is checked before any data is
// read; --resume on a folder with no checkpoint starts fresh and says so; the temp files of a
// killed atomic write are removed, a live process's are not. `eval --recipe` checks that the
// checkpoint fits before it reads a dataset.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type CliWorld, makeWorld } from './fixture.ts';
import { assertClean, detkd } from './run-detkd.ts';

let w: CliWorld;
before(async () => {
  w = await makeWorld();
});
after(() => rmSync(w.dir, { recursive: true, force: true }));

/** The parts of the fixture's recipe object the tests change. */
interface RecipeJson {
  data: { train: { ann: string }; val: { ann: string } };
  model: { numClasses: number };
}

/** A copy of the fixture's recipe under `name`, with `edit` applied to its object. */
function recipeVariant(name: string, edit: (r: RecipeJson) => void): string {
  const src = readFileSync(w.recipe, 'utf8');
  const r = JSON.parse(src.slice(src.indexOf('{'), src.lastIndexOf('}') + 1)) as RecipeJson;
  edit(r);
  const path = join(w.dir, `${name}.ts`);
  writeFileSync(path, `export const recipe = ${JSON.stringify(r, null, 2)};\n`);
  return path;
}

/** A process id no process has now: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  assert.equal(r.status, 0);
  return r.pid;
}

test('a previous run without --resume/--overwrite is refused, before the (missing) data is read', async () => {
  const gone = recipeVariant('gone', (r) => {
    r.data.train.ann = join(w.dir, 'no-such-train.json');
    r.data.val.ann = join(w.dir, 'no-such-val.json');
  });
  const out = join(w.dir, 'prev');
  mkdirSync(out);
  copyFileSync(w.checkpointFile, join(out, 'last.safetensors'));
  const r = await detkd(['train', gone, '--out', out]);
  assertClean(r, 1);
  assert.equal(
    r.stderr.trim(),
    `detkd: ${out} holds a previous run (${join(out, 'last.safetensors')}): pass --resume to continue it, or --overwrite to start over (its checkpoints are deleted)`,
  );
  assert.ok(existsSync(join(out, 'last.safetensors')), 'the previous run is untouched');
});

test('--resume on a folder without a checkpoint starts fresh and says so; stale temp files go, live ones stay', async () => {
  const out = join(w.dir, 'fresh');
  mkdirSync(out);
  const dead = deadPid();
  const stale = [`last.safetensors.tmp-${dead}`, `log.jsonl.tmp-${dead}`];
  for (const f of stale) writeFileSync(join(out, f), 'half a file');
  // This test process is alive: a file named for it might be mid-write and must stay.
  const live = `best.safetensors.tmp-${process.pid}`;
  writeFileSync(join(out, live), 'being written');
  const r = await detkd(['train', w.recipe, '--out', out, '--resume']);
  assertClean(r, 0);
  assert.match(
    r.stdout,
    new RegExp(`--resume: ${out} has no checkpoint \\(last\\.safetensors\\) yet; starting fresh`),
  );
  assert.match(r.stdout, new RegExp(`removed 2 temporary file\\(s\\) a killed run left in ${out}: `));
  for (const f of stale) assert.ok(!existsSync(join(out, f)), `${f} removed`);
  assert.ok(existsSync(join(out, live)), `${live} kept`);
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { status: string };
  assert.equal(result.status, 'finished');
});

test('eval --recipe refuses a checkpoint of another detector before reading the (missing) val set', async () => {
  const three = recipeVariant('three-gone', (r) => {
    r.model.numClasses = 3;
    r.data.train.ann = join(w.dir, 'no-such-train.json');
    r.data.val.ann = join(w.dir, 'no-such-val.json');
  });
  const r = await detkd(['eval', '--recipe', three, '--checkpoint', w.modelFile]);
  assertClean(r, 1, new RegExp(`^detkd: checkpoint ${w.modelFile} does not fit recipe 'clitest'`));
  assert.doesNotMatch(r.stderr, /no-such/);
});
