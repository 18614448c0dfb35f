// The recipe schemas and their messages, in process (nothing here loads libtorch: the schemas and
// src/app/recipe.ts import only zod and types). The CLI's side is cli.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type DetectionRecipe,
  detectionRecipeSchema,
  loadRecipe,
  validateRecipe,
} from '../../src/app/recipe.ts';
import { nearestKey, parseStrict } from '../../src/core/schema.ts';
import { detectorConfigSchema } from '../../src/detection/models/config.ts';
import { trainerOptionsSchema } from '../../src/train/config.ts';

const RECIPE: DetectionRecipe = {
  name: 'unit',
  description: 'schema unit test',
  data: {
    train: { ann: 'a/train.json', images: 'a/images' },
    val: { ann: 'a/val.json', images: 'a/images' },
    resize: { kind: 'keepRatio', short: 320, max: 512 },
    batchSize: 2,
    cacheMB: 0,
  },
  model: {
    kind: 'atss',
    numClasses: 3,
    backbone: { depth: 50, norm: 'bn', frozenStages: 1, normEval: true },
    channels: 64,
    neckNorm: null,
    postprocess: { scoreThr: 0.05, nmsPre: 1000, iouThr: 0.6, maxPerImg: 100 },
    assigner: 'paa',
    paa: { topk: 9, singleCandidate: 'drop', gmm: { weights: [0.5, 0.5], maxIter: 50 } },
    normalize: { mean: [0, 0, 0], std: [1, 1, 1] },
  },
  train: {
    epochs: 2,
    optimizer: { kind: 'adamw', lr: 1e-3, betas: [0.9, 0.99], normDecay: false },
    lr: {
      rule: { kind: 'cosine', total: 2, minLrRatio: 0.01 },
      byEpoch: true,
      warmup: { iters: 5, ratio: 0.1 },
    },
    clipGrad: { maxNorm: 35 },
    best: { metric: 'AP' },
    progress: 'lines',
  },
};

/** The DetkdError message parseStrict gives for `value`, or null when it passes. */
function problems(
  value: unknown,
  schema: Parameters<typeof parseStrict>[0] = detectionRecipeSchema,
): string | null {
  try {
    parseStrict(schema, value, 'recipe r.ts');
    return null;
  } catch (e) {
    assert.equal((e as Error).name, 'DetkdError');
    return (e as Error).message;
  }
}

describe('detection recipe schema', () => {
  test('a recipe using most options passes', () => {
    assert.equal(problems(RECIPE), null);
  });

  test('an unknown key names its path and the nearest valid key', () => {
    const { numClasses: _n, ...model } = RECIPE.model;
    assert.equal(
      problems({ ...RECIPE, model: { ...model, numClasess: 3 } }),
      "recipe r.ts: unknown key 'model.numClasess' (did you mean 'model.numClasses'?)",
    );
    assert.equal(
      problems({ ...RECIPE, data: { ...RECIPE.data, batch_size: 4 } }),
      "recipe r.ts: unknown key 'data.batch_size' (did you mean 'data.batchSize'?)",
    );
  });

  test("an optimizer's keys are those of its kind", () => {
    const optimizer = { kind: 'adamw', lr: 1e-3, momentum: 0.9 };
    assert.equal(
      problems({ ...RECIPE, train: { ...RECIPE.train, optimizer } }),
      "recipe r.ts: unknown key 'train.optimizer.momentum' (valid keys here: kind, lr, weightDecay, betas, eps, amsgrad, normDecay, biasDecay)",
    );
  });

  test('wrong types, values and tags name what is expected', () => {
    const train = {
      ...RECIPE.train,
      optimizer: { kind: 'sgd', lr: '0.02' },
      progress: 'bars',
      evalInterval: 0,
    };
    const model = { ...RECIPE.model, kind: 'yolo', backbone: { depth: 19 } };
    const data = { ...RECIPE.data, resize: { kind: 'square', size: 64 } };
    assert.equal(
      problems({ ...RECIPE, data, model, train }),
      [
        'recipe r.ts:',
        "  - 'data.resize.kind' must be one of 'keepRatio', 'fixed', got a string (\"square\")",
        "  - 'model.kind' must be one of 'retina', 'atss', 'gfl', 'fcos', 'faster-rcnn', got a string (\"yolo\")",
        '  - \'train.optimizer.lr\' must be number, got a string ("0.02")',
        "  - 'train.evalInterval' must be > 0, got a number (0)",
        "  - 'train.progress' must be one of 'auto', 'bar', 'lines', 'off', got a string (\"bars\")",
      ].join('\n'),
    );
  });

  test("a model's keys are checked against its kind's: dense and faster-rcnn each have their own", () => {
    const bad = { ...RECIPE.model, backbone: { depth: 19 } };
    assert.equal(
      problems({ ...RECIPE, model: bad }),
      "recipe r.ts: 'model.backbone.depth' must be one of 18, 34, 50, 101, got a number (19)",
    );
    const frcnn = {
      kind: 'faster-rcnn',
      numClasses: 3,
      backbone: { depth: 18 },
      channels: 32,
      stackedConvs: 2,
    };
    assert.match(problems({ ...RECIPE, model: frcnn }) ?? '', /unknown key 'model\.stackedConvs'/);
    const { stackedConvs: _s, ...ok } = frcnn;
    assert.doesNotThrow(() =>
      validateRecipe({ ...RECIPE, model: { ...ok, levels: { first: 2, count: 4 } } }, 'r.ts'),
    );
    assert.match(
      problems({ ...RECIPE, model: { ...ok, levels: { first: 4, count: 4 } } }) ?? '',
      /'model\.levels\.first' must be one of 2, 3/,
    );
  });

  test('a missing section', () => {
    const { train: _t, ...rest } = RECIPE;
    assert.equal(problems(rest), "recipe r.ts: 'train' is missing (expected object)");
  });
});

