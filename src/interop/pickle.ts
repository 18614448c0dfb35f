/**
 * A pickle reader that never imports or runs anything.
 *
 * It implements the opcodes of protocols 0-5 that checkpoints use (see `OP` below) on a byte
 * buffer and builds plain values: `null`, booleans, numbers (int and float; an int beyond 2^53
 * is a bigint), strings, `Uint8Array` (bytes), arrays (lists), `PyTuple`, `Map` (dicts and
 * OrderedDicts), `PySet`. A `GLOBAL` or `STACK_GLOBAL` only names something: the resolver says
 * whether that name is on its allow-list and, if so, gives a `PyCallable` whose `call` is detkd's
 * own TypeScript implementation. A name not on the list stays an inert `PyGlobal` placeholder,
 * which is fine as data (a checkpoint may store `torch.float32` or a function reference in its
 * metadata) but is refused with a `DetkdError` naming it as soon as the stream would call it
 * (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ) or set its state (BUILD on anything but a dict).
 *
 * Every opcode consumes at least one byte and every length is checked against the bytes left
 * before anything is allocated, so a hostile or damaged stream ends in a `DetkdError` in time
 * linear in its length.
 */

import { DetkdError } from '../core/errors.ts';

/** A Python tuple (kept apart from lists so metadata can tell them apart). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A Python set or frozenset. */
export class PySet {
  constructor(readonly items: unknown[]) {}
}

/** A global the resolver did not allow: inert data, named `module.name`. Never called. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  /** The name Python 3 would import (`builtins.eval` for a protocol 2 `__builtin__.eval`). */
  get qualname(): string {
    return `${canonicalModule(this.module)}.${this.name}`;
  }
}

/**
 * An allow-listed global. `call` is detkd's own implementation of what the stream asks for
 * (REDUCE and NEWOBJ).
 */
export class PyCallable {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call: (args: unknown[]) => unknown,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A plain object an allow-listed data-only class built (e.g. argparse.Namespace): class + fields. */
export class PyObject {
  constructor(
    readonly qualname: string,
    readonly fields: Map<unknown, unknown>,
  ) {}
}

export interface PickleResolver {
  /** The allow-listed callable or type for `module.name`, or undefined (an inert placeholder). */
  resolve(module: string, name: string): PyCallable | undefined;
  /** BINPERSID / PERSID: the object a persistent id stands for; absent: the opcode is refused. */
  persistentLoad?(pid: unknown): unknown;
}

/** Error context: the file and entry named in every message (e.g. 'model.pth: data.pkl'). */
export interface PickleOptions {
  where?: string;
  /** Start reading here (the legacy format holds several pickles back to back). */
  offset?: number;
}

export interface PickleResult {
  value: unknown;
  /** The byte just past STOP. */
  end: number;
}

/**
 * Python 3's name for a module a protocol 2 pickle names the Python 2 way (pickle's
 * `fix_imports`, the modules a checkpoint may mention): `__builtin__` is `builtins`.
 */
export function canonicalModule(module: string): string {
  return Object.hasOwn(PY2_MODULES, module) ? PY2_MODULES[module]! : module;
}

const PY2_MODULES: Record<string, string> = {
  __builtin__: 'builtins',
  copy_reg: 'copyreg',
  commands: 'subprocess',
  cPickle: 'pickle',
  cStringIO: 'io',
  StringIO: 'io',
  urllib2: 'urllib.request',
};

const OPNAMES: Record<number, string> = {
  40: 'MARK',
  46: 'STOP',
  48: 'POP',
  49: 'POP_MARK',
  50: 'DUP',
  70: 'FLOAT',
  73: 'INT',
  74: 'BININT',
  75: 'BININT1',
  76: 'LONG',
  77: 'BININT2',
  78: 'NONE',
  80: 'PERSID',
  81: 'BINPERSID',
  82: 'REDUCE',
  83: 'STRING',
  84: 'BINSTRING',
  85: 'SHORT_BINSTRING',
  86: 'UNICODE',
  88: 'BINUNICODE',
  97: 'APPEND',
  98: 'BUILD',
  99: 'GLOBAL',
  100: 'DICT',
  125: 'EMPTY_DICT',
  101: 'APPENDS',
  103: 'GET',
  104: 'BINGET',
  105: 'INST',
  106: 'LONG_BINGET',
  108: 'LIST',
  93: 'EMPTY_LIST',
  111: 'OBJ',
  112: 'PUT',
  113: 'BINPUT',
  114: 'LONG_BINPUT',
  115: 'SETITEM',
  116: 'TUPLE',
  41: 'EMPTY_TUPLE',
  117: 'SETITEMS',
  71: 'BINFLOAT',
  128: 'PROTO',
  129: 'NEWOBJ',
  130: 'EXT1',
  131: 'EXT2',
  132: 'EXT4',
  133: 'TUPLE1',
  134: 'TUPLE2',
  135: 'TUPLE3',
  136: 'NEWTRUE',
  137: 'NEWFALSE',
  138: 'LONG1',
  139: 'LONG4',
  66: 'BINBYTES',
  67: 'SHORT_BINBYTES',
  140: 'SHORT_BINUNICODE',
  141: 'BINUNICODE8',
  142: 'BINBYTES8',
  143: 'EMPTY_SET',
  144: 'ADDITEMS',
  145: 'FROZENSET',
  146: 'NEWOBJ_EX',
  147: 'STACK_GLOBAL',
  148: 'MEMOIZE',
  149: 'FRAME',
  150: 'BYTEARRAY8',
  151: 'NEXT_BUFFER',
  152: 'READONLY_BUFFER',
};

/** Little-endian two's-complement bytes -> an int (a number when safe, else a bigint). */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let k = b.length - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[k]!);
  if (b[b.length - 1]! & 0x80) v -= 1n << BigInt(8 * b.length);
  return intValue(v);
}

