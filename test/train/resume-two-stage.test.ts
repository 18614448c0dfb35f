// Exact resume for a two-stage detector: a tiny Faster R-CNN (built from a recipe's model section)
// trained by the generic Trainer, stopped mid-epoch or crashed after an interval checkpoint, and
// resumed from `last`, reaches bit-identical weights and optimizer state to a run that never
// stopped. The RPN's and the RoI head's samplers draw from the global generator, whose state the
// checkpoint keeps; a control run that reseeds the generator mid-run ends elsewhere, so the draws
// do reach the weights and the equality is not vacuous.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { native } from '../../src/core/native.ts';
import { Generator, manualSeed } from '../../src/core/random.ts';
import { cat, rand, type Tensor, tensor, tidy } from '../../src/core/tensor.ts';
import { detectorLosses } from '../../src/detection/any-detector.ts';
import { buildDetector } from '../../src/detection/models/build.ts';
import type { TwoStageDetector } from '../../src/detection/two-stage.ts';
import type { Batch } from '../../src/structures/tensor-batch.ts';
import {
  type DataSource,
  readCheckpoint,
  type TrainContext,
  Trainer,
  type TrainerOptions,
} from '../../src/train/index.ts';
import { Collector, weightsHash } from './tiny-task.ts';

native.setNumThreads(1);

const STEPS = 4;
const EPOCHS = 3;
const NUM_CLASSES = 3;

const root = mkdtempSync(join(tmpdir(), 'detkd-resume-2s-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const dir = (): string => join(root, `run${n++}`);

function detector(): TwoStageDetector {
  manualSeed(1);
  return buildDetector({
    kind: 'faster-rcnn',
    numClasses: NUM_CLASSES,
    backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
    channels: 16,
    levels: { first: 2, count: 3 },
    fcChannels: 32,
    rpn: { train: { preNms: 60, postNms: 30 }, samples: 32 },
    roi: { samples: 32 },
  });
}

/** Two 48 x 64 images per step, 1-2 boxes each; a function of (epoch, step) only. */
function source(): DataSource<Batch> {
  return {
    stepsPerEpoch: STEPS,
    async *batches(epoch: number, startStep: number): AsyncGenerator<Batch> {
      for (let step = startStep; step < STEPS; step++) {
        const g = new Generator(1009 * epoch + step + 17);
        yield tidy(() => {
          const boxes: Tensor[] = [];
          const labels: Tensor[] = [];
          for (let i = 0; i < 2; i++) {
            const k = 1 + ((epoch + step + i) % 2);
            const xy = rand([k, 2], { generator: g }).mul(tensor([40, 24]));
            const wh = rand([k, 2], { generator: g }).mul(16).add(8);
            boxes.push(cat([xy, xy.add(wh)], 1));
            labels.push(rand([k], { generator: g }).mul(NUM_CLASSES).floor().to('int64'));
          }
          const meta = (id: number) => ({
            imageId: id,
            fileName: `im${id}.png`,
            oriShape: [48, 64] as [number, number],
            imgShape: [48, 64] as [number, number],
            padShape: [48, 64] as [number, number],
            scaleFactor: [1, 1] as [number, number],
            flipped: false,
          });
          return {
            images: rand([2, 3, 48, 64], { generator: g }).mul(255),
            metas: [meta(0), meta(1)],
            gtBoxes: boxes,
            gtLabels: labels,
            ignoreBoxes: [tensor([], { shape: [0, 4] }), tensor([], { shape: [0, 4] })],
          };
        });
      }
    },
  };
}

interface Run {
  hash: string;
  optimHash: string;
  status: string;
  iter: number;
}

async function train(
  runDir: string,
  over: Partial<TrainerOptions> = {},
  hooks: { crashAt?: number; reseedAt?: number } = {},
): Promise<Run> {
  // A resumed run starts in a new process: the global generator must come from the checkpoint.
  if (over.resume === true) manualSeed(987654321);
  const det = detector();
  const trainer = new Trainer(
    {
      module: det,
      losses: (b: Batch, ctx: TrainContext) => {
        if (ctx.iter === hooks.crashAt) throw new Error(`simulated crash at iter ${ctx.iter}`);
        if (ctx.iter === hooks.reseedAt) manualSeed(424242);
        return detectorLosses(det, b);
      },
    },
    source(),
    {
      runDir,
      epochs: EPOCHS,
      seed: 3,
      logInterval: 4,
      progress: 'lines',
      out: new Collector(),
      optimizer: { kind: 'sgd', lr: 0.02, momentum: 0.9, weightDecay: 1e-4 },
      lr: { rule: { kind: 'multistep', milestones: [2] }, byEpoch: true, warmup: { iters: 3, ratio: 0.1 } },
      clipGrad: { maxNorm: 10 },
      recipe: { kind: 'two-stage' },
      ...over,
    },
  );
  const r = await trainer.fit();
  const ck = readCheckpoint(join(runDir, 'last.safetensors'));
  const optimHash = [...ck.optim.entries()]
    .map(([k, t]) => `${k}:${Buffer.from(t.toTypedArray().buffer).toString('base64')}`)
    .join(';');
  for (const t of [...ck.model.values(), ...ck.optim.values()]) t.dispose();
  ck.rng?.dispose();
  const hash = weightsHash(det);
  det.dispose();
  return { hash, optimHash, status: r.status, iter: r.next.iter };
}

let straight: Run | undefined;
async function reference(): Promise<Run> {
  straight ??= await train(dir());
  return straight;
}

test('faster-rcnn: stop mid-epoch, resume -> bit-identical weights and optimizer state', async () => {
  const ref = await reference();
  assert.equal(ref.status, 'finished');
  assert.equal(ref.iter, STEPS * EPOCHS);
  const d = dir();
  const a = await train(d, { stopAtIter: 6 });
  assert.equal(a.status, 'stopped');
  assert.equal(a.iter, 6);
  assert.notEqual(a.hash, ref.hash);
  const b = await train(d, { resume: true });
  assert.equal(b.status, 'finished');
  assert.equal(b.iter, STEPS * EPOCHS);
  assert.equal(b.hash, ref.hash);
  assert.equal(b.optimHash, ref.optimHash);
});

test('faster-rcnn: crash after an interval checkpoint; resume redoes the lost iterations exactly', async () => {
  const ref = await reference();
  const d = dir();
  await assert.rejects(train(d, { checkpointInterval: 3 }, { crashAt: 11 }), /simulated crash at iter 11/);
  const ck = readCheckpoint(join(d, 'last.safetensors'));
  assert.equal(ck.state.next.iter, 9, 'the interval checkpoint at 9 (epoch ends at 4 and 8)');
  for (const t of [...ck.model.values(), ...ck.optim.values()]) t.dispose();
  ck.rng?.dispose();
  const b = await train(d, { resume: true });
  assert.equal(b.hash, ref.hash);
});

test('control: the samplers draw from the global generator (reseeding it mid-run changes the weights)', async () => {
  const ref = await reference();
  const c = await train(dir(), {}, { reseedAt: 6 });
  assert.equal(c.status, 'finished');
  assert.notEqual(c.hash, ref.hash);
});
