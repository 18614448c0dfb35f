// Ctrl-C and SIGTERM in `detkd train`: the first signal finishes the step, writes a checkpoint,
// prints the command that continues the run and exits 130 / 143 without a stack trace; resuming
// with that very command reaches weights bit-identical to a run never stopped. One tiny recipe
// (20 steps per epoch, 2 epochs), trained four times: straight through; stopped by SIGINT in
// epoch 1; resumed and stopped by SIGTERM in epoch 2; resumed to the end. Exact resume holds at a
// fixed thread count, hence DETKD_NUM_THREADS=1 for every run.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gracefulStop, resumeCommand, shellQuote } from '../../src/cli/signals.ts';
import { encodePng } from '../../src/data/decode.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STEPS = 20;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs bin/detkd.js with `args` from the repository root; when a stdout line matches `at`, sends
 * `kill` once.
 */
function detkd(args: readonly string[], at?: RegExp, kill?: NodeJS.Signals): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, DETKD_NUM_THREADS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s;
      if (!sent && at !== undefined && kill !== undefined && stdout.split('\n').some((l) => at.test(l))) {
        sent = true;
        child.kill(kill);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
    });
    child.on('error', fail);
    child.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
  });
}

/** A safetensors file's tensors: the header's tensor index (metadata left out) and the data bytes. */
function tensors(path: string): { index: string; data: Buffer } {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const { __metadata__: _m, ...index } = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<
    string,
    unknown
  >;
  return { index: JSON.stringify(index), data: buf.subarray(8 + n) };
}

const dir = mkdtempSync(join(tmpdir(), 'detkd-signal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function world(): Promise<string> {
  const images: { id: number; file_name: string; height: number; width: number }[] = [];
  const anns: Record<string, unknown>[] = [];
  for (let i = 0; i < STEPS; i++) {
    const h = 48;
    const w = 48;
    const data = new Uint8Array(h * w * 3).fill(90);
    const x0 = 4 + (i % 5) * 4;
    const y0 = 6 + (i % 3) * 5;
    const size = 16 + (i % 4) * 3;
    for (let y = y0; y < y0 + size; y++) {
      for (let x = x0; x < x0 + size; x++)
        data.set(i % 2 === 0 ? [220, 30, 30] : [30, 30, 220], (y * w + x) * 3);
    }
    const name = `img${i}.png`;
    writeFileSync(join(dir, name), await encodePng({ data, height: h, width: w }));
    images.push({ id: i + 1, file_name: name, height: h, width: w });
    anns.push({
      id: i + 1,
      image_id: i + 1,
      category_id: i % 2 === 0 ? 1 : 2,
      bbox: [x0, y0, size, size],
      area: size * size,
      iscrowd: 0,
    });
  }
  const categories = [
    { id: 1, name: 'red' },
    { id: 2, name: 'blue' },
  ];
  writeFileSync(join(dir, 'train.json'), JSON.stringify({ images, annotations: anns, categories }));
  writeFileSync(
    join(dir, 'val.json'),
    JSON.stringify({
      images: images.slice(0, 2),
      annotations: anns.slice(0, 2),
      categories,
    }),
  );
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  const recipe = {
    name: 'signaltest',
    description: 'Ctrl-C test recipe',
    data: {
      train: { ann: join(dir, 'train.json'), images: dir },
      val: { ann: join(dir, 'val.json'), images: dir },
      resize: { kind: 'fixed', height: 48, width: 48 },
      batchSize: 1,
      numWorkers: 0,
    },
    model: {
      kind: 'gfl',
      numClasses: 2,
      backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' },
      channels: 16,
      stackedConvs: 1,
      numLevels: 3,
    },
    train: {
      epochs: 2,
      optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 },
      seed: 0,
      logInterval: 1,
      evalInterval: 2,
    },
  };
  const path = join(dir, 'recipe.ts');
  writeFileSync(path, `export const recipe = ${JSON.stringify(recipe, null, 2)};\n`);
  return path;
}

const noStack = (r: Run): void => {
  assert.doesNotMatch(r.stderr, /\n\s+at /, `a stack trace:\n${r.stderr}`);
};

/** The printed command that continues the run, as spawn arguments. */
function continueCommand(r: Run): { line: string; args: string[] } {
  const m = /To continue exactly where it stopped, run:\n {2}(.+)\n/.exec(r.stderr);
  assert.ok(m, `no resume command in:\n${r.stderr}`);
  const line = m[1]!;
  return { line, args: line.split(' ') };
}

/** The (1-based epoch, iter) the run reported stopping at. */
function stoppedAt(r: Run): { epoch: number; iter: number } {
  const m = /stopped at epoch (\d+), iter (\d+)/.exec(r.stdout);
  assert.ok(m, `no stop line in:\n${r.stdout}`);
  return { epoch: Number(m[1]), iter: Number(m[2]) };
}

