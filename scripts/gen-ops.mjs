#!/usr/bin/env node
// Generates the op table from native/ops.txt and the linked libtorch's schemas:
//   native/ops.generated.inc   the addon's table (name, overload, schema for drift checks)
//   src/core/ops.generated.ts  typed TypeScript wrappers, one per op
// Both are checked in, so a libtorch with different schemas shows up as a diff.
//   node scripts/gen-ops.mjs [--check]   (--check: fail if the checked-in files are stale)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { torchConfig } from './torch-config.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cfg = torchConfig();

function dumpSchemas() {
  const src = join(root, 'native', 'tools', 'dump_schemas.cc');
  const outDir = join(root, 'native', 'build');
  mkdirSync(outDir, { recursive: true });
  const exe = join(outDir, 'dump_schemas');
  if (!existsSync(exe) || statSync(exe).mtimeMs < statSync(src).mtimeMs) {
    const args = ['-std=c++17', '-O0', `-D_GLIBCXX_USE_CXX11_ABI=${cfg.abi}`];
    for (const inc of cfg.includes) if (inc !== '/usr/include') args.push(`-I${inc}`);
    args.push(src, '-o', exe, ...cfg.libs);
    execFileSync('g++', args, { stdio: 'inherit' });
  }
  return execFileSync(exe, { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n')
    .filter(Boolean);
}

// --- schema parsing -----------------------------------------------------------------------
function splitTop(s) {
  const parts = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(' || ch === '[') depth++;
    if (ch === ')' || ch === ']') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) parts.push(cur.trim());
  return parts;
}

function parseSchema(line) {
  const open = line.indexOf('(');
  const full = line.slice(0, open);
  let depth = 0;
  let close = -1;
  for (let i = open; i < line.length; i++) {
    if (line[i] === '(') depth++;
    if (line[i] === ')' && --depth === 0) {
      close = i;
      break;
    }
  }
  const argStr = line.slice(open + 1, close);
  const retStr = line.slice(close).replace(/^\)\s*->\s*/, '');
  const args = [];
  for (const p of splitTop(argStr)) {
    if (p === '*') continue;
    const m = /^(.*\S)\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(p);
    if (!m) throw new Error(`cannot parse argument '${p}' in ${line}`);
    const rawType = m[1];
    const type = rawType.replace(/\([^)]*\)/g, '');
    args.push({ type, name: m[2], hasDefault: m[3] !== undefined, written: /!\)/.test(rawType) });
  }
  let rets = [];
  const r = retStr.trim();
  if (r === '()') rets = [];
  else if (r.startsWith('(')) rets = splitTop(r.slice(1, -1)).map((x) => x.split(/\s+/)[0]);
  else rets = [r];
  rets = rets.map((t) => ({ written: /!\)/.test(t), type: t.replace(/\([^)]*\)/g, '') }));
  const dot = full.indexOf('.');
  return {
    full,
    name: dot < 0 ? full : full.slice(0, dot),
    overload: dot < 0 ? '' : full.slice(dot + 1),
    args,
    rets,
  };
}

// --- TypeScript types for schema types ----------------------------------------------------
const TS = {
  Tensor: ['Tensor', (v) => `${v}.h`],
  'Tensor?': ['Tensor | null', (v) => `oh(${v})`],
  'Tensor[]': ['readonly Tensor[]', (v) => `hs(${v})`],
  'Tensor?[]': ['readonly (Tensor | null)[]', (v) => `ohs(${v})`],
  int: ['number'],
  SymInt: ['number'],
  'int?': ['number | null'],
  'SymInt?': ['number | null'],
  'int[]': ['readonly number[]'],
  'SymInt[]': ['readonly number[]'],
  'int[]?': ['readonly number[] | null'],
  'SymInt[]?': ['readonly number[] | null'],
  float: ['number'],
  'float?': ['number | null'],
  'float[]?': ['readonly number[] | null'],
  Scalar: ['Scalar'],
  'Scalar?': ['Scalar | null'],
  bool: ['boolean'],
  'bool?': ['boolean | null'],
  str: ['string'],
  'str?': ['string | null'],
  ScalarType: ['DType', (v) => `dtypeCode(${v})`],
  'ScalarType?': ['DType | null', (v) => `odtypeCode(${v})`],
  'Layout?': ['null'],
  Device: ['string'],
  'Device?': ['string | null'],
  MemoryFormat: ['MemoryFormat', (v) => `memoryFormatCode(${v})`],
  'MemoryFormat?': ['MemoryFormat | null', (v) => `omemoryFormatCode(${v})`],
  'Generator?': ['Generator | null', (v) => `ogen(${v})`],
};

function tsType(t) {
  const fixed = /^(int|SymInt)\[(\d+)\](\?)?$/.exec(t);
  if (fixed) return [`number | readonly number[]${fixed[3] ? ' | null' : ''}`];
  const e = TS[t];
  if (!e) throw new Error(`no TypeScript mapping for schema type ${t}`);
  return e;
}

