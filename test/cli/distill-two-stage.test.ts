// `detkd distill` across detector kinds, end to end on the synthetic tiny set with short runs and
// freshly initialised teachers (plumbing, not gains): a Faster R-CNN teacher into a GFL student
// with PKD (levels paired by stride: the teacher's P2..P5 against the student's P3..P5), a GFL
// teacher into a Faster R-CNN student with FGD, and a recipe pairing a dense-only term with a
// two-stage teacher, refused before training with a message naming the term.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { command as distill } from '../../src/cli/commands/distill.ts';
import { DetkdError } from '../../src/core/errors.ts';
import { manualSeed } from '../../src/core/random.ts';
import { loadStateDictFile } from '../../src/core/serialize.ts';
import { dispose } from '../../src/core/tensor.ts';
import { generateSynth } from '../../src/data/synth/generate.ts';
import { buildDetector } from '../../src/detection/models/build.ts';
import type { DenseDetectorConfig, FasterRcnnConfig } from '../../src/detection/models/config.ts';
import { writeModel } from '../../src/train/checkpoint.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'detkd-distill2-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const GFL: DenseDetectorConfig = {
  kind: 'gfl',
  numClasses: 13,
  backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' },
  channels: 16,
  stackedConvs: 1,
  numLevels: 3,
};
const FRCNN: FasterRcnnConfig = {
  kind: 'faster-rcnn',
  numClasses: 13,
  backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' },
  channels: 16,
  levels: { first: 2, count: 4 },
  fcChannels: 64,
  rpn: { train: { preNms: 200, postNms: 100 }, test: { preNms: 100, postNms: 100 } },
  roi: { samples: 32 },
};

function recipeSource(
  name: string,
  student: object,
  teacher: object,
  terms: string,
  imports: string,
): string {
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
    model: student,
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
    teacher: { recipe: { ...base, name: '${name}-teacher', model: ${JSON.stringify(teacher)} }, checkpoint: '${join(dir, `${name}-teacher.safetensors`)}' },
    terms: (p) => [${terms}],
  },
});
`;
}

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

function writeTeacher(name: string, cfg: DenseDetectorConfig | FasterRcnnConfig): void {
  manualSeed(5);
  const t = buildDetector(cfg);
  writeModel(join(dir, `${name}-teacher.safetensors`), t, {}, {
    name: `${name}-teacher`,
    model: cfg,
  } as never);
  t.dispose();
}

const features = `import { fgd, pkd } from '${ROOT}/src/distill/methods/features.ts';\nimport { ld } from '${ROOT}/src/distill/methods/ld.ts';`;

test('setup: tiny data, teachers of both kinds, three recipes', async () => {
  await generateSynth({ out: join(dir, 'data'), preset: 'tiny', seed: 0 });
  writeTeacher('frcnn-gfl-pkd', FRCNN);
  writeTeacher('gfl-frcnn-fgd', GFL);
  writeTeacher('frcnn-gfl-ld', FRCNN);
  writeFileSync(
    join(dir, 'frcnn-gfl-pkd.mts'),
    recipeSource('frcnn-gfl-pkd', GFL, FRCNN, 'pkd(p)', features),
  );
  writeFileSync(
    join(dir, 'gfl-frcnn-fgd.mts'),
    recipeSource('gfl-frcnn-fgd', FRCNN, GFL, 'fgd(p)', features),
  );
  writeFileSync(join(dir, 'frcnn-gfl-ld.mts'), recipeSource('frcnn-gfl-ld', GFL, FRCNN, 'ld(p)', features));
});

test('a Faster R-CNN teacher distils a GFL student with PKD (weight 6, stride pairing)', async () => {
  const out = join(dir, 'run-pkd');
  const { value, out: log } = await quiet(() => distill.run([join(dir, 'frcnn-gfl-pkd.mts'), '--out', out]));
  assert.equal(value, 0);
  assert.match(log, /teacher: frcnn-gfl-pkd-teacher/);
  assert.match(log, /distill: pkd x6\b/, 'the two-stage teacher default weight');
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.equal(result.status, 'finished');
  const rec = readFileSync(join(out, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type":"train"'))
    .map((l) => JSON.parse(l));
  for (const k of ['loss_cls', 'loss_bbox', 'loss_dfl', 'loss_pkd'])
    assert.ok(Number.isFinite(rec[0].losses[k]), k);
  assert.ok(rec[0].losses.loss_pkd > 0);
});

test('a GFL teacher distils a Faster R-CNN student with FGD; the deliverable is the student alone', async () => {
  const out = join(dir, 'run-fgd');
  const { value } = await quiet(() => distill.run([join(dir, 'gfl-frcnn-fgd.mts'), '--out', out]));
  assert.equal(value, 0);
  const rec = readFileSync(join(out, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type":"train"'))
    .map((l) => JSON.parse(l));
  for (const k of ['loss_objectness', 'loss_rpn_box_reg', 'loss_classifier', 'loss_box_reg', 'loss_fgd_fg'])
    assert.ok(Number.isFinite(rec[0].losses[k]), k);
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
  assert.ok(Number.isFinite(result.final['AR@100']), 'a two-stage student reports proposal recall');
  const { tensors } = loadStateDictFile(join(out, 'model_final.safetensors'));
  const keys = [...tensors.keys()];
  dispose([...tensors.values()]);
  assert.ok(keys.some((k) => k.startsWith('rpn_head.')));
  assert.ok(keys.every((k) => /^(backbone|neck|rpn_head|bbox_head)\./.test(k)));
});

test('a dense-only term with a two-stage teacher is refused before training, naming the term', async () => {
  const out = join(dir, 'run-ld');
  await assert.rejects(
    quiet(() => distill.run([join(dir, 'frcnn-gfl-ld.mts'), '--out', out])),
    (e: unknown) =>
      e instanceof DetkdError &&
      /distill term 'ld' needs a dense .* teacher; this teacher is two-stage/.test(e.message),
  );
  assert.ok(!existsSync(join(out, 'last.safetensors')), 'nothing trained');
});
