// The project documents itself: code, comments, scripts, recipes, tests and README point into
// docs/ (docs/architecture.md, docs/methods/*.md, docs/coco-eval.md), never to notes that live
// outside the repository. This scans every file git knows (tracked, plus new files not ignored)
// and names file:line for each mention, and for each docs/*.md it names that does not exist. The
// forbidden strings are built from pieces, so this file does not match itself and needs no
// exclusion.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const UP = '..';
const SHARED = 'sha' + 'red';
const FORBIDDEN: readonly { what: string; re: RegExp }[] = [
  { what: `${UP}/${SHARED}`, re: new RegExp(`\\.\\./${SHARED}\\b`) },
  { what: `/work/${SHARED}`, re: new RegExp(`/work/${SHARED}\\b`) },
  { what: 'the methods reference', re: new RegExp(`\\bMETH${'ODS'}(\\.md|\\s*§)`) },
  { what: 'the architecture reference', re: new RegExp(`\\bARCHI${'TECTURE'}\\b`) },
  { what: 'the engine-probe note', re: new RegExp(`ENGINE[-_]${'PROBE'}`) },
  { what: 'the training-budgets note', re: new RegExp(`TRAINING[-_]${'BUDGETS'}`) },
];

/** The mentions in one file's text, as `path:line: what`. */
export function findMentions(path: string, text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    for (const f of FORBIDDEN) {
      if (f.re.test(lines[i]!)) out.push(`${path}:${i + 1}: ${f.what}`);
    }
  }
  return out;
}

/** The docs/*.md paths a text names, as `path:line: docs/...` for those that do not exist. */
export function missingDocs(path: string, text: string, exists: (p: string) => boolean): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    for (const m of lines[i]!.matchAll(/(?<![\w/.-])docs\/[\w/.-]*?\.md\b/g)) {
      if (!exists(m[0])) out.push(`${path}:${i + 1}: ${m[0]}`);
    }
  }
  return out;
}

function gitFiles(): string[] | null {
  const r = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.status !== 0) return null;
  return [...new Set(r.stdout.split('\0').filter((f) => f !== ''))];
}

test('the scanner flags each forbidden mention with its line and passes docs/ references', () => {
  const text = [
    'ok: see docs/methods/ld.md and docs/architecture.md',
    `// see ${UP}/${SHARED}/notes`,
    `// METH${'ODS'}.md 2.1`,
    `// (ARCHI${'TECTURE'} principle 3)`,
    `// TRAINING-${'BUDGETS'}: a teacher`,
  ].join('\n');
  assert.deepEqual(findMentions('x.ts', text), [
    `x.ts:2: ${UP}/${SHARED}`,
    'x.ts:3: the methods reference',
    'x.ts:4: the architecture reference',
    'x.ts:5: the training-budgets note',
  ]);
});

test('docs/ references are checked against the files that exist', () => {
  const have = new Set(['docs/architecture.md', 'docs/methods/ld.md']);
  const gone = `docs/methods/${'no'}pe.md`; // pieces, so the repository scan below does not see it
  const text = `see docs/methods/ld.md and docs/architecture.md\n// ${gone}; ./docs/x.md`;
  assert.deepEqual(
    missingDocs('y.ts', text, (p) => have.has(p)),
    [`y.ts:2: ${gone}`],
  );
});

test('no file in the repository points outside it for its docs', (t) => {
  const files = gitFiles();
  if (files === null) {
    t.skip('not a git checkout');
    return;
  }
  assert.ok(files.includes('README.md') && files.length > 100, `git listed ${files.length} files`);
  const found: string[] = [];
  const dangling: string[] = [];
  const exists = (p: string): boolean => existsSync(join(ROOT, p));
  let scanned = 0;
  for (const f of files) {
    let buf: Buffer;
    try {
      buf = readFileSync(join(ROOT, f));
    } catch {
      continue; // deleted in the working tree, or a directory (submodule)
    }
    if (buf.length > 4 << 20 || buf.includes(0)) continue; // binary fixtures, weights
    scanned++;
    const text = buf.toString('utf8');
    found.push(...findMentions(f, text));
    dangling.push(...missingDocs(f, text, exists));
  }
  assert.ok(scanned > 100, `only ${scanned} text files scanned`);
  assert.deepEqual(found, [], `point these into docs/ instead:\n${found.join('\n')}`);
  assert.deepEqual(dangling, [], `these docs/ pages do not exist:\n${dangling.join('\n')}`);
});
