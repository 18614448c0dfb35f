// The PyTorch interop from the command line: `detkd convert` of a torchvision Faster R-CNN .pth
// (fixture written by scripts/fixtures/interop_cli_fixture.py with torch 1.13 / torchvision 0.14)
// into a model file that `detkd eval` loads, the same weights through loadDetectorWeights directly,
// a .pth without a format refused with the flag to add, an mmdetection checkpoint whose class
// names are not the recipe's refused naming both lists, a .pth teacher in `detkd distill`, and
// `model.backbone.pretrained` starting a recipe's ResNet from a torchvision classifier.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { loadDetectorWeights } from '../../src/app/checkpoint-load.ts';
import { isDistillRecipe } from '../../src/app/distill-recipe.ts';
import { loadRecipe, prepareData } from '../../src/app/recipe.ts';
import { detectorFor, loadTeacher } from '../../src/app/run-recipe.ts';
import { torchvisionFasterRcnnKey } from '../../src/app/weights/torchvision.ts';
import { loadStateDictFile } from '../../src/core/serialize.ts';
import { dispose, type Tensor } from '../../src/core/tensor.ts';
import { buildDetector } from '../../src/detection/models/build.ts';
import type { FasterRcnnConfig } from '../../src/detection/models/config.ts';
import { readPth } from '../../src/interop/pth.ts';
import { MODEL_FORMAT } from '../../src/train/checkpoint.ts';
import { type CliWorld, MODEL, makeWorld } from './fixture.ts';
import { assertClean, detkd } from './run-detkd.ts';

const FIX = resolve(import.meta.dirname, '..', 'fixtures', 'interop');
const FRCNN_PTH = join(FIX, 'frcnn_tv.pth');
const RESNET_PTH = join(FIX, 'resnet18_x0125.pth');
const MMDET_PTH = join(FIX, 'mmdet_classes.pth');

/** The fixture's torchvision Faster R-CNN as a detkd recipe: ResNet-18 x0.125 (FrozenBN), FPN 16, 32-wide box head. */
const TV_FRCNN: FasterRcnnConfig = {
  kind: 'faster-rcnn',
  preset: 'torchvision',
  numClasses: 2,
  backbone: { depth: 18, widthMultiplier: 0.125, norm: 'frozen-bn' },
  channels: 16,
  neckNorm: null,
  fcChannels: 32,
};

let w: CliWorld;
let tvRecipe: string;
let converted: string;

function writeRecipe(file: string, name: string, model: object): string {
  const r = {
    name,
    description: `interop test recipe ${name}`,
    data: {
      train: { ann: join(w.dir, 'train.json'), images: w.dir },
      val: { ann: w.valJson, images: w.dir },
      resize: { kind: 'fixed', height: 64, width: 64 },
      batchSize: 2,
      numWorkers: 0,
    },
    model,
    train: { epochs: 1, optimizer: { kind: 'sgd', lr: 0.01 }, seed: 0 },
  };
  const path = join(w.dir, file);
  writeFileSync(path, `export const recipe = ${JSON.stringify(r, null, 2)};\n`);
  return path;
}

/** Max |a - b| over two tensors of one shape (a fp16 source widened to float32). */
function maxDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const x = a.float().toArray() as number[];
  const y = b.float().toArray() as number[];
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
}

before(async () => {
  w = await makeWorld();
  tvRecipe = writeRecipe('tv-frcnn.ts', 'tv-frcnn', TV_FRCNN);
  converted = join(w.dir, 'converted', 'frcnn.safetensors');
});

after(() => {
  rmSync(w.dir, { recursive: true, force: true });
});

test('detkd convert: every tensor of the torchvision .pth lands under its detkd name, in a model file', async () => {
  const r = await detkd([
    'convert',
    FRCNN_PTH,
    '--from',
    'torchvision',
    '--recipe',
    tvRecipe,
    '--out',
    converted,
  ]);
  assertClean(r, 0);
  const pth = readPth(FRCNN_PTH);
  const out = loadStateDictFile(converted);
  try {
    assert.equal(pth.layout, 'model', "the fixture is wrapped as {'model': state_dict}");
    assert.match(r.stdout, new RegExp(`loaded ${pth.tensors.size} tensors`));
    assert.match(r.stdout, /unused source keys: none/);
    assert.match(r.stdout, /unfilled parameters: none/);
    assert.equal(out.metadata.format, MODEL_FORMAT);
    assert.equal(JSON.parse(out.metadata.recipe ?? 'null').name, 'tv-frcnn');
    // independently of the converter: torchvision's name -> detkd's, value for value
    let compared = 0;
    for (const [k, t] of pth.tensors) {
      const name = torchvisionFasterRcnnKey(k);
      if (name === null) continue;
      const got = out.tensors.get(name);
      assert.ok(got !== undefined, `${k} -> ${name} missing from the model file`);
      assert.equal(got.dtype, 'float32');
      assert.equal(maxDiff(got, t), 0, name);
      compared++;
    }
    assert.equal(compared, pth.tensors.size);
    assert.equal(
      out.tensors.size,
      pth.tensors.size,
      'the model file holds the mapped weights and nothing else',
    );
  } finally {
    dispose([...pth.tensors.values(), ...out.tensors.values()]);
  }
});