test('SIGINT then SIGTERM mid-epoch: exit 130 / 143, the --resume command, bit-identical final weights', async () => {
  const recipe = await world();
  const ref = join(dir, 'ref');
  const run = join(dir, 'run');
  const straight = await detkd(['bin/detkd.js', 'train', recipe, '--out', ref]);
  assert.equal(straight.code, 0, straight.stderr);

  // --overwrite is dropped from the resume command (it would start over).
  const a = await detkd(
    ['bin/detkd.js', 'train', recipe, '--out', run, '--overwrite'],
    /^epoch 1\/2 iter 3\/20 /,
    'SIGINT',
  );
  assert.equal(a.code, 130, `exit ${a.code} ${a.signal}\n${a.stderr}`);
  noStack(a);
  const sa = stoppedAt(a);
  assert.equal(sa.epoch, 1);
  assert.ok(sa.iter >= 3 && sa.iter < STEPS, `stopped at iter ${sa.iter}: not mid-epoch`);
  const cmd = continueCommand(a);
  assert.equal(cmd.line, `bin/detkd.js train ${recipe} --out ${run} --resume`);

  const b = await detkd(cmd.args, /^epoch 2\/2 iter 2\/20 /, 'SIGTERM');
  assert.equal(b.code, 143, `exit ${b.code} ${b.signal}\n${b.stderr}`);
  noStack(b);
  assert.match(b.stdout, new RegExp(`resumed from .* at epoch 1, iter ${sa.iter}\\n`));
  const sb = stoppedAt(b);
  assert.equal(sb.epoch, 2);
  assert.ok(sb.iter > STEPS && sb.iter < 2 * STEPS, `stopped at iter ${sb.iter}: not mid-epoch`);
  assert.equal(continueCommand(b).line, cmd.line);

  const c = await detkd(cmd.args);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /finished: 40 iterations/);
  const want = tensors(join(ref, 'model_final.safetensors'));
  const got = tensors(join(run, 'model_final.safetensors'));
  assert.equal(got.index, want.index);
  assert.ok(got.data.equals(want.data), 'final weights differ from the uninterrupted run');
});

test('the first signal aborts and hands the next one to the default action; nested commands share one stop', () => {
  const notes: string[] = [];
  const before = process.listenerCount('SIGINT');
  const outer = gracefulStop({ write: (t) => notes.push(t) });
  const inner = gracefulStop();
  assert.equal(process.listenerCount('SIGINT'), before + 1);
  assert.equal(process.listenerCount('SIGTERM'), before + 1);
  assert.equal(inner.signal, outer.signal);
  assert.equal(outer.exitCode, null);
  inner.release();
  inner.release(); // twice is once
  assert.equal(process.listenerCount('SIGINT'), before + 1, 'the outer command still holds them');
  process.emit('SIGTERM', 'SIGTERM');
  assert.equal(outer.signal.aborted, true);
  assert.equal(outer.received, 'SIGTERM');
  assert.equal(outer.exitCode, 143);
  assert.match(notes.join(''), /SIGTERM: stopping after the current step .*again to quit at once/);
  // Handlers gone: a second SIGINT or SIGTERM would end the process at once (the default action).
  assert.equal(process.listenerCount('SIGINT'), before);
  assert.equal(process.listenerCount('SIGTERM'), before);
  // A command started inside the stopped one sees the stop.
  const nested = gracefulStop();
  assert.equal(nested.signal.aborted, true);
  assert.equal(nested.exitCode, 143);
  nested.release();
  outer.release();
  const fresh = gracefulStop();
  assert.equal(fresh.signal.aborted, false);
  assert.equal(process.listenerCount('SIGINT'), before + 1);
  fresh.release();
  assert.equal(process.listenerCount('SIGINT'), before);
});

test('the resume command: the same command line with --resume, quoted for a shell', () => {
  const node = process.execPath;
  assert.equal(
    resumeCommand(
      [node, '/repo/bin/detkd.js', 'train', 'recipes/tiny.ts', '--overwrite', '--out', "runs/bob's run"],
      {
        addResume: true,
        cwd: '/repo',
        path: '',
      },
    ),
    "bin/detkd.js train recipes/tiny.ts --out 'runs/bob'\\''s run' --resume",
  );
  assert.equal(
    resumeCommand([node, '/repo/bin/detkd.js', 'distill', 'r.ts', '--resume', '--', '-x'], {
      addResume: true,
      cwd: '/repo/runs',
      path: '',
    }),
    '/repo/bin/detkd.js distill r.ts --resume -- -x',
  );
  assert.equal(
    resumeCommand([node, '/repo/src/cli/main.ts', 'compare', 'a.ts', '--out', 'o'], {
      addResume: false,
      cwd: '/repo',
    }),
    'npx tsx src/cli/main.ts compare a.ts --out o',
  );
  // Through a `detkd` on PATH (npm link, a global install): just `detkd`.
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'detkd'), '#!/bin/sh\n');
  chmodSync(join(bin, 'detkd'), 0o755);
  assert.equal(
    resumeCommand([node, join(bin, 'detkd'), 'train', 'r.ts'], {
      addResume: true,
      cwd: '/',
      path: `/nowhere:${bin}`,
    }),
    'detkd train r.ts --resume',
  );
  assert.equal(
    resumeCommand([node, join(bin, 'detkd'), 'train', 'r.ts'], {
      addResume: true,
      cwd: bin,
      path: '/nowhere',
    }),
    './detkd train r.ts --resume',
  );
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote('a b$c'), "'a b$c'");
});
