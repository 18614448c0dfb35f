// The argument parser of every verb. A verb's flags are declared once (src/cli/verbs.ts, a module
// that loads nothing heavy), so `detkd main` checks them and answers -h before the verb's own
// module, and with it libtorch, is loaded. A mistake the user made is a UsageError: main prints
// `detkd <verb>: <message>`, the verb's usage, and exits with 2.
import { DetkdError } from '../core/errors.ts';
import { nearestKey } from '../core/schema.ts';

export type OptionSpec =
  | { type: 'boolean' }
  | {
      type: 'string';
      default?: string;
      required?: true;
      choices?: readonly string[];
      /** What the value is called in messages (`--out DIR is required`). */
      value?: string;
      /** The value's form, and what the message says it should look like. */
      pattern?: { re: RegExp; expects: string };
    }
  | { type: 'int'; min: number; default?: number }
  | { type: 'number'; min?: number; max?: number; default?: number };

export interface VerbSpec {
  /** As typed: 'train', 'data synth'. */
  name: string;
  /** One line for the top-level usage. */
  summary: string;
  usage: string;
  /** Long options without the leading `--`; -h/--help is implied. */
  options: Readonly<Record<string, OptionSpec>>;
  /** How many positional arguments the verb takes, and what one is called in messages. */
  positionals?: { min: number; max: number; name: string };
  /** Boolean flags that cannot be given together. */
  exclusive?: readonly (readonly string[])[];
}

/** A mistake in the command line: main prints it with the verb's usage and exits with 2. */
export class UsageError extends DetkdError {
  override name = 'UsageError';
}

type Value<O> = O extends { type: 'boolean' }
  ? boolean
  : O extends { type: 'string'; default: string }
    ? string
    : O extends { type: 'string'; required: true }
      ? string
      : O extends { type: 'string' }
        ? string | undefined
        : O extends { default: number }
          ? number
          : number | undefined;

export type Values<S extends VerbSpec> = { -readonly [K in keyof S['options']]: Value<S['options'][K]> };

export interface ParsedArgs<S extends VerbSpec> {
  values: Values<S>;
  positionals: string[];
  /** -h or --help was given: nothing else was checked. */
  help: boolean;
}

/** A value for a string option may start with '-' only when it is a number (`--x -1`). */
const NUMERIC = /^-?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** Parses `argv` (the words after the verb) against `spec`; throws UsageError. */
export function parseVerbArgs<S extends VerbSpec>(spec: S, argv: readonly string[]): ParsedArgs<S> {
  const dashdash = argv.indexOf('--');
  const flagPart = dashdash < 0 ? argv : argv.slice(0, dashdash);
  if (flagPart.includes('-h') || flagPart.includes('--help')) {
    return { values: {} as Values<S>, positionals: [], help: true };
  }
  const names = Object.keys(spec.options);
  const raw = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('-') || a === '-' || NUMERIC.test(a)) {
      positionals.push(a);
      continue;
    }
    if (!a.startsWith('--')) throw new UsageError(`unknown option '${a}'`);
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    const o = spec.options[name];
    if (o === undefined) {
      const near = nearestKey(name, names);
      throw new UsageError(`unknown option '--${name}'${near === null ? '' : ` (did you mean --${near}?)`}`);
    }
    if (o.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value, got '${a}'`);
      raw.set(name, true);
      continue;
    }
    let v: string | undefined;
    if (eq >= 0) v = a.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next !== undefined && (!next.startsWith('-') || NUMERIC.test(next))) {
        v = next;
        i++;
      }
    }
    if (v === undefined || v === '') throw new UsageError(`--${name} needs a value`);
    raw.set(name, v);
  }

  const values: Record<string, unknown> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    const r = raw.get(name);
    if (o.type === 'boolean') values[name] = r === true;
    else if (o.type === 'string') {
      if (r === undefined && o.required === true) {
        throw new UsageError(`--${name}${o.value === undefined ? '' : ` ${o.value}`} is required`);
      }
      if (typeof r === 'string' && o.choices !== undefined && !o.choices.includes(r)) {
        throw new UsageError(`--${name} must be ${o.choices.join(' or ')}, got '${r}'`);
      }
      if (typeof r === 'string' && o.pattern !== undefined && !o.pattern.re.test(r)) {
        throw new UsageError(`--${name} expects ${o.pattern.expects}, got '${r}'`);
      }
      values[name] = r ?? o.default;
    } else values[name] = r === undefined ? o.default : numberValue(name, o, r as string);
  }
  for (const group of spec.exclusive ?? []) {
    const given = group.filter((n) => raw.has(n));
    if (given.length > 1)
      throw new UsageError(`${given.map((n) => `--${n}`).join(' and ')} exclude each other`);
  }
  const p = spec.positionals ?? { min: 0, max: 0, name: '' };
  if (positionals.length < p.min) throw new UsageError(`missing ${p.name}`);
  if (positionals.length > p.max) {
    const extra = positionals[p.max]!;
    throw new UsageError(
      p.max === 0
        ? `unexpected argument '${extra}' (this command takes only options)`
        : `unexpected argument '${extra}' (expected ${p.max === 1 ? `one ${p.name}` : `at most ${p.max}`})`,
    );
  }
  return { values: values as Values<S>, positionals, help: false };
}

function numberValue(name: string, o: OptionSpec & { type: 'int' | 'number' }, s: string): number {
  const x = Number(s);
  if (o.type === 'int') {
    if (!/^-?\d+$/.test(s) || x < o.min) {
      const want =
        o.min === 0
          ? 'a non-negative integer'
          : o.min === 1
            ? 'a positive integer'
            : `an integer >= ${o.min}`;
      throw new UsageError(`--${name} expects ${want}, got '${s}'`);
    }
    return x;
  }
  if (!NUMERIC.test(s) || (o.min !== undefined && x < o.min) || (o.max !== undefined && x > o.max)) {
    const range =
      o.min !== undefined && o.max !== undefined
        ? ` in [${o.min}, ${o.max}]`
        : o.min !== undefined
          ? ` >= ${o.min}`
          : o.max !== undefined
            ? ` <= ${o.max}`
            : '';
    throw new UsageError(`--${name} expects a number${range}, got '${s}'`);
  }
  return x;
}