test('detkd eval loads the converted file; the .pth loaded directly with a format gives the same weights', async () => {
  const r = await detkd(['eval', '--recipe', tvRecipe, '--checkpoint', converted, '--json']);
  assertClean(r, 0);
  const stats = JSON.parse(r.stdout) as { AP: number; AP50: number };
  assert.ok(stats.AP >= 0 && stats.AP <= 1 && stats.AP50 >= stats.AP, r.stdout);

  const recipe = await loadRecipe(tvRecipe);
  const det = buildDetector(recipe.model);
  const file = loadStateDictFile(converted);
  try {
    const info = loadDetectorWeights(det, FRCNN_PTH, recipe, { format: 'torchvision' });
    assert.equal(info.kind, 'pth');
    assert.deepEqual(info.report?.unusedSource, []);
    assert.deepEqual(info.report?.unfilledTarget, []);
    const sd = det.stateDict();
    try {
      for (const [k, t] of file.tensors) assert.equal(maxDiff(sd.get(k)!, t), 0, k);
    } finally {
      dispose([...sd.values()]);
    }
  } finally {
    det.dispose();
    dispose([...file.tensors.values()]);
  }
});

test('a .pth without a format is refused, naming what to add (eval, distill, convert)', async () => {
  const ev = await detkd(['eval', '--recipe', tvRecipe, '--checkpoint', FRCNN_PTH]);
  assertClean(ev, 1, /frcnn_tv\.pth is a PyTorch checkpoint.*detkd convert .*--from torchvision\|mmdet/);

  const conv = await detkd(
    ['convert', FRCNN_PTH, '--recipe', tvRecipe, '--out', join(w.dir, 'x.safetensors')],
    {
      noLibtorch: true,
    },
  );
  assertClean(conv, 2, /--from torchvision\|mmdet is required/);

  // distill's loadTeacher, in-process (the CLI run below shows the flag's plumbing)
  const kd = join(w.dir, 'kd-nofmt.mts');
  writeFileSync(kd, distillSource('kd-nofmt', FRCNN_PTH, null));
  const recipe = await loadRecipe(kd);
  assert.ok(isDistillRecipe(recipe));
  const data = await prepareData(recipe, () => {});
  assert.throws(
    () => loadTeacher(recipe, data, FRCNN_PTH, 'cpu', () => {}),
    /frcnn_tv\.pth is a PyTorch checkpoint.*--teacher-format torchvision\|mmdet .*distill\.teacher/,
  );
});

const ROOT = resolve(import.meta.dirname, '..', '..');

/** A distillation recipe: the world's GFL student, the torchvision Faster R-CNN teacher, PKD. */
function distillSource(name: string, checkpoint: string, format: string | null): string {
  return `import { defineDistillRecipe } from '${ROOT}/src/app/distill-recipe.ts';
import { pkd } from '${ROOT}/src/distill/methods/features.ts';
import { recipe as student } from './recipe.ts';
import { recipe as teacher } from './tv-frcnn.ts';
export const recipe = defineDistillRecipe({
  ...student,
  name: '${name}',
  description: 'a .pth teacher',
  distill: {
    teacher: { recipe: teacher, checkpoint: ${JSON.stringify(checkpoint)}${format === null ? '' : `, format: '${format}'`} },
    terms: (p) => [pkd(p)],
  },
});
`;
}

