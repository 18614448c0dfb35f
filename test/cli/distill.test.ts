// `detkd distill` and `detkd compare` end to end on the synthetic tiny set, with short runs and a
// freshly initialised teacher (these tests check the plumbing, not the gains): the student
// deliverable holds the student alone and loads like any detector checkpoint; compare writes the
// table and the plot, skips finished runs and resumes interrupted ones; the teacher stamp round-
// trips through fp16; a non-distillation recipe is refused with a clear error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { loadDetectorCheckpoint } from '../../src/app/checkpoint-load.ts';
import { readTeacherStamp, writeStampedTeacher } from '../../src/app/teacher-stamp.ts';
import { command as compare } from '../../src/cli/commands/compare.ts';
import { command as distill } from '../../src/cli/commands/distill.ts';
import { DetkdError } from '../../src/core/errors.ts';
import { manualSeed } from '../../src/core/random.ts';
import { loadStateDictFile } from '../../src/core/serialize.ts';
import { dispose } from '../../src/core/tensor.ts';
import { generateSynth } from '../../src/data/synth/generate.ts';
import { buildDetector, type DetectorConfig } from '../../src/detection/models/build.ts';
import { writeModel } from '../../src/train/checkpoint.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'detkd-distill-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const STUDENT: DetectorConfig = {
  kind: 'gfl',
  numClasses: 13,
  backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' },
  channels: 16,
  stackedConvs: 1,
  numLevels: 3,
};
const TEACHER: DetectorConfig = {
  ...STUDENT,
  backbone: { ...STUDENT.backbone, widthMultiplier: 0.25 },
  channels: 32,
};

function recipeSource(name: string, terms: string, imports: string): string {
  const base = {
    name: 'tiny-student',
    description: 'test student',
    data: {
      synth: { preset: 'tiny', seed: 0, dir: join(dir, 'data') },
      resize: { kind: 'fixed', height: 128, width: 128 },
      batchSize: 8,
      numWorkers: 0,
      cacheMB: 0,
    },
    model: STUDENT,
    train: {
      epochs: 1,
      optimizer: { kind: 'sgd', lr: 0.01, momentum: 0.9, weightDecay: 1e-4 },
      seed: 0,
      logInterval: 2,
    },
  };
  return `import { defineDistillRecipe } from '${ROOT}/src/app/distill-recipe.ts';
${imports}
const base = ${JSON.stringify(base)};
export const recipe = defineDistillRecipe({
  ...base,
  name: '${name}',
  description: '${name} (test)',
  distill: {
    teacher: { recipe: { ...base, name: 'tiny-teacher', model: ${JSON.stringify(TEACHER)} }, checkpoint: '${join(dir, 'teacher.safetensors')}' },
    terms: (p) => [${terms}],
  },
});
`;
}

// Recipe files outside the package are written as .mts: tsx would load a .ts file there as
// CommonJS, with a second copy of every module it imports (and of the native addon's state).
/** Runs a command with console.log captured (progress lines still go to stdout). */
async function quiet<T>(fn: () => Promise<T>): Promise<{ value: T; out: string }> {
  const lines: string[] = [];
  const orig = console.log;
  console.log = (...a: unknown[]) => {
    lines.push(a.map(String).join(' '));
  };
  try {
    return { value: await fn(), out: lines.join('\n') };
  } finally {
    console.log = orig;
  }
}

test('setup: tiny data, a teacher file and two distillation recipes', async () => {
  await generateSynth({ out: join(dir, 'data'), preset: 'tiny', seed: 0 });
  manualSeed(5);
  const teacher = buildDetector(TEACHER);
  writeModel(join(dir, 'teacher.safetensors'), teacher, {}, {
    name: 'tiny-teacher',
    model: TEACHER,
  } as never);
  teacher.dispose();
  const m = ROOT;
  writeFileSync(
    join(dir, 'ld-kd.mts'),
    recipeSource(
      'ld-kd',
      'ld(p), kd(p)',
      `import { ld } from '${m}/src/distill/methods/ld.ts';\nimport { kd } from '${m}/src/distill/methods/kd.ts';`,
    ),
  );
  writeFileSync(
    join(dir, 'fgd.mts'),
    recipeSource('fgd', 'fgd(p)', `import { fgd } from '${m}/src/distill/methods/features.ts';`),
  );
  writeFileSync(
    join(dir, 'plain.mts'),
    `import { recipe as r } from '${join(dir, 'fgd.mts')}';\nconst { distill: _d, ...rest } = r;\nexport const recipe = { ...rest, name: 'plain' };\n`,
  );
  // The same student trained alone with PAA's own assignment, and one with another schedule.
  writeFileSync(
    join(dir, 'plain-paa.mts'),
    `import { recipe as r } from '${join(dir, 'plain.mts')}';\nexport const recipe = { ...r, name: 'plain-paa', model: { ...r.model, assigner: 'paa' } };\n`,
  );
  writeFileSync(
    join(dir, 'plain-long.mts'),
    `import { recipe as r } from '${join(dir, 'plain.mts')}';\nexport const recipe = { ...r, name: 'plain-long', train: { ...r.train, epochs: 2 } };\n`,
  );
});