function intValue(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyGlobal || v instanceof PyCallable) return `'${v.qualname}'`;
  if (v instanceof PyTuple) return 'a tuple';
  if (v instanceof PySet) return 'a set';
  if (v instanceof Map) return 'a dict';
  if (v instanceof PyObject) return `a ${v.qualname} object`;
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'bytes';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Reads one pickle from `bytes` (from `opts.offset`) up to its STOP. Throws `DetkdError`
 * `<where>: unexpected end at byte N`, `<where>: refuses to call 'os.system' (byte N) ...`, etc.
 */
export function readPickle(
  bytes: Uint8Array,
  resolver: PickleResolver,
  opts: PickleOptions = {},
): PickleResult {
  const where = opts.where ?? 'pickle';
  const n = bytes.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = opts.offset ?? 0;
  let opAt = pos;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  const fail = (msg: string): never => {
    throw new DetkdError(`${where}: ${msg}`);
  };
  const need = (k: number): number => {
    if (!Number.isSafeInteger(k) || k < 0 || pos + k > n)
      fail(`unexpected end at byte ${n} (needs ${k} bytes at byte ${pos})`);
    const at = pos;
    pos += k;
    return at;
  };
  const take = (k: number): Uint8Array => {
    const at = need(k);
    return bytes.subarray(at, at + k);
  };
  const u8 = () => view.getUint8(need(1));
  const u16 = () => view.getUint16(need(2), true);
  const u32 = () => view.getUint32(need(4), true);
  const u64 = (): number => {
    const v = view.getBigUint64(need(8), true);
    if (v > BigInt(n)) fail(`length ${v} at byte ${pos - 8} is beyond the end of the data (${n} bytes)`);
    return Number(v);
  };
  const line = (): string => {
    const start = pos;
    let k = start;
    while (k < n && bytes[k] !== 0x0a) k++;
    if (k >= n) fail(`unexpected end at byte ${n} (an unterminated line from byte ${start})`);
    pos = k + 1;
    return latin1.decode(bytes.subarray(start, k));
  };
  const text = (b: Uint8Array): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail(`invalid UTF-8 in a string at byte ${opAt}`);
    }
  };
  // Arguments first, then the current stack: `stack.push(popMark())` would push onto the old one.
  const push = (v: unknown): void => {
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail(`stack underflow at byte ${opAt}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail(`stack underflow at byte ${opAt}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = marks.pop();
    if (prev === undefined) fail(`no MARK before byte ${opAt}`);
    stack = prev!;
    return items;
  };
  const memoGet = (k: number): unknown => {
    if (!memo.has(k)) fail(`memo key ${k} read before it was written (byte ${opAt})`);
    return memo.get(k);
  };
  const memoPut = (k: number) => memo.set(k, top());
  const globalOf = (module: string, name: string): unknown =>
    resolver.resolve(canonicalModule(module), name) ?? new PyGlobal(module, name);
  const refuse = (target: unknown, how: string): never => {
    if (target instanceof PyGlobal)
      fail(
        `refuses to call '${target.qualname}' (${how} at byte ${opAt}): only tensor, storage and container ` +
          'globals are allowed and nothing in a checkpoint is ever imported or run; a pickled nn.Module ' +
          'or other object must be saved again as a plain state_dict()',
      );
    return fail(`${how} at byte ${opAt} on ${describe(target)}, which cannot be called`);
  };
  const call = (target: unknown, args: unknown, how: string): unknown => {
    if (!(target instanceof PyCallable)) return refuse(target, how);
    if (!(args instanceof PyTuple))
      return fail(`${how} at byte ${opAt}: arguments are ${describe(args)}, not a tuple`);
    try {
      return target.call(args.items);
    } catch (e) {
      if (e instanceof DetkdError)
        throw new DetkdError(`${where}: ${target.qualname} (byte ${opAt}): ${e.message}`);
      throw e;
    }
  };
  const setItems = (d: unknown, items: unknown[]) => {
    if (!(d instanceof Map)) fail(`SETITEM(S) at byte ${opAt} on ${describe(d)}, not a dict`);
    if (items.length % 2 !== 0) fail(`SETITEMS at byte ${opAt} with an odd number of items`);
    for (let k = 0; k < items.length; k += 2) (d as Map<unknown, unknown>).set(items[k], items[k + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]) => {
    if (!Array.isArray(l)) fail(`APPEND(S) at byte ${opAt} on ${describe(l)}, not a list`);
    for (const it of items) (l as unknown[]).push(it);
  };

  for (;;) {
    opAt = pos;
    if (pos >= n) fail(`unexpected end at byte ${n} (no STOP)`);
    const op = bytes[pos++]!;
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail(`pickle protocol ${bytes[pos - 1]} at byte ${opAt} is newer than 5`);
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: {
        // STOP
        const v = pop();
        return { value: v, end: pos };
      }
      case 0x28: // MARK
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        if (stack.length === 0) popMark();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88:
        push(true);
        break;
      case 0x89:
        push(false);
        break;
      case 0x4a: // BININT
        push(view.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
        push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const len = view.getInt32(need(4), true);
        if (len < 0) fail(`negative LONG4 length at byte ${opAt}`);
        push(decodeLong(take(len)));
        break;
      }
      case 0x49: // INT (text; '00'/'01' are False/True)
      case 0x4c: {
        // LONG (text)
        let s = line().trim();
        if (op === 0x49 && (s === '00' || s === '01')) {
          push(s === '01');
          break;
        }
        if (s.endsWith('L')) s = s.slice(0, -1);
        if (!/^[-+]?\d+$/.test(s)) fail(`bad integer '${s.slice(0, 40)}' at byte ${opAt}`);
        push(intValue(BigInt(s)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        push(view.getFloat64(need(8), false));
        break;
      case 0x46: {
        // FLOAT (text)
        const s = line().trim();
        const v = Number(s);
        if (s === '' || (Number.isNaN(v) && !/^[-+]?nan$/i.test(s)))
          fail(`bad float '${s.slice(0, 40)}' at byte ${opAt}`);
        push(v);
        break;
      }
      case 0x58: // BINUNICODE
        push(text(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        push(text(take(u64())));
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str)
        push(latin1.decode(take(u8())));
        break;
      case 0x54: {
        // BINSTRING
        const len = view.getInt32(need(4), true);
        if (len < 0) fail(`negative BINSTRING length at byte ${opAt}`);
        push(latin1.decode(take(len)));
        break;
      }
      case 0x42: // BINBYTES
        push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        push(take(u64()).slice());
        break;
      case 0x7d: // EMPTY_DICT
        push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x8f: // EMPTY_SET
        push(new PySet([]));
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet)) fail(`ADDITEMS at byte ${opAt} on ${describe(s)}, not a set`);
        (s as PySet).items.push(...items);
        break;
      }
      case 0x91: // FROZENSET
        push(new PySet(popMark()));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        const d = new Map<unknown, unknown>();
        setItems(d, items);
        push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memoPut(u8());
        break;
      case 0x72: // LONG_BINPUT
        memoPut(u32());
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size);
        break;
      case 0x70: {
        // PUT (text)
        const s = line();
        if (!/^\d+$/.test(s)) fail(`bad memo key '${s.slice(0, 40)}' at byte ${opAt}`);
        memoPut(Number(s));
        break;
      }
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      case 0x67: {
        // GET (text)
        const s = line();
        if (!/^\d+$/.test(s)) fail(`bad memo key '${s.slice(0, 40)}' at byte ${opAt}`);
        push(memoGet(Number(s)));
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        push(globalOf(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          fail(`STACK_GLOBAL at byte ${opAt} needs two strings`);
        push(globalOf(module as string, name as string));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const f = pop();
        push(call(f, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop();
        const cls = pop();
        push(call(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) refuse(cls, 'NEWOBJ_EX with keyword arguments');
        push(call(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x69: {
        // INST: module and name inline, then the arguments since MARK
        const module = line();
        const name = line();
        const args = popMark();
        push(call(globalOf(module, name), new PyTuple(args), 'INST'));
        break;
      }
      case 0x6f: {
        // OBJ: class and arguments since MARK
        const items = popMark();
        if (items.length === 0) fail(`OBJ at byte ${opAt} without a class`);
        push(call(items[0], new PyTuple(items.slice(1)), 'OBJ'));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        build(obj, state);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        push(persistent(pid));
        break;
      }
      case 0x50: // PERSID (text)
        push(persistent(line()));
        break;
      default: {
        const name = OPNAMES[op];
        if (name !== undefined) fail(`opcode ${name} (byte ${opAt}) is not supported in a checkpoint`);
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')} at byte ${opAt}`);
      }
    }
  }

  function persistent(pid: unknown): unknown {
    if (!resolver.persistentLoad)
      return fail(`persistent id at byte ${opAt}, but this pickle has no storages`);
    try {
      return resolver.persistentLoad(pid);
    } catch (e) {
      if (e instanceof DetkdError)
        throw new DetkdError(`${where}: persistent id at byte ${opAt}: ${e.message}`);
      throw e;
    }
  }

  function build(obj: unknown, state: unknown): void {
    if (isBuildable(obj)) {
      try {
        obj.setState(state);
      } catch (e) {
        if (e instanceof DetkdError) throw new DetkdError(`${where}: BUILD at byte ${opAt}: ${e.message}`);
        throw e;
      }
      return;
    }
    if (obj instanceof Map && state instanceof Map) {
      // An OrderedDict's instance attributes (state_dict()'s `_metadata`): kept apart, not items.
      attributes.set(obj, state);
      return;
    }
    if (obj instanceof Map && state instanceof PyTuple && state.items.length === 2) {
      if (state.items[0] instanceof Map) attributes.set(obj, state.items[0] as Map<unknown, unknown>);
      return;
    }
    // A data class's __dict__, or (__dict__, slots) as copyreg writes it.
    const fields = state instanceof PyTuple && state.items.length === 2 ? state.items[0] : state;
    if (obj instanceof PyObject && fields instanceof Map) {
      for (const [k, v] of fields) obj.fields.set(k, v);
      return;
    }
    fail(`BUILD at byte ${opAt} on ${describe(obj)} would need to run its __setstate__; refused`);
  }
}

/** An object an allow-listed global made that takes a BUILD state (numpy's dtypes and arrays). */
export interface Buildable {
  setState(state: unknown): void;
}

function isBuildable(x: unknown): x is Buildable {
  return typeof x === 'object' && x !== null && typeof (x as { setState?: unknown }).setState === 'function';
}

/**
 * An allow-listed class that holds only data: NEWOBJ (no arguments) makes an empty `PyObject`,
 * BUILD fills its fields from the pickled `__dict__`. No method of the class is involved.
 */
export function dataClass(module: string, name: string): PyCallable {
  return new PyCallable(module, name, (args) => {
    if (args.length > 0) throw new DetkdError('takes no positional arguments');
    return new PyObject(`${module}.${name}`, new Map());
  });
}

/** Instance attributes BUILD set on dicts (an OrderedDict state dict's `_metadata`). */
const attributes = new WeakMap<object, Map<unknown, unknown>>();

/** The attributes a BUILD set on a dict (an OrderedDict's `__dict__`), if any. */
export function dictAttributes(d: Map<unknown, unknown>): Map<unknown, unknown> | undefined {
  return attributes.get(d);
}

// --- allow-listed globals that any checkpoint's containers need -------------------------------

/** `collections.OrderedDict`, the builtins containers and bytes need, and argparse.Namespace. */
export function containerGlobals(): PyCallable[] {
  const iterPairs = (args: unknown[]): Map<unknown, unknown> => {
    const d = new Map<unknown, unknown>();
    if (args.length === 0) return d;
    const src = args[0];
    const items = src instanceof PyTuple ? src.items : Array.isArray(src) ? src : null;
    if (args.length > 1 || items === null) throw new DetkdError('expects no arguments or one list of pairs');
    for (const p of items) {
      const pair = p instanceof PyTuple ? p.items : Array.isArray(p) ? p : null;
      if (pair === null || pair.length !== 2) throw new DetkdError('expects a list of (key, value) pairs');
      d.set(pair[0], pair[1]);
    }
    return d;
  };
  const iterItems = (args: unknown[]): unknown[] => {
    if (args.length === 0) return [];
    const src = args[0];
    if (args.length > 1) throw new DetkdError('expects at most one argument');
    if (src instanceof PyTuple || src instanceof PySet) return [...src.items];
    if (Array.isArray(src)) return [...src];
    throw new DetkdError(`expects a list, not ${describe(src)}`);
  };
  return [
    new PyCallable('collections', 'OrderedDict', iterPairs),
    new PyCallable('builtins', 'dict', iterPairs),
    new PyCallable('builtins', 'list', (args) => iterItems(args)),
    new PyCallable('builtins', 'tuple', (args) => new PyTuple(iterItems(args))),
    new PyCallable('builtins', 'set', (args) => new PySet(iterItems(args))),
    new PyCallable('builtins', 'frozenset', (args) => new PySet(iterItems(args))),
    new PyCallable('builtins', 'bytes', (args) => bytesOf(args)),
    new PyCallable('builtins', 'bytearray', (args) => bytesOf(args)),
    // Protocol 2 writes Python 3 bytes as _codecs.encode(text, 'latin1').
    new PyCallable('_codecs', 'encode', (args) => {
      const [s, enc] = args;
      if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1'))
        throw new DetkdError("only encode(str, 'latin1') (how protocol 2 writes bytes) is supported");
      const out = new Uint8Array(s.length);
      for (let k = 0; k < s.length; k++) {
        const c = s.charCodeAt(k);
        if (c > 255) throw new DetkdError('a latin1 string holds a character beyond 255');
        out[k] = c;
      }
      return out;
    }),
    dataClass('argparse', 'Namespace'),
  ];
}

function bytesOf(args: unknown[]): Uint8Array {
  if (args.length === 0) return new Uint8Array(0);
  const src = args[0];
  if (src instanceof Uint8Array) return src.slice();
  if (
    Array.isArray(src) &&
    src.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < 256)
  )
    return Uint8Array.from(src as number[]);
  throw new DetkdError(`expects bytes or a list of byte values, not ${describe(src)}`);
}

/** A resolver over a fixed list of allow-listed callables, with an optional persistent loader. */
export function allowListResolver(
  allowed: readonly PyCallable[],
  persistentLoad?: (pid: unknown) => unknown,
): PickleResolver {
  const byName = new Map(allowed.map((c) => [c.qualname, c]));
  const resolver: PickleResolver = { resolve: (module, name) => byName.get(`${module}.${name}`) };
  if (persistentLoad) resolver.persistentLoad = persistentLoad;
  return resolver;
}
