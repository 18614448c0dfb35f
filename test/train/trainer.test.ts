// Trainer end to end on a tiny task: loss falls, JSONL log, plain lines / bar, evaluation every N
// epochs with `best`, NaN guard, frozen parameters, checkpoints written atomically.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DetkdError } from '../../src/core/errors.ts';
import { loadStateDictFile } from '../../src/core/serialize.ts';
import { dispose, memoryInfo, tidy } from '../../src/core/tensor.ts';
import {
  JsonlLog,
  NonFiniteError,
  readCheckpoint,
  Trainer,
  type TrainerOptions,
} from '../../src/train/index.ts';
import { Collector, type TinyTask, tinySource, tinyTask, weightsHash } from './tiny-task.ts';

const root = mkdtempSync(join(tmpdir(), 'detkd-train-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function runDir(): string {
  return join(root, `run${n++}`);
}

function opts(over: Partial<TrainerOptions> = {}): TrainerOptions {
  return {
    runDir: runDir(),
    epochs: 3,
    seed: 7,
    logInterval: 5,
    progress: 'lines',
    out: new Collector(),
    optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, weightDecay: 1e-4 },
    lr: { rule: { kind: 'multistep', milestones: [2] }, byEpoch: true, warmup: { iters: 4, ratio: 0.1 } },
    clipGrad: { maxNorm: 35 },
    ...over,
  };
}

function lastState(dir: string): { iter: number; epoch: number; step: number } {
  const ck = readCheckpoint(join(dir, 'last.safetensors'));
  dispose([...ck.model.values(), ...ck.optim.values(), ck.rng]);
  return ck.state.next;
}

test('loss falls; log.jsonl lines parse and carry every term; plain lines when not a TTY', async () => {
  const out = new Collector(false);
  const o = opts({
    out,
    progress: 'auto',
    epochs: 4,
    lr: { rule: { kind: 'multistep', milestones: [2] }, byEpoch: true, warmup: { iters: 8, ratio: 0.1 } },
  });
  const before = memoryInfo().handles;
  const trainer = new Trainer(tinyTask(), tinySource(1, 10), o);
  const r = await trainer.fit();
  assert.equal(r.status, 'finished');
  assert.deepEqual(r.next, { epoch: 4, step: 0, iter: 40 });
  const recs = new JsonlLog(join(o.runDir, 'log.jsonl')).read();
  const train = recs.filter((x) => x.type === 'train');
  assert.equal(train.length, 8); // every 5 iterations
  for (const t of train) {
    assert.equal(typeof t.iter, 'number');
    assert.equal(typeof t.epoch, 'number');
    assert.equal(typeof t.lr, 'number');
    assert.equal(typeof t.time, 'string');
    const l = t.losses as Record<string, number>;
    assert.deepEqual(Object.keys(l), ['loss', 'loss_a', 'loss_b']);
    assert.ok(Math.abs(l.loss! - l.loss_a! - l.loss_b!) < 1e-5, JSON.stringify(t));
    assert.ok(Number.isFinite(t.grad_norm), JSON.stringify(t));
  }
  assert.deepEqual(
    train.map((t) => t.iter),
    [4, 9, 14, 19, 24, 29, 34, 39],
  );
  const first = (train[0]!.losses as Record<string, number>).loss!;
  const last = (train.at(-1)!.losses as Record<string, number>).loss!;
  assert.ok(last < first * 0.5, `loss ${first} -> ${last}`);
  // warm-up then the milestone at epoch 2 (lr 0.05 -> 0.005)
  assert.ok((train[0]!.lr as number) < 0.05, 'warm-up');
  assert.equal(train[3]!.lr, 0.05);
  assert.ok(Math.abs((train.at(-1)!.lr as number) - 0.005) < 1e-12);
  // plain lines
  assert.doesNotMatch(out.text, /\r/);
  const lines = out.text.split('\n').filter((l) => l.startsWith('epoch '));
  assert.equal(lines.length, 8);
  assert.match(
    lines[2]!,
    /^epoch 2\/4 iter 5\/10 loss\(mean\) [\d.]+ \(loss_a [\d.e-]+, loss_b [\d.e-]+\) lr 0\.05 [\d.e-]+ s\/it eta \d+s$/,
  );
  // memory stays flat: the step's tensors and batches are freed
  assert.ok(memoryInfo().handles - before < 200, `${memoryInfo().handles - before} handles leaked`);
});