test('detkd distill trains the student; the deliverable holds the student alone and loads as a detector', async () => {
  const out = join(dir, 'run-ld-kd');
  const { value, out: log } = await quiet(() => distill.run([join(dir, 'ld-kd.mts'), '--out', out]));
  assert.equal(value, 0);
  assert.match(log, /distill: ld \(main x0\.25, vlr x0\.25\) \+ kd x10/, 'terms with their weights');
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.equal(result.status, 'finished');
  assert.deepEqual(result.terms, ['ld', 'kd']);
  assert.ok(result.final.AP >= 0 && result.final.AP <= 1);
  // The deliverable: student keys only (no 'student.' prefix, no distill modules, no teacher).
  const { tensors } = loadStateDictFile(join(out, 'model_final.safetensors'));
  const keys = [...tensors.keys()];
  dispose([...tensors.values()]);
  assert.ok(keys.some((k) => k.startsWith('bbox_head.')));
  assert.ok(
    keys.every((k) => /^(backbone|neck|bbox_head)\./.test(k)),
    keys.find((k) => !/^(backbone|neck|bbox_head)\./.test(k)),
  );
  // `detkd eval` with the distillation recipe runs the distilled student like any detector.
  const ev = spawnSync(
    process.execPath,
    [
      join(ROOT, 'bin', 'detkd.js'),
      'eval',
      '--recipe',
      join(dir, 'ld-kd.mts'),
      '--checkpoint',
      join(out, 'model_final.safetensors'),
      '--json',
    ],
    { encoding: 'utf8', env: { ...process.env, DETKD_NUM_THREADS: '1' } },
  );
  assert.equal(ev.status, 0, ev.stderr);
  const evJson = JSON.parse(ev.stdout);
  assert.equal(evJson.AP, result.final.AP, 'eval reproduces the final AP of the run');
  const student = buildDetector(STUDENT);
  const info = loadDetectorCheckpoint(student, join(out, 'model_final.safetensors'), {
    name: 'ld-kd',
    model: STUDENT,
  });
  assert.equal(info.kind, 'model');
  student.dispose();
  // The log has every loss term separately.
  const rec = readFileSync(join(out, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type":"train"'))
    .map((l) => JSON.parse(l));
  assert.ok(rec.length > 0);
  for (const k of ['loss_cls', 'loss_bbox', 'loss_dfl', 'loss_ld_main', 'loss_ld_vlr', 'loss_kd']) {
    assert.ok(Number.isFinite(rec[0].losses[k]), k);
  }
});

test('detkd distill refuses a recipe without a distill section, naming it', async () => {
  await assert.rejects(
    () => quiet(() => distill.run([join(dir, 'plain.mts')])),
    (e: unknown) => e instanceof DetkdError && /'plain' has no 'distill' section/.test(e.message),
  );
});

test('detkd compare: table and plot, finished runs skipped, interrupted runs resumed', async () => {
  const out = join(dir, 'cmp');
  const args = [join(dir, 'ld-kd.mts'), join(dir, 'fgd.mts'), '--out', out, '--seeds', '1'];
  const first = await quiet(() => compare.run(args));
  assert.equal(first.value, 0);
  const md = readFileSync(join(out, 'results.md'), 'utf8');
  for (const arm of ['teacher (tiny-teacher)', 'baseline', 'ld-kd', 'fgd'])
    assert.ok(md.includes(`| ${arm} |`), arm);
  assert.match(md, /gap closed/);
  const png = readFileSync(join(out, 'ap.png'));
  assert.deepEqual([...png.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  // Same seed, same student init and data order: the baseline and fgd arms start identically
  // (their first logged head losses can differ only through the distillation gradient, which
  // acts from the first step; so compare the initial weights via the MAC/param record instead).
  const base = JSON.parse(readFileSync(join(out, 'baseline', 'seed-0', 'result.json'), 'utf8'));
  const fgdR = JSON.parse(readFileSync(join(out, 'fgd', 'seed-0', 'result.json'), 'utf8'));
  assert.equal(base.studentParams, fgdR.studentParams);
  assert.equal(base.studentMacs, fgdR.studentMacs);
  // "Interrupt" one arm: its result is gone, its last checkpoint stays -> rerun resumes it.
  rmSync(join(out, 'fgd', 'seed-0', 'result.json'));
  const again = await quiet(() => compare.run(args));
  assert.equal(again.value, 0);
  assert.match(again.out, /baseline seed 0: done earlier/);
  assert.match(again.out, /ld-kd seed 0: done earlier/);
  assert.match(again.out, /fgd seed 0 \(resuming\)/);
  assert.ok(existsSync(join(out, 'fgd', 'seed-0', 'result.json')));
});

test('detkd compare: a plain recipe is an arm trained without a teacher; other schedules are refused', async () => {
  const out = join(dir, 'cmp');
  const args = [
    join(dir, 'ld-kd.mts'),
    join(dir, 'fgd.mts'),
    join(dir, 'plain-paa.mts'),
    '--out',
    out,
    '--seeds',
    '1',
  ];
  const r = await quiet(() => compare.run(args));
  assert.equal(r.value, 0);
  assert.match(r.out, /fgd seed 0: done earlier/);
  assert.match(r.out, /plain-paa seed 0 -> /);
  const md = readFileSync(join(out, 'results.md'), 'utf8');
  assert.ok(md.includes('| plain-paa |'));
  assert.match(md, /Trained without a teacher \(other ways to train the same student\): plain-paa\./);
  const res = JSON.parse(readFileSync(join(out, 'plain-paa', 'seed-0', 'result.json'), 'utf8'));
  assert.equal(res.teacher ?? null, null, 'no teacher in a plain arm');
  assert.ok(Number.isFinite(res.final.AP));
  await assert.rejects(
    () => quiet(() => compare.run([join(dir, 'fgd.mts'), join(dir, 'plain-long.mts'), '--out', out])),
    /'plain-long' \(trained without a teacher\) must use the same data and schedule/,
  );
  await assert.rejects(
    () => quiet(() => compare.run([join(dir, 'plain.mts'), '--out', out])),
    /none of .* is a distillation recipe/,
  );
});

test('the committed-teacher stamp: fp16 storage, generator version and dataset hash round-trip', () => {
  const src = join(dir, 'teacher.safetensors');
  const out = join(dir, 'teacher-fp16.safetensors');
  writeStampedTeacher(src, out, { synthVersion: 2, synthHash: 'abc123', recipe: 'tiny-teacher' });
  assert.deepEqual(readTeacherStamp(out), { synthVersion: 2, synthHash: 'abc123', recipe: 'tiny-teacher' });
  assert.equal(readTeacherStamp(src), null);
  const { tensors } = loadStateDictFile(out);
  const dtypes = new Set([...tensors.values()].map((t) => t.dtype));
  dispose([...tensors.values()]);
  assert.ok(dtypes.has('float16') && !dtypes.has('float32'));
  // fp16 weights load into the float32 teacher, equal to the fp32 file's up to fp16 rounding.
  const a = buildDetector(TEACHER);
  const b = buildDetector(TEACHER);
  loadDetectorCheckpoint(a, src, { name: 'tiny-teacher', model: TEACHER });
  loadDetectorCheckpoint(b, out, { name: 'tiny-teacher', model: TEACHER });
  const wa = a.stateDict().get('bbox_head.gfl_cls.weight')!;
  const wb = b.stateDict().get('bbox_head.gfl_cls.weight')!;
  assert.equal(wb.dtype, 'float32');
  assert.ok(wa.sub(wb).abs().max().item() <= wa.abs().max().item() * 2 ** -10);
  a.dispose();
  b.dispose();
});
