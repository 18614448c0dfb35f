// The CLI verbs with a two-stage recipe and model file (a freshly built Faster R-CNN, ResNet-18
// x0.25 + FPN 16 + 64-wide box head; random weights: these tests check plumbing, not mAP), run
// through bin/detkd.js as a user runs them; and, in process, the evaluation's proposal path.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { describeModel } from '../../src/app/checkpoint-load.ts';
import { evaluateDetector, predictWithProposals } from '../../src/app/evaluate.ts';
import { cocoMetrics } from '../../src/app/run-recipe.ts';
import { noGrad, tidy } from '../../src/core/tensor.ts';
import { loadCoco } from '../../src/data/coco.ts';
import { DetectionLoader } from '../../src/data/loader.ts';
import { evalTransforms } from '../../src/data/transforms.ts';
import { toTensorBatch } from '../../src/structures/tensor-batch.ts';
import {
  addTwoStage,
  type CliWorld,
  FRCNN_MODEL,
  freshTwoStageDetector,
  makeWorld,
  type TwoStageWorld,
} from './fixture.ts';
import { detkd } from './run-detkd.ts';

let w: CliWorld;
let t: TwoStageWorld;

before(async () => {
  w = await makeWorld();
  t = addTwoStage(w);
});

after(() => {
  rmSync(w.dir, { recursive: true, force: true });
});

const noStack = (s: string): boolean => !/\n\s+at /.test(s);

