// The `detkd` command: a table of subcommands, each in its own module under src/cli/commands/.
// Subcommands are loaded lazily, and their flags are checked (src/cli/verbs.ts) before their module
// loads, so a typo or -h answers at once and `detkd eval` does not load libtorch.
import { readFileSync } from 'node:fs';
import { DetkdError } from '../core/errors.ts';
import { nearestKey } from '../core/schema.ts';
import { parseVerbArgs, UsageError, type VerbSpec } from './args.ts';
import { GROUPS, VERBS } from './verbs.ts';

export interface Command {
  /** `argv`: the words after the verb (after `data` for its subcommands). */
  run(argv: string[]): Promise<number>;
}

type Loader = () => Promise<Command>;

// Each subcommand module exports `command: Command`.
const commands: Record<string, Loader> = {};

export function registerCommand(name: string, load: Loader): void {
  commands[name] = load;
}

async function loadAll(): Promise<void> {
  const { registerBuiltins } = await import('./commands/index.ts');
  registerBuiltins(registerCommand);
}

function summaryOf(name: string): string {
  return GROUPS[name]?.summary ?? (VERBS as Record<string, VerbSpec>)[name]?.summary ?? '';
}

function usage(): string {
  const names = Object.keys(commands).sort();
  const w = Math.max(...names.map((n) => n.length));
  return [
    'usage: detkd <command> [options]',
    '       detkd --version',
    '',
    'commands:',
    ...names.map((n) => `  ${n.padEnd(w)}  ${summaryOf(n)}`),
    '',
    "Run 'detkd <command> --help' for a command's options. DETKD_DEBUG=1 shows stack traces.",
  ].join('\n');
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `detkd ${pkg.version}`;
}

function usageError(verb: string, message: string, text: string): number {
  console.error(`detkd ${verb}: ${message}\n\n${text}`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  await loadAll();
  const [name, ...rest] = argv;
  if (name === undefined) {
    console.error(usage());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    // `detkd help train` is `detkd train --help`.
    if (name === 'help' && rest.length > 0 && commands[rest[0]!] !== undefined)
      return main([...rest, '--help']);
    console.log(usage());
    return 0;
  }
  if (name === '--version' || name === '-V') {
    console.log(version());
    return 0;
  }
  const load = commands[name];
  if (load === undefined) {
    const near = nearestKey(name, Object.keys(commands));
    const what = name.startsWith('-') ? 'option' : 'command';
    console.error(
      `detkd: unknown ${what} '${name}'${near === null ? '' : ` (did you mean '${near}'?)`}\n\n${usage()}`,
    );
    return 2;
  }
  let verb: VerbSpec;
  let args = rest;
  const group = GROUPS[name];
  if (group !== undefined) {
    const [sub, ...subArgs] = rest;
    if (sub === undefined || sub === '-h' || sub === '--help' || sub === 'help') {
      if (sub === undefined) return usageError(name, 'which subcommand?', group.usage);
      console.log(group.usage);
      return 0;
    }
    const spec = (VERBS as Record<string, VerbSpec>)[`${name} ${sub}`];
    if (spec === undefined) return usageError(name, `unknown subcommand '${sub}'`, group.usage);
    verb = spec;
    args = subArgs;
  } else {
    verb = (VERBS as Record<string, VerbSpec>)[name]!;
  }
  try {
    // Checked here, before the module (and libtorch) loads; run() parses again with the same spec.
    if (parseVerbArgs(verb, args).help) {
      console.log(verb.usage);
      return 0;
    }
    const cmd = await load();
    return await cmd.run(rest);
  } catch (err) {
    if (err instanceof UsageError) return usageError(verb.name, err.message, verb.usage);
    throw err;
  }
}

/** An error the user caused (a DetkdError, the NaN guard's NonFiniteError, a bad recipe): no stack. */
export function isUserError(err: unknown): err is Error {
  if (err instanceof DetkdError) return true;
  // A second copy of errors.ts (a recipe importing detkd through another path) has its own class:
  // go by the class names along the prototype chain.
  for (let p: unknown = err; p !== null && typeof p === 'object'; p = Object.getPrototypeOf(p)) {
    if ((p as { constructor?: { name?: string } }).constructor?.name === 'DetkdError') return true;
  }
  return false;
}

/** What the CLI prints for an error that ended a command. */
export function formatError(err: unknown, debug: boolean): string {
  if (isUserError(err) && !debug) return `detkd: ${err.message}`;
  const text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  if (isUserError(err)) return `detkd: ${err.message}\n${text}`;
  // Anything else is a bug: the stack is what a report needs.
  return `detkd: internal error (a bug in detkd; please report it with what follows)\n${text}`;
}

const isEntry = process.argv[1] !== undefined && /detkd(\.js)?$|main\.(ts|js)$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const debug = process.env.DETKD_DEBUG !== undefined && !['', '0'].includes(process.env.DETKD_DEBUG);
      console.error(formatError(err, debug));
      process.exitCode = 1;
    },
  );
}
