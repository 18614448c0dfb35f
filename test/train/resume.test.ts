// Exact resume: a run stopped (cleanly, by a crash, or by SIGKILL at any moment) and resumed
// from `last` reaches bit-identical weights to one that never stopped.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { manualSeed } from '../../src/core/random.ts';
import { dispose } from '../../src/core/tensor.ts';
import { JsonlLog, readCheckpoint, Trainer, type TrainerOptions } from '../../src/train/index.ts';
import { resumeOptions, SOURCE_SEED, STEPS_PER_EPOCH } from './recipe.ts';
import { type TinyTaskOptions, tinySource, tinyTask, weightsHash } from './tiny-task.ts';

const root = mkdtempSync(join(tmpdir(), 'detkd-resume-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dir = (): string => join(root, `run${n++}`);

async function train(
  kind: 'sgd' | 'adamw',
  runDir: string,
  over: Partial<TrainerOptions> = {},
  taskOpts: TinyTaskOptions = {},
): Promise<{ hash: string; optimHash: string; status: string; iter: number }> {
  // A resumed run starts in a new process: the global generator must come from the checkpoint.
  if (over.resume === true) manualSeed(987654321);
  const task = tinyTask(taskOpts);
  const trainer = new Trainer(
    task,
    tinySource(SOURCE_SEED, STEPS_PER_EPOCH),
    resumeOptions(runDir, kind, over),
  );
  const r = await trainer.fit();
  const ck = readCheckpoint(join(runDir, 'last.safetensors'));
  const optimHash = [...ck.optim.entries()]
    .map(([k, t]) => `${k}:${Buffer.from(t.toTypedArray().buffer).toString('base64')}`)
    .join(';');
  dispose([...ck.model.values(), ...ck.optim.values(), ck.rng]);
  return { hash: weightsHash(task.module), optimHash, status: r.status, iter: r.next.iter };
}

const straight = new Map<string, { hash: string; optimHash: string }>();
async function reference(kind: 'sgd' | 'adamw'): Promise<{ hash: string; optimHash: string }> {
  let r = straight.get(kind);
  if (r === undefined) {
    r = await train(kind, dir());
    straight.set(kind, r);
  }
  return r;
}

for (const kind of ['sgd', 'adamw'] as const) {
  test(`${kind}: stop mid-epoch, resume -> bit-identical weights and optimizer state`, async () => {
    const ref = await reference(kind);
    const d = dir();
    const a = await train(kind, d, { stopAtIter: 7 });
    assert.equal(a.status, 'stopped');
    assert.equal(a.iter, 7);
    assert.notEqual(a.hash, ref.hash);
    const b = await train(kind, d, { resume: true });
    assert.equal(b.status, 'finished');
    assert.equal(b.iter, 20);
    assert.equal(b.hash, ref.hash);
    assert.equal(b.optimHash, ref.optimHash);
    // resuming a finished run does nothing
    const c = await train(kind, d, { resume: true });
    assert.equal(c.hash, ref.hash);
  });
}

test('crash (an exception) after an interval checkpoint; resume redoes the lost iterations exactly', async () => {
  const ref = await reference('sgd');
  const d = dir();
  await assert.rejects(
    train('sgd', d, { checkpointInterval: 4 }, { crashAt: 14 }),
    /simulated crash at iter 14/,
  );
  assert.equal(readCheckpoint(join(d, 'last.safetensors')).state.next.iter, 12);
  const b = await train('sgd', d, { resume: true });
  assert.equal(b.hash, ref.hash);
  // log.jsonl: the iterations after the checkpoint are not logged twice
  const iters = new JsonlLog(join(d, 'log.jsonl'))
    .read()
    .filter((r) => r.type === 'train')
    .map((r) => Number(r.iter));
  assert.deepEqual(
    iters,
    [...new Set(iters)].sort((x, y) => x - y),
  );
  const evals = new JsonlLog(join(d, 'log.jsonl')).read().filter((r) => r.type === 'eval');
  assert.deepEqual(
    evals.map((e) => e.iter),
    [10, 20],
  );
});

test('abort signal stops after the current iteration and writes last; resume is exact', async () => {
  const ref = await reference('adamw');
  const d = dir();
  const ac = new AbortController();
  const a = await train('adamw', d, { signal: ac.signal }, { onIter: (c) => c.iter === 12 && ac.abort() });
  assert.equal(a.status, 'stopped');
  assert.equal(a.iter, 13);
  const b = await train('adamw', d, { resume: true });
  assert.equal(b.hash, ref.hash);
});

test('a different seed or epoch length refuses to resume', async () => {
  const d = dir();
  await train('sgd', d, { stopAtIter: 3 });
  await assert.rejects(train('sgd', d, { resume: true, seed: 4 }), /seed 3, this run has seed 4/);
  const task = tinyTask();
  await assert.rejects(
    new Trainer(task, tinySource(SOURCE_SEED, 6), resumeOptions(d, 'sgd', { resume: true })).fit(),
    /5 steps per epoch, the data source has 6/,
  );
});

test('SIGKILL at an arbitrary moment (checkpoint every iteration): last is whole, resume is exact', async () => {
  const ref = await reference('sgd');
  const d = dir();
  // A stale temp file from an earlier crash must be ignored.
  await train('sgd', d, { stopAtIter: 1 });
  writeFileSync(join(d, 'last.safetensors.tmp-999999'), 'garbage from a killed writer');
  const script = fileURLToPath(new URL('./child-train.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, d, 'sgd'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const killedAt = await new Promise<number>((resolve, reject) => {
    let lines = 0;
    child.stdout.on('data', (b: Buffer) => {
      lines += b.toString().split('\n').length - 1;
      // kill a little while after the 9th iteration's line, at no particular point of the loop
      if (lines >= 9 && child.exitCode === null && !child.killed) {
        setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 20));
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`child exited ${code} before the kill: ${stderr}`));
    });
  });
  assert.ok(killedAt >= 9);
  const ck = readCheckpoint(join(d, 'last.safetensors'));
  const at = ck.state.next.iter;
  dispose([...ck.model.values(), ...ck.optim.values(), ck.rng]);
  assert.ok(at >= 8 && at < 20, `checkpoint at ${at}`);
  const b = await train('sgd', d, { resume: true });
  assert.equal(b.status, 'finished');
  assert.equal(b.hash, ref.hash);
  assert.ok(readdirSync(d).includes('last.safetensors'));
});
