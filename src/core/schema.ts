// Validation of user-written configuration (recipes, method options) against zod schemas, with
// messages a user can act on: the path of the offending key, the nearest valid key for a typo,
// the expected type for a wrong one. The schema is the single source of truth: types are
// `z.infer`red from it, so the validator cannot drift from the type.
import { z } from 'zod';
import { DetkdError } from './errors.ts';

export { z };

/** Levenshtein distance (insert, delete, substitute, adjacent swap), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) =>
    Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[s.length]![t.length]!;
}

/** The lower-cased initials of a camelCase or snake_case name ('learningRate' -> 'lr'). */
function initials(name: string): string {
  const words = name.split(/_|-|(?=[A-Z])/).filter((w) => w.length > 0);
  return words.length > 1 ? words.map((w) => w[0]!.toLowerCase()).join('') : '';
}

/**
 * The candidate closest to `key`, or null when none is plausibly a typo of it. A candidate that
 * abbreviates the key ('lr' for 'learningRate', or for 'lerningRate') counts as a match, and
 * snake_case compares as camelCase ('weight_decay' -> 'weightDecay').
 */
export function nearestKey(key: string, candidates: readonly string[]): string | null {
  const abbrev = initials(key);
  if (abbrev !== '') {
    const hit = candidates.find((c) => c.toLowerCase() === abbrev);
    if (hit !== undefined) return hit;
  }
  const plain = key.replace(/[_-]/g, '');
  let best: string | null = null;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = editDistance(plain, c);
    if (dist < bestD) {
      bestD = dist;
      best = c;
    }
  }
  // A typo changes a few characters; beyond about a third of the word it is another word.
  return best !== null && bestD <= Math.max(2, Math.ceil(key.length / 3)) ? best : null;
}

type AnySchema = z.core.$ZodType;

/**
 * True when A and B are assignable both ways and have the same keys (optional keys that only one
 * side has would pass the assignability test alone). A compile-time drift check.
 */
export type Same<A, B> = [A] extends [B]
  ? [B] extends [A]
    ? [keyof A] extends [keyof B]
      ? [keyof B] extends [keyof A]
        ? true
        : false
      : false
    : false
  : false;

/**
 * The object keys a schema accepts at `path` (through optionals, defaults, arrays, unions). With
 * the `value` being checked, a discriminated union contributes only the member its discriminator
 * selects (the keys of `{ kind: 'sgd' }`, not those of every optimizer).
 */
export function keysAt(schema: AnySchema, path: readonly PropertyKey[], value?: unknown): string[] {
  const out = new Set<string>();
  const visit = (s: AnySchema, i: number): void => {
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'prefault':
      case 'readonly':
      case 'nonoptional':
      case 'catch':
        visit(def.innerType as AnySchema, i);
        return;
      case 'pipe':
        visit(def.in as AnySchema, i);
        return;
      case 'lazy':
        visit((def.getter as () => AnySchema)(), i);
        return;
      case 'union': {
        const options = def.options as AnySchema[];
        const chosen = unionMember(def, options, valueAt(value, path.slice(0, i)));
        for (const o of chosen === undefined ? options : [chosen]) visit(o, i);
        return;
      }
      case 'intersection':
        visit(def.left as AnySchema, i);
        visit(def.right as AnySchema, i);
        return;
      case 'array':
        if (i < path.length) visit(def.element as AnySchema, i + 1);
        return;
      case 'tuple':
        if (i < path.length) {
          const items = def.items as AnySchema[];
          const item = items[Number(path[i])];
          if (item) visit(item, i + 1);
        }
        return;
      case 'record':
        if (i < path.length) visit(def.valueType as AnySchema, i + 1);
        return;
      case 'object': {
        const shape = def.shape as Record<string, AnySchema>;
        if (i === path.length) {
          for (const k of Object.keys(shape)) out.add(k);
          return;
        }
        const next = shape[String(path[i])];
        if (next) visit(next, i + 1);
        return;
      }
      default:
        return;
    }
  };
  visit(schema, 0);
  return [...out];
}

/** The member of a discriminated union whose discriminator value `v` carries, if any. */
function unionMember(def: Record<string, unknown>, options: AnySchema[], v: unknown): AnySchema | undefined {
  const disc = def.discriminator;
  if (typeof disc !== 'string' || v === null || typeof v !== 'object') return undefined;
  const tag: unknown = Reflect.get(v, disc);
  return options.find((o) => discriminatorValues(o, disc).includes(tag));
}

function discriminatorValues(option: AnySchema, disc: string): unknown[] {
  const pv = (option._zod as { propValues?: Record<string, Set<unknown>> }).propValues;
  return [...(pv?.[disc] ?? [])];
}

