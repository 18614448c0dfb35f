// Inference speed of evaluateDetector (src/app/evaluate.ts) on the synthetic `demo` val set
// (200 images at 256 px; generated into .cache/synth-demo-val200 if missing): images per second
// of the whole loop (PNG decode + eval transforms + batching, forward, decode + NMS per image,
// mapping to COCO results), for the tiny recipe's GFL student and a teacher-sized GFL.
//   node --import tsx bench/detection/eval-speed.ts [--threads 2] [--batch 8] [--workers 0] [--repeat 2]
//        [--score-thr T]
// The weights are untrained (random init, seed 0): fine for speed, with the default postprocess
// config (score > 0.05, nmsPre 1000, IoU 0.6, 100 per image). Untrained heads start at the focal
// prior (sigmoid ~0.01), so few boxes pass the score threshold and NMS is cheap: the detections
// per image are printed so the reader can see how much NMS work there was. A trained model with
// ~100 boxes per image spends more time in NMS; treat these numbers as an upper bound.
// --score-thr 0.005 (below the prior) lets every untrained prior through to nmsPre and NMS: the
// worst case of the postprocess, a lower bound on speed.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { evaluateDetector } from '../../src/app/evaluate.ts';
import { native } from '../../src/core/native.ts';
import { manualSeed } from '../../src/core/random.ts';
import { loadCoco } from '../../src/data/coco.ts';
import { SYNTH_CLASSES } from '../../src/data/synth/classes.ts';
import { generateSynth } from '../../src/data/synth/generate.ts';
import { buildDetector, type DenseDetectorConfig } from '../../src/detection/models/build.ts';

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '8' },
    workers: { type: 'string', default: '0' },
    repeat: { type: 'string', default: '2' },
    'score-thr': { type: 'string' },
  },
});
const threads = Number(values.threads);
const batchSize = Number(values.batch);
const numWorkers = Number(values.workers);
const repeat = Math.max(1, Number(values.repeat));
native.setNumThreads(threads);

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const dir = join(root, '.cache', 'synth-demo-val200');
if (!existsSync(join(dir, 'synth.json'))) {
  console.log(`generating the demo preset (8 train / 200 val) into ${dir} ...`);
  await generateSynth({ out: dir, preset: 'demo', seed: 0, counts: { train: 8, val: 200 } });
}
const val = await loadCoco({ annFile: join(dir, 'val.json'), imageDir: join(dir, 'images') });

const numClasses = SYNTH_CLASSES.length;
const models: { name: string; cfg: DenseDetectorConfig }[] = [
  {
    // recipes/tiny.ts's student.
    name: 'student GFL R18x0.25 FPN32 2conv 3lvl',
    cfg: {
      kind: 'gfl',
      numClasses,
      backbone: { depth: 18, widthMultiplier: 0.25, norm: 'gn' },
      channels: 32,
      stackedConvs: 2,
      numLevels: 3,
    },
  },
  {
    // A teacher twice as wide, with mmdet's default head depth and levels.
    name: 'teacher GFL R18x0.5 FPN64 4conv 5lvl',
    cfg: {
      kind: 'gfl',
      numClasses,
      backbone: { depth: 18, widthMultiplier: 0.5, norm: 'gn' },
      channels: 64,
      stackedConvs: 4,
      numLevels: 5,
    },
  },
];

console.log(
  `evaluateDetector speed: demo val (${val.length} images, 256x256), batch ${batchSize}, ` +
    `${numWorkers} loader workers, ${threads} threads, best of ${repeat} passes, allocator ${native.allocatorStats().kind}`,
);
for (const m of models) {
  manualSeed(0);
  const det = buildDetector(m.cfg);
  if (values['score-thr'] !== undefined)
    det.postprocessConfig = { ...det.postprocessConfig, scoreThr: Number(values['score-thr']) };
  const ips: number[] = [];
  let dets = 0;
  for (let r = 0; r < repeat; r++) {
    const e = await evaluateDetector(det, val, {
      resize: { kind: 'fixed', height: 256, width: 256 },
      batchSize,
      numWorkers,
    });
    ips.push(e.imagesPerSecond);
    dets = e.results.length;
  }
  console.log(
    `  ${m.name} (${(det.numParameters() / 1e6).toFixed(2)} M params): ${Math.max(...ips).toFixed(1)} images/s ` +
      `(passes: ${ips.map((x) => x.toFixed(1)).join(', ')}); ${(dets / val.length).toFixed(1)} detections/image`,
  );
  det.dispose();
}