test('a bar on a TTY (redrawn with \\r), with lr, speed and ETA', async () => {
  const out = new Collector(true, 120);
  await new Trainer(tinyTask(), tinySource(1, 6), opts({ out, progress: 'auto', epochs: 1 })).fit();
  assert.ok(out.text.includes('\r\x1b[2Kepoch 1/1 6/6 ['), 'the bar is redrawn in place');
  assert.match(out.text, /epoch 1\/1 6\/6 \[#+\] 100% loss\(ema\) [\d.]+ \(loss_a/);
  assert.match(out.text, /lr [\d.e-]+ [\d.]+ (it\/s|s\/it) eta \d+s/);
  assert.match(out.text, /finished: 6 iterations/);
  for (const l of out.text.split(/\r|\n/)) assert.ok(l.length <= 120 + 4);
});

test('evaluation every N epochs and at the end; best follows the metric (max and min)', async () => {
  const task = tinyTask({
    metrics: [
      { AP: 0.2, AR: 1 },
      { AP: 0.5, AR: 1 },
      { AP: 0.4, AR: 0 },
    ],
  });
  const o = opts({ epochs: 5, evalInterval: 2, best: { metric: 'AP' } });
  const r = await new Trainer(task, tinySource(2, 3), o).fit();
  assert.deepEqual(
    task.evalCalls.map((c) => [c.epoch, c.iter, c.training]),
    [
      [2, 6, false],
      [4, 12, false],
      [5, 15, false],
    ],
  );
  assert.equal(task.module.training, true);
  assert.deepEqual(r.best, { metric: 'AP', mode: 'max', value: 0.5, epoch: 4, iter: 12 });
  assert.equal(r.history.length, 3);
  const best = readCheckpoint(join(o.runDir, 'best.safetensors'));
  assert.deepEqual(best.state.next, { epoch: 4, step: 0, iter: 12 });
  assert.equal(best.state.reason, 'best');
  dispose([...best.model.values(), ...best.optim.values(), best.rng]);
  const deliverable = loadStateDictFile(join(o.runDir, 'model_best.safetensors'));
  assert.equal(JSON.parse(deliverable.metadata.info!).iter, 12);
  assert.ok(deliverable.tensors.has('conv.weight')); // plain keys
  dispose([...deliverable.tensors.values()]);
  const evals = new JsonlLog(join(o.runDir, 'log.jsonl')).read().filter((x) => x.type === 'eval');
  assert.deepEqual(
    evals.map((e) => e.best),
    [true, true, false],
  );
  assert.ok(existsSync(join(o.runDir, 'model_final.safetensors')));

  const t2 = tinyTask({ metrics: [{ loss: 3 }, { loss: 1 }, { loss: 2 }] });
  const r2 = await new Trainer(
    t2,
    tinySource(2, 3),
    opts({ epochs: 3, best: { metric: 'loss', mode: 'min' } }),
  ).fit();
  assert.equal(r2.best?.value, 1);
  assert.equal(r2.best?.epoch, 2);
});

test('iteration-based length: ends mid-epoch, evaluates at the end', async () => {
  const task = tinyTask();
  const r = await new Trainer(
    task,
    tinySource(2, 4),
    opts({ epochs: undefined, iters: 10, evalInterval: 1 }),
  ).fit();
  assert.deepEqual(r.next, { epoch: 2, step: 2, iter: 10 });
  assert.deepEqual(
    task.evalCalls.map((c) => c.iter),
    [4, 8, 10],
  );
});

test('a missing best metric is an error naming the metrics there are', async () => {
  const task = tinyTask({ metrics: [{ AP50: 0.1 }] });
  await assert.rejects(
    new Trainer(task, tinySource(2, 2), opts({ epochs: 1, best: { metric: 'AP' } })).fit(),
    (e: Error) => e instanceof DetkdError && /'AP'.*AP50/.test(e.message),
  );
});

test('NaN guard: stops at the poisoned step naming term, iter and epoch; last keeps the good state', async () => {
  const spe = 5;
  const o = opts({ epochs: 3, checkpointInterval: 3 });
  const seen: number[] = [];
  let hashAt7: string | null = null;
  // Parameters only: the failing step's forward already updated BatchNorm's running stats.
  const paramsHash = (): string => weightsHash(task.module, { paramsOnly: true });
  const task: TinyTask = tinyTask({
    nanAt: 7,
    onIter: (c) => {
      seen.push(c.iter);
      if (c.iter === 7) hashAt7 = paramsHash();
    },
  });
  await assert.rejects(new Trainer(task, tinySource(3, spe), o).fit(), (e: Error) => {
    assert.ok(e instanceof NonFiniteError);
    assert.match(e.message, /loss term 'loss_b' is NaN at iter 7 \(epoch 1, step 2 of 5/);
    assert.match(e.message, /last good checkpoint is kept: .*last\.safetensors/);
    assert.equal(e.what, 'loss_b');
    assert.deepEqual(e.position, { epoch: 1, step: 2, iter: 7 });
    return true;
  });
  assert.equal(seen.at(-1), 7);
  // the poisoned step was not applied
  assert.equal(paramsHash(), hashAt7);
  // last: written at iters 3, 5 (epoch end) and 6; never at or after 7
  assert.deepEqual(lastState(o.runDir), { epoch: 1, step: 1, iter: 6 });
  const ck = readCheckpoint(join(o.runDir, 'last.safetensors'));
  for (const t of ck.model.values()) assert.ok(tidy(() => t.isfinite().all().item()));
  dispose([...ck.model.values(), ...ck.optim.values(), ck.rng]);
  const err = new JsonlLog(join(o.runDir, 'log.jsonl')).read().filter((x) => x.type === 'error');
  assert.equal(err.length, 1);
  assert.equal(err[0]!.iter, 7);
});

test('NaN guard also works without clipping (grad norm computed separately)', async () => {
  const o = opts({ epochs: 1, clipGrad: undefined });
  const task = tinyTask({ nanAt: 2 });
  await assert.rejects(new Trainer(task, tinySource(3, 4), o).fit(), /loss term 'loss_b' is NaN at iter 2/);
});

test('NaN guard: a gradient norm that overflows (finite loss) stops the run too', async () => {
  const o = opts({ epochs: 1 });
  await assert.rejects(
    new Trainer(tinyTask({ hugeGrad: 1e30 }), tinySource(3, 4), o).fit(),
    /the gradient norm is Infinity at iter 0 \(epoch 0, step 0 of 4/,
  );
});

test('only requiresGrad parameters reach the optimizer; frozen ones stay put', async () => {
  const task = tinyTask();
  const frozenBefore = weightsHash(task.module.frozen);
  const trainer = new Trainer(task, tinySource(4, 4), opts({ epochs: 1 }));
  const inOpt = new Set(trainer.optimizer.params());
  for (const p of task.module.frozen.parameters()) assert.ok(!inOpt.has(p));
  assert.equal(inOpt.size, task.module.trainableParameters().length);
  // decayGroups: conv/fc weights decay; biases and BN affine do not
  assert.equal(trainer.optimizer.paramGroups[0]!.params.length, 2);
  assert.equal(trainer.optimizer.paramGroups[1]!.params.length, 4);
  assert.equal(trainer.optimizer.paramGroups[1]!.weightDecay, 0);
  await trainer.fit();
  assert.equal(weightsHash(task.module.frozen), frozenBefore);
});

test('an existing run is not overwritten unless asked', async () => {
  const o = opts({ epochs: 1 });
  await new Trainer(tinyTask(), tinySource(1, 2), o).fit();
  await assert.rejects(new Trainer(tinyTask(), tinySource(1, 2), o).fit(), /pass resume: true/);
  const r = await new Trainer(tinyTask(), tinySource(1, 2), { ...o, overwrite: true, stopAtIter: 1 }).fit();
  assert.equal(r.status, 'stopped');
  assert.ok(!existsSync(join(o.runDir, 'model_final.safetensors')), "the old run's deliverable is gone");
});

test('checkpoints are atomic: a failed save leaves the previous last intact, and no temp file', async () => {
  const o = opts({ epochs: 2, checkpointInterval: 2 });
  const dir = o.runDir;
  const task = tinyTask({
    // After the checkpoint at iter 2, block the temp file the next save will write: opening it
    // fails (EISDIR), like a full disk or a crash mid-write.
    onIter: (c) => {
      if (c.iter === 3) mkdirSync(join(dir, `last.safetensors.tmp-${process.pid}`));
    },
  });
  await assert.rejects(new Trainer(task, tinySource(5, 5), o).fit(), /last\.safetensors: cannot write/);
  assert.deepEqual(lastState(dir), { epoch: 0, step: 2, iter: 2 });
  rmSync(join(dir, `last.safetensors.tmp-${process.pid}`), { recursive: true });
  assert.deepEqual(readdirSync(dir).sort(), ['last.safetensors', 'log.jsonl']);
  // the run resumes from it
  const r = await new Trainer(tinyTask(), tinySource(5, 5), { ...o, resume: true }).fit();
  assert.equal(r.status, 'finished');
  assert.equal(r.next.iter, 10);
});

test('a checkpoint holds model, optimizer, RNG, scheduler, position, recipe, history and version', async () => {
  const recipe = { model: 'tiny', lr: [0.05, { warm: 4 }] };
  const o = opts({ epochs: 2, recipe, optimizer: { kind: 'adamw', lr: 1e-3 } });
  await new Trainer(tinyTask(), tinySource(6, 3), o).fit();
  const ck = readCheckpoint(join(o.runDir, 'last.safetensors'));
  assert.deepEqual(ck.recipe, recipe);
  assert.match(ck.detkdVersion, /^\d+\.\d+\.\d+/);
  assert.equal(ck.state.finished, true);
  assert.equal(ck.state.optimizer.kind, 'adamw');
  assert.equal(ck.state.scheduler.iter, 5);
  assert.deepEqual(
    ck.state.history.map((h) => h.iter),
    [3, 6],
  );
  assert.ok(ck.rng !== null && ck.rng.dtype === 'uint8');
  assert.ok(ck.model.has('bn.running_mean'));
  assert.ok([...ck.optim.keys()].some((k) => /^state\.\d+\.exp_avg_sq$/.test(k)));
  dispose([...ck.model.values(), ...ck.optim.values(), ck.rng]);
});

test('nanGuard off: values read back only at log intervals; same weights and logged losses', async () => {
  const a = opts({ epochs: 2 });
  const b = opts({ epochs: 2, nanGuard: false });
  const ta = tinyTask();
  const tb = tinyTask();
  await new Trainer(ta, tinySource(8, 6), a).fit();
  await new Trainer(tb, tinySource(8, 6), b).fit();
  assert.equal(weightsHash(ta.module), weightsHash(tb.module));
  const strip = (dir: string): unknown[] =>
    new JsonlLog(join(dir, 'log.jsonl'))
      .read()
      .filter((r) => r.type === 'train')
      .map((r) => [r.iter, r.losses, r.grad_norm]);
  assert.deepEqual(strip(b.runDir), strip(a.runDir));
});

test('weights that overflow under a finite gradient are never checkpointed', async () => {
  // gradient 1e18 (finite, and so is its norm), lr 1e22: the update overflows float32
  const o = opts({
    epochs: 1,
    checkpointInterval: 1,
    optimizer: { kind: 'sgd', lr: 1e22 },
    lr: undefined,
    clipGrad: undefined,
  });
  await assert.rejects(new Trainer(tinyTask({ hugeGrad: 1e18 }), tinySource(9, 4), o).fit(), (e: Error) => {
    assert.ok(e instanceof NonFiniteError);
    assert.match(e.message, /parameter 'fc\.bias' is not finite before iter 1; nothing was saved/);
    assert.match(e.message, /no checkpoint had been written yet/);
    return true;
  });
  assert.ok(!existsSync(join(o.runDir, 'last.safetensors')));
});