/** The schema at `path` (through wrappers, arrays and objects); unions are not entered. */
function schemaAt(schema: AnySchema, path: readonly PropertyKey[]): AnySchema | undefined {
  let s: AnySchema | undefined = schema;
  for (let i = 0; s !== undefined && i <= path.length; ) {
    const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
    if (i === path.length && !['optional', 'nullable', 'default', 'readonly'].includes(def.type)) return s;
    switch (def.type) {
      case 'optional':
      case 'nullable':
      case 'default':
      case 'readonly':
        s = def.innerType as AnySchema;
        break;
      case 'object':
        s = (def.shape as Record<string, AnySchema>)[String(path[i])];
        i++;
        break;
      case 'array':
        s = def.element as AnySchema;
        i++;
        break;
      default:
        return undefined;
    }
  }
  return s;
}

/** The text a schema was given with .describe(), at `path`. */
function descriptionAt(schema: AnySchema, path: readonly PropertyKey[]): string | undefined {
  const s = schemaAt(schema, path);
  return s === undefined ? undefined : z.globalRegistry.get(s)?.description;
}

function literalList(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ');
}

function pathString(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string')
    return `a string (${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)})`;
  if (typeof v === 'number') return `a number (${v})`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'object') return 'an object';
  return typeof v;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** One line per problem, each naming the key's path. */
export function formatIssues(
  schema: AnySchema,
  value: unknown,
  issues: readonly z.core.$ZodIssue[],
): string[] {
  const lines: string[] = [];
  // A misspelt required key is also missing: say it once, as the typo.
  const suggested = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const valid = keysAt(schema, issue.path, value);
    for (const k of issue.keys) {
      const near = nearestKey(k, valid);
      if (near !== null) suggested.add(pathString([...issue.path, near]));
    }
  }
  for (const issue of issues) {
    const at = pathString(issue.path);
    if (issue.code === 'unrecognized_keys') {
      const valid = keysAt(schema, issue.path, value);
      for (const k of issue.keys) {
        const full = pathString([...issue.path, k]);
        const near = nearestKey(k, valid);
        const what = near !== null ? descriptionAt(schema, [...issue.path, near]) : undefined;
        lines.push(
          near !== null
            ? `unknown key '${full}' (did you mean '${pathString([...issue.path, near])}'?${what ? ` ${what}` : ''})`
            : `unknown key '${full}' (valid keys here: ${valid.join(', ') || 'none'})`,
        );
      }
    } else if (issue.code === 'invalid_type') {
      const got = valueAt(value, issue.path);
      if (got === undefined && suggested.has(at)) continue;
      // A schema's .describe() text says what the key is for (e.g. that `lr` is the schedule).
      const what = descriptionAt(schema, issue.path);
      lines.push(
        (got === undefined
          ? `'${at}' is missing (expected ${issue.expected})`
          : `'${at}' must be ${issue.expected}, got ${describe(got)}`) + (what ? `: ${what}` : ''),
      );
    } else if (issue.code === 'invalid_value') {
      const got = valueAt(value, issue.path);
      lines.push(`'${at}' must be one of ${literalList(issue.values)}, got ${describe(got)}`);
    } else if (issue.code === 'custom' && typeof issue.params?.expected === 'string') {
      const got = valueAt(value, issue.path);
      lines.push(`'${at}' must be ${issue.params.expected}, got ${describe(got)}`);
    } else if (issue.code === 'too_small' || issue.code === 'too_big') {
      const got = valueAt(value, issue.path);
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
      lines.push(
        issue.origin === 'number'
          ? `'${at}' must be ${op} ${String(bound)}, got ${describe(got)}`
          : `'${at}': ${issue.message}`,
      );
    } else if (issue.code === 'invalid_union' && 'discriminator' in issue) {
      // A discriminated union's tag matched no member: name the tags it accepts.
      const union = schemaAt(schema, issue.path.slice(0, -1));
      const disc = String(issue.path[issue.path.length - 1]);
      const options = (union?._zod.def as { options?: AnySchema[] } | undefined)?.options ?? [];
      const tags = options.flatMap((o) => discriminatorValues(o, disc));
      const got = valueAt(value, issue.path);
      lines.push(
        got === undefined
          ? `'${at}' is missing (expected one of ${literalList(tags)})`
          : `'${at}' must be one of ${literalList(tags)}, got ${describe(got)}`,
      );
    } else if (issue.code === 'invalid_union') {
      const got = valueAt(value, issue.path);
      lines.push(
        `'${at || '(root)'}' does not match any allowed form (got ${describe(got)}): ${issue.message}`,
      );
    } else {
      lines.push(`'${at || '(root)'}': ${issue.message}`);
    }
  }
  return lines;
}

/**
 * Parses `value` with `schema`; on failure throws a DetkdError that starts with `where` (a file
 * or a factory name) and lists every problem with its key path.
 */
export function parseStrict<S extends AnySchema>(schema: S, value: unknown, where: string): z.output<S> {
  const r = z.safeParse(schema, value);
  if (r.success) return r.data;
  const lines = formatIssues(schema, value, r.error.issues);
  throw new DetkdError(
    lines.length === 1 ? `${where}: ${lines[0]}` : `${where}:\n${lines.map((l) => `  - ${l}`).join('\n')}`,
  );
}
