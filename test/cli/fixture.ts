// A small world for the inference commands' tests: a 3-image COCO dataset with 2 categories
// (ids 3 and 7, not contiguous), a recipe file for a tiny GFL detector on it, and checkpoint
// files written from a freshly built detector (no training: the tests check plumbing, not mAP).
// The class bias is raised so that the untrained detector does produce detections.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualSeed } from '../../src/core/random.ts';
import { saveStateDict } from '../../src/core/serialize.ts';
import { dispose, noGrad } from '../../src/core/tensor.ts';
import { encodeJpeg, encodePng, type RgbImage } from '../../src/data/decode.ts';
import type { DenseDetector } from '../../src/detection/detector.ts';
import {
  buildDetector,
  type DenseDetectorConfig,
  type FasterRcnnConfig,
} from '../../src/detection/models/build.ts';
import type { TwoStageDetector } from '../../src/detection/two-stage.ts';
import { CHECKPOINT_FORMAT, type JsonValue, writeModel } from '../../src/train/checkpoint.ts';

export const MODEL: DenseDetectorConfig = {
  kind: 'gfl',
  numClasses: 2,
  backbone: { depth: 18, widthMultiplier: 0.125, norm: 'gn' },
  channels: 16,
  stackedConvs: 1,
  numLevels: 3,
};

export interface CliWorld {
  dir: string;
  recipe: string;
  /** A recipe whose model has 3 classes (its own 3-category train json). */
  otherRecipe: string;
  images: string[];
  /** [h, w] of each image. */
  sizes: [number, number][];
  valJson: string;
  /** Deliverable (detkd.model/1, plain keys). */
  modelFile: string;
  /** Resumable checkpoint (detkd.checkpoint/1, keys under model.). */
  checkpointFile: string;
}

/** An [h, w] image: grey background, one filled rectangle. */
export function syntheticImage(
  h: number,
  w: number,
  rect: [number, number, number, number],
  rgb: [number, number, number],
): RgbImage {
  const data = new Uint8Array(h * w * 3).fill(90);
  for (let y = rect[1]; y < rect[3]; y++) {
    for (let x = rect[0]; x < rect[2]; x++) data.set(rgb, (y * w + x) * 3);
  }
  return { data, height: h, width: w };
}

function recipeSource(
  name: string,
  numClasses: number,
  train: string,
  val: string,
  imageDir: string,
): string {
  const r = {
    name,
    description: `cli test recipe ${name}`,
    data: {
      train: { ann: train, images: imageDir },
      val: { ann: val, images: imageDir },
      resize: { kind: 'fixed', height: 64, width: 64 },
      batchSize: 2,
      numWorkers: 0,
    },
    model: { ...MODEL, numClasses },
    train: { epochs: 1, optimizer: { kind: 'sgd', lr: 0.01 }, seed: 0 },
  };
  return `export const recipe = ${JSON.stringify(r, null, 2)};\n`;
}

/** The fixture's detector (seeded) with the class-0 bias raised so it detects things. */
export function freshDetector(numClasses = 2): DenseDetector {
  manualSeed(0);
  const det = buildDetector({ ...MODEL, numClasses });
  noGrad(() => {
    for (const [n, t] of det.namedParameters()) {
      if (n === 'bbox_head.gfl_cls.bias') t.narrow(0, 0, 1).fill_(3);
    }
  });
  return det;
}

/** Writes a resumable-checkpoint-shaped file: model tensors under `model.`. */
export function writeResumable(path: string, det: DenseDetector, recipe: JsonValue): void {
  const sd = det.stateDict();
  try {
    const prefixed = new Map([...sd].map(([k, t]) => [`model.${k}`, t]));
    saveStateDict(path, prefixed, { format: CHECKPOINT_FORMAT, recipe: JSON.stringify(recipe), state: '{}' });
  } finally {
    dispose([...sd.values()]);
  }
}