const RESERVED = new Set(['self', 'default', 'function', 'var', 'new', 'delete', 'in', 'out', 'case']);
const ident = (n) => (RESERVED.has(n) ? `${n}_` : n);
const fnName = (op) =>
  op.overload ? `${op.name.replace('aten::', '')}_${op.overload}` : op.name.replace('aten::', '');

function retKind(op) {
  const rs = op.rets;
  if (rs.length === 0 || (rs.length === 1 && rs[0].written)) return 'Void';
  if (rs.length === 1 && rs[0].type === 'Tensor') return 'Tensor';
  if (rs.length === 1 && ['Scalar', 'int', 'float', 'bool'].includes(rs[0].type)) return 'Value';
  return 'Tensors';
}

function genTs(ops) {
  const lines = [
    '// GENERATED by scripts/gen-ops.mjs from native/ops.txt and the linked libtorch schemas. Do not edit.',
    '// One typed wrapper per allow-listed ATen operator; the addon checks every call against the schema.',
    "import type { DType, MemoryFormat, Scalar } from './dtype.ts';",
    "import { dtypeCode, memoryFormatCode, odtypeCode, omemoryFormatCode } from './dtype.ts';",
    "import type { Generator } from './random.ts';",
    "import { native } from './native.ts';",
    // tensor.ts imports this file at run time, so Tensor comes in as a type only and the
    // handle->Tensor plumbing from handles.ts, which does not import tensor.ts back.
    "import { hs, oh, ohs, ogen, wrap, wrapAll } from './handles.ts';",
    "import type { Tensor } from './tensor.ts';",
    '',
    '// Keep the imports used even when no op needs a given helper.',
    'void dtypeCode; void memoryFormatCode; void odtypeCode; void omemoryFormatCode; void oh; void ohs; void hs; void ogen;',
    '',
  ];
  ops.forEach((op, id) => {
    const params = [];
    const callArgs = [];
    // A parameter is optional in TypeScript only when it and every later one may be left out.
    const omittable = op.args.map((a) => a.hasDefault || a.type.endsWith('?'));
    for (let i = omittable.length - 2; i >= 0; i--) omittable[i] = omittable[i] && omittable[i + 1];
    op.args.forEach((a, i) => {
      const [ty, conv] = tsType(a.type);
      const n = ident(a.name);
      params.push(`${n}${omittable[i] ? '?' : ''}: ${ty}`);
      callArgs.push(conv ? (omittable[i] ? `${n} === undefined ? undefined : ${conv(n)}` : conv(n)) : n);
    });
    const kind = retKind(op);
    let ret;
    let body;
    const call = `native.call${kind}(${[id, ...callArgs].join(', ')})`;
    if (kind === 'Void') {
      ret = 'void';
      body = `${call};`;
    } else if (kind === 'Tensor') {
      ret = 'Tensor';
      body = `return wrap(${call});`;
    } else if (kind === 'Value') {
      ret = op.rets[0].type === 'bool' ? 'boolean' : 'number | boolean';
      body = op.rets[0].type === 'bool' ? `return ${call} === true;` : `return ${call};`;
    } else {
      const isList = op.rets.length === 1;
      ret = isList ? 'Tensor[]' : `[${op.rets.map(() => 'Tensor').join(', ')}]`;
      body = isList
        ? `return wrapAll(${call});`
        : `const r = wrapAll(${call});\n  return [${op.rets.map((_, i) => `r[${i}]!`).join(', ')}];`;
    }
    lines.push(`/** \`${op.line}\` */`);
    lines.push(`export function ${fnName(op)}(${params.join(', ')}): ${ret} {\n  ${body}\n}`);
  });
  return `${lines.join('\n')}\n`;
}

function genInc(ops) {
  const esc = (s) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  return `// GENERATED by scripts/gen-ops.mjs from native/ops.txt. Do not edit.\n${ops
    .map((o) => `{"${o.name}", "${o.overload}", "${esc(o.line)}"},`)
    .join('\n')}\n`;
}

const wanted = readFileSync(join(root, 'native', 'ops.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const schemas = new Map();
for (const line of dumpSchemas()) {
  const full = line.slice(0, line.indexOf('('));
  schemas.set(full, line);
}
const ops = wanted.map((w) => {
  const line = schemas.get(w);
  if (!line) throw new Error(`native/ops.txt: ${w} is not an operator of the linked libtorch`);
  return { ...parseSchema(line), line };
});
const names = new Set();
for (const o of ops) {
  const n = fnName(o);
  if (names.has(n)) throw new Error(`duplicate op ${o.full}`);
  names.add(n);
}
const outputs = [
  [join(root, 'native', 'ops.generated.inc'), genInc(ops)],
  [join(root, 'src', 'core', 'ops.generated.ts'), genTs(ops)],
];
const check = process.argv.includes('--check');
let stale = false;
for (const [path, text] of outputs) {
  const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
  if (old === text) continue;
  stale = true;
  if (!check) writeFileSync(path, text);
  console.error(`gen-ops: ${check ? 'stale' : 'wrote'} ${path}`);
}
if (check && stale) process.exit(1);
console.error(`gen-ops: ${ops.length} ops`);
