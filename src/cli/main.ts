// The `detkd` command: a table of subcommands, each in its own module under src/cli/commands/.
// Subcommands are loaded lazily so `detkd eval` does not load libtorch.

export interface Command {
  summary: string;
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

function usage(): string {
  const names = Object.keys(commands).sort();
  return `usage: detkd <command> [options]\n\ncommands:\n${names.map((n) => `  ${n}`).join('\n')}\n\nRun 'detkd <command> --help' for a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  await loadAll();
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    console.error(`detkd: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const cmd = await load();
  return cmd.run(rest);
}

const isEntry = process.argv[1] !== undefined && /detkd(\.js)?$|main\.(ts|js)$/.test(process.argv[1]);
if (isEntry) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      // Errors meant for the user carry their own message; anything else is a bug and shows its stack.
      if (err instanceof Error && err.name === 'DetkdError') console.error(`detkd: ${err.message}`);
      else console.error(err);
      process.exitCode = 1;
    },
  );
}
