// The run directory's state, checked before any data is loaded or a model built: a previous run
// there is continued only with resume and replaced only with overwrite, and what a killed process
// left half-written is cleared away.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DetkdError } from '../core/errors.ts';

export interface RunDirOptions {
  resume?: boolean;
  overwrite?: boolean;
}

/** `<name>.tmp-<pid>`: what an atomic write (core/safetensors.ts, train/log.ts) writes before its rename. */
const TMP = /\.tmp-(\d+)$/;

/** Whether a process with this id runs now (one we may not signal runs too). */
function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `*.tmp-<pid>` files in `dir` whose writer is gone (a run killed mid-write): they are
 * never read, only take space. A live writer's are kept, in case another process shares the
 * folder for a moment (a second `detkd` refused below still runs this).
 */
export function removeStaleTemps(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = TMP.exec(name);
    if (m === null || alive(Number(m[1]))) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * Checks `runDir` against the resume/overwrite choice and clears stale temp files. Throws a
 * DetkdError, naming the folder and the flag to pass, when a previous run would be lost or
 * both flags are given.
 */
export function checkRunDir(runDir: string, o: RunDirOptions, log: (s: string) => void): void {
  if (o.resume === true && o.overwrite === true) {
    throw new DetkdError('--resume and --overwrite exclude each other: continue the run or start it over');
  }
  const last = join(runDir, 'last.safetensors');
  const previous = existsSync(last);
  if (previous && o.resume !== true && o.overwrite !== true) {
    throw new DetkdError(
      `${runDir} holds a previous run (${last}): pass --resume to continue it, or --overwrite to start over (its checkpoints are deleted)`,
    );
  }
  if (!previous && o.resume === true) {
    log(`  --resume: ${runDir} has no checkpoint (last.safetensors) yet; starting fresh`);
  }
  const removed = removeStaleTemps(runDir);
  if (removed.length > 0) {
    log(
      `  removed ${removed.length} temporary file(s) a killed run left in ${runDir}: ${removed.join(', ')}`,
    );
  }
}