test('detkd distill takes a .pth teacher: --teacher-format on the command line, or format in the recipe', async () => {
  const kd = join(w.dir, 'kd-flag.mts');
  writeFileSync(kd, distillSource('kd-flag', converted, null));
  const r = await detkd([
    'distill',
    kd,
    '--teacher',
    FRCNN_PTH,
    '--teacher-format',
    'torchvision',
    '--out',
    join(w.dir, 'run-flag'),
  ]);
  assertClean(r, 0);
  const n = readPth(FRCNN_PTH).tensors.size;
  assert.match(
    r.stdout,
    new RegExp(`teacher weights: .*frcnn_tv\\.pth \\(torchvision layout\\)\\n\\s+loaded ${n} tensors`),
  );
  assert.match(r.stdout, /distill: pkd/);

  // format in the recipe's distill.teacher (loadTeacher in-process, as runRecipe calls it)
  const inRecipe = join(w.dir, 'kd-recipe.mts');
  writeFileSync(inRecipe, distillSource('kd-recipe', FRCNN_PTH, 'torchvision'));
  const recipe = await loadRecipe(inRecipe);
  assert.ok(isDistillRecipe(recipe));
  assert.equal(recipe.distill.teacher?.format, 'torchvision');
  const lines: string[] = [];
  const teacher = loadTeacher(recipe, await prepareData(recipe, () => {}), FRCNN_PTH, 'cpu', (s) =>
    lines.push(s),
  );
  try {
    assert.match(lines.join('\n'), new RegExp(`loaded ${n} tensors`));
    const conv = loadStateDictFile(converted);
    const sd = teacher.peek((m) => m.stateDict());
    try {
      for (const [k, t] of conv.tensors) assert.equal(maxDiff(sd.get(k)!, t), 0, k);
    } finally {
      dispose([...sd.values(), ...conv.tensors.values()]);
    }
  } finally {
    teacher.dispose();
  }
});

test("an mmdetection checkpoint whose class names are not the recipe's is refused, naming both lists", async () => {
  const r = await detkd([
    'convert',
    MMDET_PTH,
    '--from',
    'mmdet',
    '--recipe',
    w.recipe,
    '--out',
    join(w.dir, 'm.safetensors'),
  ]);
  assertClean(
    r,
    1,
    /mmdet_classes\.pth was trained on 2 classes \['cat', 'dog'\].*recipe 'clitest' has 2 classes \['red_box', 'blue_box'\]/,
  );
});

test('model.backbone.pretrained: the backbone holds the torchvision weights, stem and stage 1 frozen, BN in eval mode', async () => {
  const path = writeRecipe('pre.ts', 'pre', {
    ...MODEL,
    backbone: { ...MODEL.backbone, norm: 'bn', pretrained: RESNET_PTH, format: 'torchvision' },
  });
  const recipe = await loadRecipe(path);
  const data = await prepareData(recipe, () => {});
  const lines: string[] = [];
  const det = detectorFor(recipe, data, { log: (s) => lines.push(s) });
  const pth = readPth(RESNET_PTH);
  const sd = det.backbone.stateDict();
  try {
    let compared = 0;
    for (const [k, t] of pth.tensors) {
      if (k.startsWith('fc.')) continue;
      const got = sd.get(k);
      if (got === undefined && k.endsWith('num_batches_tracked')) continue;
      assert.ok(got !== undefined, k);
      assert.equal(maxDiff(got, t), 0, k);
      compared++;
    }
    assert.ok(compared >= 100, `${compared} backbone tensors compared`);
    assert.equal(det.backbone.frozenStages, 1);
    assert.equal(det.backbone.normEval, true);
    const grads = new Map(det.backbone.namedParameters().map(([k, p]) => [k, p.requiresGrad]));
    assert.equal(grads.get('conv1.weight'), false);
    assert.equal(grads.get('layer1.0.conv1.weight'), false);
    assert.equal(grads.get('layer2.0.conv1.weight'), true);
    const log = lines.join('\n');
    assert.match(log, /pretrained .*resnet18_x0125\.pth \(torchvision layout\)/);
    assert.match(log, /defaults to frozenStages 1 .* and normEval true/);
  } finally {
    dispose([...sd.values(), ...pth.tensors.values()]);
    det.dispose();
  }

  // The recipe's own settings win, and the log does not claim a default.
  const own = writeRecipe('pre-own.ts', 'pre-own', {
    ...MODEL,
    backbone: {
      ...MODEL.backbone,
      norm: 'bn',
      pretrained: RESNET_PTH,
      format: 'torchvision',
      frozenStages: 0,
      normEval: false,
    },
  });
  const r2 = await loadRecipe(own);
  const lines2: string[] = [];
  const det2 = detectorFor(r2, data, { log: (s) => lines2.push(s) });
  try {
    assert.equal(det2.backbone.frozenStages, 0);
    assert.equal(det2.backbone.normEval, false);
    assert.doesNotMatch(lines2.join('\n'), /defaults to/);
  } finally {
    det2.dispose();
  }

  // Without a format: refused, naming the field.
  const nofmt = writeRecipe('pre-nofmt.ts', 'pre-nofmt', {
    ...MODEL,
    backbone: { ...MODEL.backbone, norm: 'bn', pretrained: RESNET_PTH },
  });
  const r3 = await loadRecipe(nofmt);
  assert.throws(() => detectorFor(r3, data), /model\.backbone\.pretrained .* needs model\.backbone\.format/);
});