describe('detkd info with a faster-rcnn recipe', () => {
  test('kind, FPN levels and strides, anchors per level, proposal counts, parts with MACs', async () => {
    const r = await detkd(['info', t.recipe]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /^model: faster-rcnn, 2 classes; input 1x3x64x64$/m);
    assert.match(out, /^preset: mmdet$/m);
    // mmdet's anchors: 8 x stride on every level, ratios 0.5 / 1 / 2.
    assert.match(
      out,
      /^FPN levels: P2 \(stride 4, anchor 32\), P3 \(stride 8, anchor 64\), P4 \(stride 16, anchor 128\), P5 \(stride 32, anchor 256\)$/m,
    );
    assert.match(out, /^RoIs pooled from: P2-P5$/m);
    assert.match(out, /^anchors: 3 per location per level \(ratios 0\.5, 1, 2\)$/m);
    // The recipe's test counts (200 -> 100); training keeps the mmdet preset's 2000 -> 1000.
    assert.match(out, /test 200 -> 100/);
    assert.match(out, /^box head MACs counted over 100 RoIs/m);
    for (const part of ['backbone', 'neck', 'rpn_head', 'bbox_head', 'total']) {
      assert.match(out, new RegExp(`^${part} `, 'm'), `${part} row`);
    }
  });

  test('--json: the box head MACs are fc6 + fc7 + the two predictors over the test proposals', async () => {
    const r = await detkd(['info', t.recipe, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as {
      kind: string;
      parts: Record<string, { params: number; macs: number }>;
      twoStage: {
        levels: { name: string; stride: number; anchorSizes: number[]; roi: boolean }[];
        anchorsPerLocation: number;
        proposals: { test: { preNms: number; postNms: number } };
        macsRois: number;
      };
    };
    assert.equal(info.kind, 'faster-rcnn');
    assert.deepEqual(
      info.twoStage.levels.map((l) => [l.name, l.stride, l.anchorSizes, l.roi]),
      [
        ['P2', 4, [32], true],
        ['P3', 8, [64], true],
        ['P4', 16, [128], true],
        ['P5', 32, [256], true],
      ],
    );
    assert.equal(info.twoStage.anchorsPerLocation, 3);
    assert.deepEqual(info.twoStage.proposals.test, { preNms: 200, postNms: 100 });
    // Shared2FC on 7x7x16 RoI features: fc6 784 -> 64, fc7 64 -> 64, cls 64 -> 3 (2 classes and
    // background), box 64 -> 8 (mmdet: 4 per class, none for background).
    const perRoi = 7 * 7 * 16 * 64 + 64 * 64 + 64 * 3 + 64 * 8;
    assert.equal(info.parts['bbox_head']!.macs, perRoi * 100);
    assert.ok(info.parts['rpn_head']!.macs > 0);
  });
});

describe('detkd eval with a faster-rcnn checkpoint', () => {
  test('prints the COCO summary and the RPN proposal recall (AR@100/300/1000)', async () => {
    const r = await detkd(['eval', '--recipe', t.recipe, '--checkpoint', t.modelFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets=100 \] = /,
    );
    assert.match(r.stdout, /^RPN proposals \(class-agnostic, \d+ proposals for 3 boxes/m);
    for (const n of ['100', '300', '1000']) {
      assert.match(
        r.stdout,
        new RegExp(
          `^ Average Recall {5}\\(AR\\) @\\[ IoU=0\\.50:0\\.95 \\| area= {3}all \\| maxDets=${n.padStart(3)} \\] = \\d\\.\\d{3}$`,
          'm',
        ),
      );
    }
    assert.match(r.stdout, /area= small \| maxDets=1000 \] = /);
  });

  test('--json: proposals under mmdet names, each a recall in [0, 1]', async () => {
    const r = await detkd(['eval', '--recipe', t.recipe, '--checkpoint', t.modelFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as { proposals: Record<string, number> };
    assert.deepEqual(Object.keys(rep.proposals), [
      'AR@100',
      'AR@300',
      'AR@1000',
      'AR_s@1000',
      'AR_m@1000',
      'AR_l@1000',
    ]);
    // At most 100 test proposals per image: AR@300 and AR@1000 equal AR@100.
    assert.equal(rep.proposals['AR@300'], rep.proposals['AR@100']);
    assert.equal(rep.proposals['AR@1000'], rep.proposals['AR@100']);
    for (const [k, v] of Object.entries(rep.proposals))
      assert.ok(v === -1 || (v >= 0 && v <= 1), `${k} ${v}`);
  });

  test('a dense checkpoint for a faster-rcnn recipe: a clear message, exit 1, no stack trace', async () => {
    const r = await detkd(['eval', '--recipe', t.recipe, '--checkpoint', w.modelFile]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^detkd: checkpoint .*model_final\.safetensors does not fit recipe 'clitest-frcnn'/,
    );
    // GFL x0.125 vs Faster R-CNN x0.25: shapes differ, the 4th FPN level is missing, GFL's towers are extra.
    assert.match(
      r.stderr,
      /shape mismatch\(es\): 'backbone\.conv1\.weight' checkpoint \[8, 3, 7, 7\] vs model \[16, 3, 7, 7\]/,
    );
    assert.match(r.stderr, /missing key\(s\): 'neck\.lateral_convs\.3\.conv\.weight' \[16, 128, 1, 1\]/);
    assert.match(r.stderr, /unexpected key\(s\): 'bbox_head\.cls_convs\.0\.conv\.weight'/);
    assert.match(r.stderr, /saved by recipe 'clitest' \(gfl, 2 classes/);
    assert.match(r.stderr, /builds faster-rcnn \(mmdet preset\), 2 classes, ResNet-18 x0\.25, FPN 16 P2-P5/);
    assert.match(r.stderr, /a dense detector's weights cannot load into a two-stage one/);
    assert.ok(noStack(r.stderr), r.stderr);
  });

  test('and the other way round: the two-stage model file for the dense recipe', async () => {
    const r = await detkd(['eval', '--recipe', w.recipe, '--checkpoint', t.modelFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /frcnn_model\.safetensors does not fit recipe 'clitest'/);
    assert.match(r.stderr, /a two-stage detector's weights cannot load into a dense one/);
    assert.ok(noStack(r.stderr), r.stderr);
  });
});

describe('detkd predict with a faster-rcnn checkpoint', () => {
  test('results.json with dataset category ids, boxes inside each image, one PNG per image', async () => {
    const out = join(w.dir, 'pred-frcnn');
    const r = await detkd([
      'predict',
      '--recipe',
      t.recipe,
      '--checkpoint',
      t.modelFile,
      '--out',
      out,
      '--score-thr',
      '0',
      ...w.images,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      image_id: number;
      category_id: number;
      bbox: number[];
      score: number;
    }[];
    assert.ok(res.length > 0);
    for (const d of res) {
      assert.ok([3, 7].includes(d.category_id));
      const [h, wd] = w.sizes[d.image_id]!;
      const [x, y, bw, bh] = d.bbox as [number, number, number, number];
      assert.ok(x >= 0 && y >= 0 && x + bw <= wd + 1e-3 && y + bh <= h + 1e-3, JSON.stringify(d));
    }
    for (const i of w.images.keys()) assert.ok(existsSync(join(out, `img${i}.png`)));
  });
});

describe('two-stage evaluation in process', () => {
  test('one forward gives predict()s detections and the proposals in original pixels', async () => {
    const det = freshTwoStageDetector();
    det.eval();
    const ds = await loadCoco({ annFile: w.valJson, imageDir: w.dir });
    const loader = new DetectionLoader(ds, {
      batchSize: 3,
      transforms: evalTransforms({ kind: 'fixed', height: 64, width: 64 }),
      shuffle: false,
      numWorkers: 0,
    });
    try {
      for await (const host of loader.epoch(0)) {
        tidy(() => {
          const b = toTensorBatch(host, 'cpu');
          const ref = noGrad(() => det.predict(b.images, b.metas));
          const got = predictWithProposals(det, b.images, b.metas);
          assert.equal(got.detections.length, ref.length);
          got.detections.forEach((d, i) => {
            assert.deepEqual(d.boxes.toArray(), ref[i]!.boxes.toArray());
            assert.deepEqual(d.scores.toArray(), ref[i]!.scores.toArray());
            assert.deepEqual(d.labels.toArray(), ref[i]!.labels.toArray());
          });
          got.proposals.forEach((p, i) => {
            const meta = b.metas[i]!;
            const [h, wd] = meta.oriShape;
            const bx = p.boxes.toArray();
            assert.ok(bx.length > 0 && bx.length <= 4 * 100);
            // Big anchors reach the image border: clipped at 64 in input pixels, they land on the
            // original image's border once mapped back (the sizes differ from 64 x 64).
            const xs = bx.filter((_, j) => j % 4 === 2);
            const ys = bx.filter((_, j) => j % 4 === 3);
            assert.ok(
              Math.abs(Math.max(...xs) - wd) < 1e-3,
              `image ${meta.imageId}: max x2 ${Math.max(...xs)} vs ${wd}`,
            );
            assert.ok(
              Math.abs(Math.max(...ys) - h) < 1e-3,
              `image ${meta.imageId}: max y2 ${Math.max(...ys)} vs ${h}`,
            );
            assert.ok(Math.min(...bx) >= 0);
            const s = p.scores.toArray();
            assert.ok(
              s.every((v, j) => v >= 0 && v <= 1 && (j === 0 || v <= s[j - 1]!)),
              'objectness, descending',
            );
          });
        });
      }
    } finally {
      await loader.close();
    }

    // evaluateDetector reports the proposals' recall over the val set's 3 boxes, and the trainer's
    // metrics carry AR@100 / AR@1000 under mmdet's names (a dense run's do not).
    const e = await evaluateDetector(det, ds, {
      resize: { kind: 'fixed', height: 64, width: 64 },
      batchSize: 2,
    });
    assert.ok(e.proposals !== undefined);
    assert.equal(e.proposals.numGt, 3);
    assert.equal(e.proposals.result.numGt, 3);
    assert.deepEqual([e.proposals.AR100, e.proposals.AR300, e.proposals.AR1000], e.proposals.result.AR);
    const m = cocoMetrics({ ...e.coco.stats }, e.proposals);
    assert.equal(m['AR@100'], e.proposals.AR100);
    assert.equal(m['AR@1000'], e.proposals.AR1000);
    assert.equal(m['AP'], e.coco.stats.AP);
    assert.equal(cocoMetrics({ ...e.coco.stats })['AR@100'], undefined);
    det.dispose();
  });

  test('describeModel names a faster-rcnn by preset, backbone and FPN levels', () => {
    assert.equal(
      describeModel({ ...FRCNN_MODEL, numClasses: 13 }),
      'faster-rcnn (mmdet preset), 13 classes, ResNet-18 x0.25, FPN 16 P2-P5',
    );
    assert.equal(
      describeModel({
        kind: 'faster-rcnn',
        preset: 'torchvision',
        numClasses: 3,
        backbone: { depth: 50 },
        channels: 256,
      }),
      'faster-rcnn (torchvision preset), 3 classes, ResNet-50, FPN 256 P2-P6',
    );
    assert.equal(
      describeModel({
        kind: 'gfl',
        numClasses: 2,
        backbone: { depth: 18, widthMultiplier: 0.125 },
        channels: 16,
      }),
      'gfl, 2 classes, ResNet-18 x0.125, 16 channels',
    );
  });
});
