// One thread budget on few cores: the trainer's threads (libtorch intra-op, OpenBLAS, the JS
// main thread) keep normal priority; the threads that prepare data (loader workers and the
// libvips threads that decode for them) run at a lower priority, so they use what the training
// step leaves idle instead of taking cores from it. Linux only (setpriority on thread ids, found
// in /proc); elsewhere a no-op. DETKD_LOADER_NICE sets the niceness (default 10; 0 disables).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

const NICE = Number(process.env.DETKD_LOADER_NICE ?? 10);
const done = new Set<number>();

function nice(tid: number): void {
  if (done.has(tid)) return;
  try {
    setPriority(tid, NICE);
    done.add(tid);
  } catch {
    // Not permitted or not Linux: leave the thread as it is.
  }
}

/** Lowers the calling thread's priority and that of every libvips decode thread so far. */
export function lowerDataThreadPriority(): void {
  if (NICE === 0 || process.platform !== 'linux') return;
  try {
    // /proc/thread-self -> "<pid>/task/<tid>" names the calling thread.
    const self = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(self)) nice(self);
    for (const t of readdirSync('/proc/self/task')) {
      const tid = Number(t);
      if (done.has(tid)) continue;
      const comm = readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim();
      if (comm === 'libvips worker') nice(tid);
    }
  } catch {
    // /proc unavailable: nothing to do.
  }
}
