// Graceful stops for the training commands. The first SIGINT (Ctrl-C) or SIGTERM aborts an
// AbortSignal that the Trainer checks after every step: it finishes the step, writes
// last.safetensors and returns 'stopped'; the command then prints how to continue and exits
// 130 / 143 (128 + the signal's number, what a shell reports for a process the signal killed).
// The first signal also removes the handlers, so a second one gets the default action: the
// process ends at once, even in the middle of a long libtorch call (a JavaScript handler would
// wait for the step to end). Checkpoints are written atomically (temporary file + rename), so
// the last one written stays whole even then.
import { accessSync, constants, realpathSync } from 'node:fs';
import { basename, delimiter, dirname, isAbsolute, relative, resolve } from 'node:path';

export type StopSignal = 'SIGINT' | 'SIGTERM';

const EXIT_CODE: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };

export interface GracefulStop {
  /** Aborted on the first signal; pass it to runRecipe / the Trainer. */
  readonly signal: AbortSignal;
  /** The first signal received, or null. */
  readonly received: StopSignal | null;
  /** 130 after SIGINT, 143 after SIGTERM, null before any signal. */
  readonly exitCode: number | null;
  /** Removes the handlers (once every holder has released them; the first signal already has). */
  release(): void;
}

export interface StopOptions {
  /** Where the notice goes (default stderr). */
  write?: (s: string) => void;
}

interface Installed {
  controller: AbortController;
  received: StopSignal | null;
  holders: number;
  handler: (sig: NodeJS.Signals) => void;
}

// One set of handlers per process: a command run inside another (`detkd demo` runs `compare`)
// joins the stop its caller holds, so one Ctrl-C stops the inner run and the caller with it.
let installed: Installed | null = null;

/** Installs (or joins) the SIGINT/SIGTERM handlers; call `release()` when the command ends. */
export function gracefulStop(o: StopOptions = {}): GracefulStop {
  if (installed === null) {
    const write = o.write ?? ((s: string) => process.stderr.write(s));
    const state: Installed = {
      controller: new AbortController(),
      received: null,
      holders: 0,
      handler: (sig) => {
        const s: StopSignal = sig === 'SIGTERM' ? 'SIGTERM' : 'SIGINT';
        state.received = s;
        process.off('SIGINT', state.handler);
        process.off('SIGTERM', state.handler);
        write(
          `\ndetkd: ${s}: stopping after the current step and saving a checkpoint (${s === 'SIGINT' ? 'Ctrl-C' : 'send it'} again to quit at once)\n`,
        );
        state.controller.abort(s);
      },
    };
    process.on('SIGINT', state.handler);
    process.on('SIGTERM', state.handler);
    installed = state;
  }
  const st = installed;
  st.holders++;
  let released = false;
  return {
    signal: st.controller.signal,
    get received() {
      return st.received;
    },
    get exitCode() {
      return st.received === null ? null : EXIT_CODE[st.received];
    },
    release() {
      if (released) return;
      released = true;
      st.holders--;
      if (st.holders === 0 && installed === st) {
        process.off('SIGINT', st.handler);
        process.off('SIGTERM', st.handler);
        installed = null;
      }
    },
  };
}

/** One argument as a POSIX shell reads it back. */
export function shellQuote(arg: string): string {
  if (arg !== '' && /^[\w@%+=:,./-]+$/.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function onPath(dir: string, path: string): boolean {
  return path
    .split(delimiter)
    .filter((d) => d !== '')
    .some((d) => {
      try {
        return realpathSync(d) === dir;
      } catch {
        return false;
      }
    });
}

/**
 * How the user invoked detkd, as a command to type again: `detkd` when the script is found on
 * PATH under that name, else its path (relative to `cwd` when below it), `npx tsx ...` for the
 * TypeScript entry point.
 */
export function programName(script: string, cwd: string, path = process.env.PATH ?? ''): string {
  const abs = resolve(cwd, script);
  const name = basename(abs);
  if (name === 'detkd') {
    try {
      accessSync(abs, constants.X_OK);
      if (onPath(realpathSync(dirname(abs)), path)) return 'detkd';
    } catch {
      // not executable or gone: fall through to the path
    }
  }
  const rel = relative(cwd, abs);
  let shown = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
  if (!shown.includes('/')) shown = `./${shown}`;
  return abs.endsWith('.ts') ? `npx tsx ${shellQuote(shown)}` : shellQuote(shown);
}

/**
 * The command that continues a stopped run: the user's own command line with `--resume` added
 * (and `--overwrite` dropped, which would start over). `argv` is process.argv.
 */
export function resumeCommand(
  argv: readonly string[],
  o: { addResume: boolean; cwd?: string; path?: string },
): string {
  const cwd = o.cwd ?? process.cwd();
  const [, script = 'detkd', ...args] = argv;
  let rest = [...args];
  if (o.addResume) {
    const end = rest.indexOf('--');
    const opts = end === -1 ? rest : rest.slice(0, end);
    const tail = end === -1 ? [] : rest.slice(end);
    const kept = opts.filter((a) => a !== '--overwrite' && !a.startsWith('--overwrite='));
    if (!kept.includes('--resume')) kept.push('--resume');
    rest = [...kept, ...tail];
  }
  return [programName(script, cwd, o.path), ...rest.map(shellQuote)].join(' ');
}

/**
 * What a command prints after a signal stopped it: where the run is, and how to continue.
 * `addResume`: the command takes --resume (train, distill); compare and demo resume by rerunning.
 */
export function stoppedNotice(
  stop: GracefulStop,
  where: string,
  o: { addResume: boolean; argv?: readonly string[] },
): string {
  const cmd = resumeCommand(o.argv ?? process.argv, { addResume: o.addResume });
  return `detkd: stopped by ${stop.received ?? 'a signal'}; ${where}\nTo continue exactly where it stopped, run:\n  ${cmd}`;
}