export async function makeWorld(): Promise<CliWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'detkd-cli-'));
  const sizes: [number, number][] = [
    [80, 96],
    [64, 64],
    [100, 70],
  ];
  const images: string[] = [];
  const anns: {
    id: number;
    image_id: number;
    category_id: number;
    bbox: number[];
    area: number;
    iscrowd: 0;
  }[] = [];
  for (const [i, [h, w]] of sizes.entries()) {
    const rect: [number, number, number, number] = [10, 12, 10 + Math.floor(w / 2), 12 + Math.floor(h / 2)];
    const img = syntheticImage(h, w, rect, i % 2 === 0 ? [220, 30, 30] : [30, 30, 220]);
    const name = `img${i}.${i === 1 ? 'jpg' : 'png'}`;
    writeFileSync(join(dir, name), i === 1 ? await encodeJpeg(img) : await encodePng(img));
    images.push(join(dir, name));
    const bw = rect[2] - rect[0];
    const bh = rect[3] - rect[1];
    anns.push({
      id: i + 1,
      image_id: i + 1,
      category_id: i % 2 === 0 ? 3 : 7,
      bbox: [rect[0], rect[1], bw, bh],
      area: bw * bh,
      iscrowd: 0,
    });
  }
  const coco = (cats: { id: number; name: string }[]) => ({
    images: sizes.map(([h, w], i) => ({
      id: i + 1,
      file_name: `img${i}.${i === 1 ? 'jpg' : 'png'}`,
      height: h,
      width: w,
    })),
    annotations: anns,
    categories: cats,
  });
  const cats = [
    { id: 3, name: 'red_box' },
    { id: 7, name: 'blue_box' },
  ];
  const trainJson = join(dir, 'train.json');
  const valJson = join(dir, 'val.json');
  writeFileSync(trainJson, JSON.stringify(coco(cats)));
  writeFileSync(valJson, JSON.stringify(coco(cats)));
  const otherTrain = join(dir, 'train3.json');
  writeFileSync(otherTrain, JSON.stringify(coco([...cats, { id: 9, name: 'green_box' }])));
  // ESM like the repository, so the recipe .ts files load as modules.
  writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n');
  const recipe = join(dir, 'recipe.ts');
  writeFileSync(recipe, recipeSource('clitest', 2, trainJson, valJson, dir));
  const otherRecipe = join(dir, 'other.ts');
  writeFileSync(otherRecipe, recipeSource('other', 3, otherTrain, otherTrain, dir));

  const det = freshDetector();
  const recipeJson: JsonValue = {
    name: 'clitest',
    model: JSON.parse(JSON.stringify({ ...MODEL })) as JsonValue,
  };
  const modelFile = join(dir, 'model_final.safetensors');
  writeModel(modelFile, det, { epoch: 0 }, recipeJson);
  const checkpointFile = join(dir, 'last.safetensors');
  writeResumable(checkpointFile, det, recipeJson);
  det.dispose();
  return { dir, recipe, otherRecipe, images, sizes, valJson, modelFile, checkpointFile };
}

/** A small Faster R-CNN for the two-stage CLI tests: ResNet-18 x0.25, FPN 16 on P2..P5, 64-wide box head. */
export const FRCNN_MODEL: FasterRcnnConfig = {
  kind: 'faster-rcnn',
  numClasses: 2,
  backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
  channels: 16,
  levels: { first: 2, count: 4 },
  fcChannels: 64,
  rpn: { test: { preNms: 200, postNms: 100 } },
};

export interface TwoStageWorld {
  /** A recipe on the world's data whose model is FRCNN_MODEL. */
  recipe: string;
  /** Deliverable (detkd.model/1) of a freshly built FRCNN_MODEL (seed 0). */
  modelFile: string;
}

/** The two-stage fixture's detector, seeded (random weights: plumbing, not mAP). */
export function freshTwoStageDetector(): TwoStageDetector {
  manualSeed(0);
  return buildDetector(FRCNN_MODEL);
}

/** Adds a Faster R-CNN recipe and model file to a world made by makeWorld (same data and classes). */
export function addTwoStage(w: CliWorld): TwoStageWorld {
  const r = {
    name: 'clitest-frcnn',
    description: 'cli test recipe clitest-frcnn',
    data: {
      train: { ann: join(w.dir, 'train.json'), images: w.dir },
      val: { ann: w.valJson, images: w.dir },
      resize: { kind: 'fixed', height: 64, width: 64 },
      batchSize: 2,
      numWorkers: 0,
    },
    model: FRCNN_MODEL,
    train: { epochs: 1, optimizer: { kind: 'sgd', lr: 0.01 }, seed: 0 },
  };
  const recipe = join(w.dir, 'frcnn.ts');
  writeFileSync(recipe, `export const recipe = ${JSON.stringify(r, null, 2)};\n`);
  const det = freshTwoStageDetector();
  const modelFile = join(w.dir, 'frcnn_model.safetensors');
  writeModel(
    modelFile,
    det,
    { epoch: 0 },
    { name: 'clitest-frcnn', model: JSON.parse(JSON.stringify(FRCNN_MODEL)) as JsonValue },
  );
  det.dispose();
  return { recipe, modelFile };
}
