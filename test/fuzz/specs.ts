// The op table as the fuzzer sees it: parsed from src/core/ops.generated.ts (each wrapper carries
// its schema in its doc comment and its op id in the native call), so every generated wrapper and
// every op id is covered without a hand-kept list.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Kind =
  | 'Tensor'
  | 'OptTensor'
  | 'TensorList'
  | 'OptTensorList'
  | 'Int'
  | 'OptInt'
  | 'IntList'
  | 'OptIntList'
  | 'Float'
  | 'OptFloat'
  | 'OptFloatList'
  | 'Scalar'
  | 'OptScalar'
  | 'Bool'
  | 'OptBool'
  | 'Str'
  | 'OptStr'
  | 'ScalarType'
  | 'OptScalarType'
  | 'OptLayout'
  | 'Device'
  | 'OptDevice'
  | 'MemoryFormat'
  | 'OptMemoryFormat'
  | 'OptGenerator';

export type CallKind = 'callTensor' | 'callTensors' | 'callVoid' | 'callValue';

export interface ArgSpec {
  name: string;
  kind: Kind;
  /** fixed list size of int[N], else -1 */
  n: number;
  hasDefault: boolean;
}

export interface OpSpec {
  id: number;
  label: string;
  wrapper: string;
  call: CallKind;
  args: ArgSpec[];
}

const KINDS: Record<string, Kind> = {
  Tensor: 'Tensor',
  'Tensor?': 'OptTensor',
  'Tensor[]': 'TensorList',
  'Tensor?[]': 'OptTensorList',
  int: 'Int',
  SymInt: 'Int',
  'int?': 'OptInt',
  'SymInt?': 'OptInt',
  'int[]': 'IntList',
  'SymInt[]': 'IntList',
  'int[]?': 'OptIntList',
  'SymInt[]?': 'OptIntList',
  float: 'Float',
  'float?': 'OptFloat',
  'float[]?': 'OptFloatList',
  Scalar: 'Scalar',
  'Scalar?': 'OptScalar',
  bool: 'Bool',
  'bool?': 'OptBool',
  str: 'Str',
  'str?': 'OptStr',
  ScalarType: 'ScalarType',
  'ScalarType?': 'OptScalarType',
  'Layout?': 'OptLayout',
  Device: 'Device',
  'Device?': 'OptDevice',
  MemoryFormat: 'MemoryFormat',
  'MemoryFormat?': 'OptMemoryFormat',
  'Generator?': 'OptGenerator',
};

function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(' || ch === '[') depth++;
    if (ch === ')' || ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else {
      cur += ch;
    }
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

function parseArg(tok: string, label: string): ArgSpec {
  // drop alias annotations first: Tensor(a!) -> Tensor, Tensor(a -> *)[] -> Tensor[]
  const m = /^(\S+)\s+(\w+)(=.*)?$/.exec(tok.replace(/\([a-z!]+( -> \*)?\)/g, ''));
  if (m === null) throw new Error(`${label}: cannot parse argument '${tok}'`);
  let type = m[1] as string;
  let n = -1;
  const fixed = /^(int|SymInt)\[(\d+)\](\??)$/.exec(type);
  if (fixed !== null) {
    n = Number(fixed[2]);
    type = `${fixed[1]}[]${fixed[3]}`;
  }
  const kind = KINDS[type];
  if (kind === undefined) throw new Error(`${label}: unknown argument type '${type}'`);
  return { name: m[2] as string, kind, n, hasDefault: m[3] !== undefined };
}

export function parseOpSpecs(root: string): OpSpec[] {
  const src = readFileSync(join(root, 'src/core/ops.generated.ts'), 'utf8');
  const re =
    /\/\*\* `(aten::[\w.]+)\((.*)\) -> .*` \*\/\nexport function (\w+)\([^\n]*\n[^\n]*?native\.(call\w+)\((\d+)/g;
  const specs: OpSpec[] = [];
  for (const m of src.matchAll(re)) {
    const label = m[1] as string;
    const args = splitTop(m[2] as string)
      .filter((t) => t !== '*')
      .map((t) => parseArg(t, label));
    specs.push({ id: Number(m[5]), label, wrapper: m[3] as string, call: m[4] as CallKind, args });
  }
  return specs.sort((a, b) => a.id - b.id);
}
