// Fuzz of the native boundary: every generated op wrapper and every raw op id (wrong arity, wrong
// JS types, wrong dtypes, mismatched shapes, empty/meta/odd-dtype tensors, disposed handles, bad
// sizes and dims), plus fromBuffer, toBuffer, batchedNms, setGrad, backward and the RNG natives.
// Each call must return or throw a JavaScript exception; the process must survive. The loop runs
// in child processes (test/fuzz/worker.ts) under a 4 GB address-space limit; a child that dies is
// a crash, reported with the call it was running, and the fuzz resumes after that call.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = join(import.meta.dirname, '../..');
const WORKER = join(import.meta.dirname, 'worker.ts');
const OP_GROUPS = 6; // op groups; group OP_GROUPS is the other natives
const CONCURRENCY = 2;
const RUN_TIMEOUT_MS = Number(process.env.FUZZ_TIMEOUT_MS ?? 120_000);
const MAX_RESTARTS = 30;

interface Crash {
  group: number;
  index: number;
  call: string;
  how: string;
  stderr: string;
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function runWorker(log: string, group: number, start: number, skip: number[]): Promise<RunResult> {
  // --no-expose-wasm: tsx then needs no WebAssembly reservation, so the address-space limit can
  // be tight enough that a runaway allocation fails instead of eating the shared machine's memory.
  const cmd = 'ulimit -v 4000000; exec "$0" --no-expose-wasm --import tsx "$@"';
  const args = [
    process.execPath,
    WORKER,
    log,
    String(group),
    String(OP_GROUPS),
    String(start),
    skip.join(','),
  ];
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', cmd, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, RUN_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** The call that was running when the worker died, and the first index of its op. */
function lastCall(log: string): { index: number; call: string; opStart: number } | null {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return null;
  }
  let opStart = 0;
  let last: { index: number; call: string; opStart: number } | null = null;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const [a, b, c] = line.split('\t');
    if (a === 'OP') opStart = Number(b);
    else last = { index: Number(a), call: [b, c].filter((x) => x !== undefined).join('\t'), opStart };
  }
  return last;
}

async function fuzzGroup(dir: string, group: number, crashes: Crash[], done: string[]): Promise<void> {
  const skip: number[] = [];
  let start = 0;
  for (let attempt = 0; attempt <= MAX_RESTARTS; attempt++) {
    const log = join(dir, `group-${group}-${attempt}.log`);
    const r = await runWorker(log, group, start, skip);
    const marker = r.stdout.split('\n').find((l) => l.startsWith('FUZZ-DONE'));
    if (r.code === 0 && marker !== undefined) {
      done.push(marker);
      return;
    }
    const last = lastCall(log);
    const how = r.timedOut
      ? `hang (killed after ${RUN_TIMEOUT_MS} ms)`
      : `exit code ${r.code}, signal ${r.signal}`;
    if (last === null) {
      crashes.push({ group, index: -1, call: '(before the first call)', how, stderr: r.stderr });
      return;
    }
    crashes.push({ group, index: last.index, call: last.call, how, stderr: r.stderr.slice(-600) });
    skip.push(last.index);
    start = last.opStart;
  }
  crashes.push({ group, index: -1, call: `gave up after ${MAX_RESTARTS} restarts`, how: '', stderr: '' });
}

test(
  'fuzz: every op and native survives wrong arguments (no process crash)',
  { timeout: 600_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'detkd-fuzz-'));
    const crashes: Crash[] = [];
    const done: string[] = [];
    const queue = Array.from({ length: OP_GROUPS + 1 }, (_, g) => OP_GROUPS - g); // natives first
    const t0 = Date.now();
    try {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          for (let g = queue.shift(); g !== undefined; g = queue.shift())
            await fuzzGroup(dir, g, crashes, done);
        }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const line of done.sort()) t.diagnostic(line);
    const known = new Set(
      done.flatMap((l) => (/known=(\S*)/.exec(l)?.[1] ?? '').split(',')).filter((k) => k !== ''),
    );
    if (known.size > 0) {
      t.diagnostic(
        `skipped inputs of known crashes (test/fuzz/known-crashes.ts): ${[...known].sort().join(', ')}`,
      );
    }
    t.diagnostic(`fuzz wall time ${Date.now() - t0} ms`);
    const report = crashes
      .map(
        (c) =>
          `  [group ${c.group} call ${c.index}] ${c.how}\n    ${c.call}\n    ${c.stderr.split('\n').slice(-3).join('\n    ')}`,
      )
      .join('\n');
    assert.equal(crashes.length, 0, `the process crashed on ${crashes.length} input(s):\n${report}`);
    assert.equal(done.length, OP_GROUPS + 1);
  },
);