describe('distillation recipes', () => {
  const distill = { teacher: { recipe: RECIPE, checkpoint: 't.safetensors' }, terms: () => [] };

  test("a recipe with 'distill' is checked with the distill section, and its teacher's recipe as a recipe", () => {
    assert.doesNotThrow(() => validateRecipe({ ...RECIPE, distill }, 'd.ts'));
    const { numClasses: _n, ...model } = RECIPE.model;
    const teacher = { ...distill.teacher, recipe: { ...RECIPE, model: { ...model, numClasess: 3 } } };
    assert.throws(() => validateRecipe({ ...RECIPE, distill: { ...distill, teacher } }, 'd.ts'), {
      name: 'DetkdError',
      message:
        "recipe d.ts: unknown key 'distill.teacher.recipe.model.numClasess' (did you mean 'distill.teacher.recipe.model.numClasses'?)",
    });
    assert.throws(() => validateRecipe({ ...RECIPE, distill: { ...distill, terms: [] } }, 'd.ts'), {
      name: 'DetkdError',
      message: /^recipe d\.ts: 'distill\.terms': must be a function/,
    });
  });

  test('without distill, the key is unknown to a detection recipe', () => {
    assert.throws(() => validateRecipe({ ...RECIPE, distil: distill }, 'd.ts'), {
      message:
        /^recipe d\.ts: unknown key 'distil' \(valid keys here: name, description, data, model, train\)$/,
    });
  });
});

describe('the schemas behind the types', () => {
  test('TrainerOptions: run-time values are checked for their kind', () => {
    const base = { runDir: 'r', epochs: 1, optimizer: { kind: 'sgd', lr: 0.1 } };
    assert.equal(problems({ ...base, signal: new AbortController().signal }, trainerOptionsSchema), null);
    assert.equal(
      problems({ ...base, signal: 'stop', out: {} }, trainerOptionsSchema),
      [
        'recipe r.ts:',
        "  - 'out' must be a stream (an object with a write(s) method), got an object",
        '  - \'signal\' must be an AbortSignal, got a string ("stop")',
      ].join('\n'),
    );
  });

  test('DetectorConfig: nested options are strict too', () => {
    assert.equal(
      problems({ ...RECIPE.model, paa: { gmm: { maxIters: 5 } } }, detectorConfigSchema),
      "recipe r.ts: unknown key 'paa.gmm.maxIters' (did you mean 'paa.gmm.maxIter'?)",
    );
  });

  test('nearestKey: typos, abbreviations and snake_case', () => {
    assert.equal(nearestKey('lerningRate', ['epochs', 'lr', 'seed']), 'lr');
    assert.equal(nearestKey('learning_rate', ['epochs', 'lr', 'seed']), 'lr');
    assert.equal(nearestKey('weight_decay', ['lr', 'weightDecay']), 'weightDecay');
    assert.equal(nearestKey('numClasess', ['numClasses', 'numLevels']), 'numClasses');
    assert.equal(nearestKey('colour', ['lr', 'seed']), null);
  });
});

describe('loadRecipe in process, from a folder with no package.json or node_modules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'detkd-load-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const source = (r: unknown) =>
    `import { defineRecipe } from 'detkd/app/recipe';\nexport const recipe = defineRecipe(${JSON.stringify(r)});\n`;

  test("a .ts recipe importing 'detkd/app/recipe' loads as an ES module", async () => {
    const path = join(dir, 'ok.ts');
    writeFileSync(path, source(RECIPE));
    const r = await loadRecipe(path);
    assert.deepEqual(r, RECIPE);
  });

  test("defineRecipe's check names the file that calls it: a variant's base, not the variant", async () => {
    const base = join(dir, 'base.ts');
    writeFileSync(base, source({ ...RECIPE, train: { ...RECIPE.train, epochs: 1.5 } }));
    const variant = join(dir, 'variant.ts');
    writeFileSync(
      variant,
      `import { recipe as base } from './base.ts';\nexport const recipe = { ...base, name: 'variant' };\n`,
    );
    await assert.rejects(loadRecipe(variant), {
      name: 'DetkdError',
      message: `recipe ${base}: 'train.epochs' must be int, got a number (1.5)`,
    });
  });
});
