// Runs bin/detkd.js as a user does, in a child process, for the CLI tests that check exit codes
// and what is printed; optionally with the no-libtorch guard (./no-libtorch.mjs) preloaded.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/detkd.js', import.meta.url));
const GUARD = new URL('./no-libtorch.mjs', import.meta.url).href;

export interface DetkdRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface DetkdOptions {
  /** Fail (exit 97) if the command loads the native addon. */
  noLibtorch?: boolean;
  env?: Record<string, string>;
}

export function detkd(args: string[], o: DetkdOptions = {}): Promise<DetkdRun> {
  const pre = o.noLibtorch === true ? ['--import', GUARD] : [];
  const env = { ...process.env, ...o.env };
  delete env.DETKD_DEBUG;
  if (o.env?.DETKD_DEBUG !== undefined) env.DETKD_DEBUG = o.env.DETKD_DEBUG;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...pre, BIN, ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ args, code, stdout, stderr }));
  });
}

/** Runs all command lines, a few at a time (each is mostly process start-up). */
export async function detkdAll(lines: string[][], o: DetkdOptions = {}, parallel = 3): Promise<DetkdRun[]> {
  const out: DetkdRun[] = new Array(lines.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < lines.length) {
      const i = next++;
      out[i] = await detkd(lines[i]!, o);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, lines.length) }, worker));
  return out;
}

/** A stack trace line, as node prints one. */
const STACK = /^\s+at /m;

/** Exit code `code`, no stack trace, and (when given) stderr matching `message`. */
export function assertClean(r: DetkdRun, code: number, message?: RegExp): void {
  const what = `detkd ${r.args.join(' ')}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
  assert.equal(r.code, code, `exit code of ${what}`);
  assert.doesNotMatch(r.stderr, STACK, `stack trace from ${what}`);
  assert.doesNotMatch(r.stderr, /no-libtorch guard/, `libtorch loaded by ${what}`);
  if (message !== undefined) assert.match(r.stderr, message, what);
}
