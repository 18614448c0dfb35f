// Every verb's flags, usage and one-line summary, in a module that loads nothing heavy: main
// parses a command line and answers -h with these before it loads the verb's module (and
// libtorch with it). The verb modules parse with the same specs, so calling `command.run(argv)`
// in-process checks the same things.

import { PRESETS } from '../data/synth/presets.ts';
import type { VerbSpec } from './args.ts';

const DEVICE = `cpu (default) or cuda:N with a CUDA libtorch`;

const TRAIN_USAGE = `usage: detkd train RECIPE [--out DIR] [--resume | --overwrite] [--device cpu|cuda:N]

Trains the detector a recipe describes (a .ts file under recipes/, or your own).
  --out DIR     run directory (default runs/<recipe name>)
  --resume      continue from DIR/last.safetensors, exactly where it stopped
  --overwrite   start fresh even if DIR holds a previous run
  --device D    ${DEVICE}
A distillation recipe trains its student without the teacher here (the baseline);
'detkd distill' distils it.`;

const DISTILL_USAGE = `usage: detkd distill RECIPE [--teacher CKPT [--teacher-format torchvision|mmdet]] [--out DIR]
                     [--resume | --overwrite] [--device cpu|cuda:N]

Distils a teacher into the student a distillation recipe describes (recipes/demo-*.ts).
  --teacher CKPT  teacher weights (detkd checkpoint, model file or safetensors, or a PyTorch .pth
                  with --teacher-format); default: the recipe's
  --teacher-format F  the parameter layout of a .pth teacher: torchvision or mmdet (default: the
                  recipe's distill.teacher.format)
  --out DIR       run directory (default runs/<recipe name>)
  --resume        continue from DIR/last.safetensors, exactly where it stopped
  --overwrite     start fresh even if DIR holds a previous run
  --device D      ${DEVICE}`;

const COMPARE_USAGE = `usage: detkd compare RECIPES... --out DIR [--seeds K] [--epochs N] [--teacher CKPT] [--device D]

Trains the baseline student and each distillation recipe's student with the same seeds
(0..K-1, default 3) and reports them against the teacher: DIR/results.md and DIR/ap.png.
All distillation recipes must distil the same student (model, data, schedule) from the same
teacher. A plain recipe (no 'distill' section) is an arm trained without a teacher: the same
data and schedule, another way to train the student (e.g. model.assigner 'paa').
Rerun the same command to continue an interrupted comparison (finished runs are kept,
interrupted ones resume).
  --out DIR      where the runs, results.md and ap.png go (required)
  --seeds K      seeds 0..K-1 per arm (default 3)
  --epochs N     train every arm N epochs instead of the recipe's (LR milestones scale along)
  --teacher CKPT teacher weights for every arm (default: the recipes')
  --device D     ${DEVICE}`;

const DEMO_USAGE = `usage: detkd demo [--out DIR] [--seeds K]

Generates the synthetic demo set, trains the baseline student and distils it with LD + KD from
the committed teacher (teachers/demo-teacher.safetensors), and prints the comparison table.
About 10 minutes on 2 cores. Rerun to resume an interrupted demo.
  --out DIR   where the runs go (default runs/demo)
  --seeds K   seeds per arm (default 1)`;

const EVAL_USAGE = `usage: detkd eval --gt GT.json --results DT.json [--json]
       detkd eval --recipe RECIPE --checkpoint CKPT [--data VAL.json [--images DIR]]
                  [--json] [--save-results FILE] [--device cpu|cuda:N]

COCO bbox evaluation, equal to pycocotools' COCOeval (iouType='bbox', default parameters).

options:
  --gt FILE        COCO ground truth (instances_*.json)
  --results FILE   COCO results: a json list of {image_id, category_id, bbox: [x, y, w, h], score}
  --json           print one json object: the 12 stats by name and perCategory {id: AP@[.50:.95]}
                   (with --recipe also imagesPerSecond)
  -h, --help       show this help

running a detector (--recipe):
  --recipe FILE        the recipe the checkpoint was trained with (builds the detector, gives the
                       val set, the eval resize and the batch size)
  --checkpoint FILE    a run's model_best/model_final.safetensors, or last/best.safetensors
  --data FILE          evaluate on this COCO json instead of the recipe's val set (its category
                       ids must be the recipe's)
  --images DIR         image folder of --data (default: the folder holding FILE)
  --save-results FILE  also write the detections as a COCO results json
  --device D           ${DEVICE}

Detections of categories that are not in the ground truth are dropped; any other malformed
detection (unknown image id, bad bbox, non-finite score) is an error. Ground truth without an
'area' field uses w*h for the small/medium/large ranges, and without 'iscrowd' is not a crowd.`;

const PREDICT_USAGE = `usage: detkd predict --recipe RECIPE --checkpoint CKPT IMAGES... --out DIR
                    [--score-thr 0.3] [--device cpu|cuda:N]

Runs a trained detector on image files (JPEG, PNG, whatever libvips reads), resized as the
recipe's evaluation transform, and writes
  DIR/results.json   COCO results of every image: {image_id, file_name, category_id,
                     bbox: [x, y, w, h] in original pixels, score}; image_id is the image's
                     index in the IMAGES list, category_id the dataset's id
  DIR/<name>.png     each image with the detections drawn (images under 512 px are drawn
                     upscaled by an integer factor, nearest neighbour, to keep labels legible): a rectangle
                     per detection in its class's colour and a "classname 0.87" label
                     (<name> is the file name without extension; -<index> is added on clashes)

options:
  --recipe FILE      the recipe the checkpoint was trained with (classes, input size, model)
  --checkpoint FILE  model_best/model_final.safetensors of a run, or last/best.safetensors
  --out DIR          output folder (created if needed; files of the same names are replaced)
  --score-thr X      keep detections scoring at least X, in results.json and in the drawings
                     (default 0.3)
  --device D         ${DEVICE}

An image that cannot be read or decoded is reported (naming the file) and skipped; the others
are still processed, and the command exits with status 1 at the end.`;

const CONVERT_USAGE = `usage: detkd convert IN.pth --from torchvision|mmdet --recipe RECIPE --out OUT.safetensors

Converts a PyTorch checkpoint (torch.save's zip or legacy format) into a detkd model file for the
recipe's detector: the file that 'detkd eval --recipe RECIPE --checkpoint OUT', 'detkd predict'
and a distillation teacher load. The file is read without importing or running anything it
contains: only tensor, storage and container globals are allowed, and a file that would call
anything else is refused, naming it.
  --from F       whose parameter names the file has: torchvision (its detection models and ResNet
                 classifiers) or mmdet (mmdetection 2.x/3.x; {state_dict, meta} checkpoints)
  --recipe FILE  the recipe whose detector the weights are for (architecture, classes)
  --out FILE     the model file to write (.safetensors)
Strict: every key of the file must map onto a parameter and every parameter must be filled; the
report lists the tensors loaded and what was left on either side. An mmdetection checkpoint's
class names (meta) must be the recipe's, in the same order.`;

const INFO_USAGE = `usage: detkd info RECIPE [--json] [--input HxW]

Parameters (total and trainable) and multiply-accumulates of the recipe's detector, per
top-level part (backbone, neck, bbox_head), at the recipe's input size.

  --input HxW   count MACs at this input size instead (e.g. 800x1333); padded to a multiple of 32
  --json        print one json object

Input size: data.resize 'fixed' gives H x W; 'keepRatio' {short, max} gives short x max (the
largest input a landscape image can become). Either is padded to a multiple of 32, as the
loader pads batches.

MACs: one multiply-add = 1 (mmcv's get_flops and fvcore print this number as "FLOPs"; FLOPs
proper are about twice as many). Counted: conv2d and linear layers, once per call (a head shared
by the FPN levels counts on every level), biases excluded. Not counted: norms, activations,
upsampling, pooling, additions, anchor generation and postprocessing (decode, NMS).`;

export const DATA_USAGE = `usage: detkd data <subcommand> [options]

subcommands:
  synth --out DIR --preset tiny|demo [--seed S] [--workers N]
        Write the built-in synthetic dataset (COCO json + PNG images) to DIR:
        DIR/train.json, DIR/val.json, DIR/images/{train,val}/*.png, DIR/synth.json (manifest
        with the generator version and the dataset hash). Deterministic in (preset, seed).
          tiny: ${PRESETS.tiny.train} train / ${PRESETS.tiny.val} val images at ${PRESETS.tiny.size} px (seconds)
          demo: ${PRESETS.demo.train} train / ${PRESETS.demo.val} val images at ${PRESETS.demo.size} px (about a minute on 2 cores)
  check --ann FILE --images DIR [--decode] [--max N]
        Validate a COCO detection json and its image folder; print every problem found
        (file, entry and field) and the training statistics. Exit code 1 if any problem,
        or if the dataset has no usable image or no annotation.
        --decode fully decodes each image (default: read headers only).
  hash DIR
        Recompute the content hash of DIR (train.json, val.json, images/): sha256 over the
        json bytes and the decoded pixels.

options:
  -h, --help   show this help`;

const RUN_DIR = {
  out: { type: 'string' },
  resume: { type: 'boolean' },
  overwrite: { type: 'boolean' },
  device: { type: 'string', default: 'cpu' },
} as const;

export const VERBS = {
  train: {
    name: 'train',
    summary: 'train a detector from a recipe',
    usage: TRAIN_USAGE,
    options: RUN_DIR,
    positionals: { min: 1, max: 1, name: 'RECIPE' },
    exclusive: [['resume', 'overwrite']],
  },
  distill: {
    name: 'distill',
    summary: 'distil a teacher into a student from a distillation recipe',
    usage: DISTILL_USAGE,
    options: {
      teacher: { type: 'string' },
      'teacher-format': { type: 'string', choices: ['torchvision', 'mmdet'] },
      ...RUN_DIR,
    },
    positionals: { min: 1, max: 1, name: 'RECIPE' },
    exclusive: [['resume', 'overwrite']],
  },
  compare: {
    name: 'compare',
    summary: 'train baseline and distilled students side by side and tabulate them',
    usage: COMPARE_USAGE,
    options: {
      out: { type: 'string', required: true, value: 'DIR' },
      seeds: { type: 'int', min: 1, default: 3 },
      epochs: { type: 'int', min: 1 },
      teacher: { type: 'string' },
      device: { type: 'string', default: 'cpu' },
    },
    positionals: { min: 1, max: Number.POSITIVE_INFINITY, name: 'RECIPES' },
  },
  demo: {
    name: 'demo',
    summary: 'the end-to-end distillation demo (make demo)',
    usage: DEMO_USAGE,
    options: {
      out: { type: 'string', default: 'runs/demo' },
      seeds: { type: 'int', min: 1, default: 1 },
    },
  },
  eval: {
    name: 'eval',
    summary: 'COCO bbox mAP of a results file, or of a trained checkpoint on a val set (pycocotools numbers)',
    usage: EVAL_USAGE,
    options: {
      gt: { type: 'string' },
      results: { type: 'string' },
      json: { type: 'boolean' },
      recipe: { type: 'string' },
      checkpoint: { type: 'string' },
      data: { type: 'string' },
      images: { type: 'string' },
      'save-results': { type: 'string' },
      device: { type: 'string' },
    },
  },
  predict: {
    name: 'predict',
    summary: 'run a trained detector on images: COCO results json and PNGs with the boxes drawn',
    usage: PREDICT_USAGE,
    options: {
      recipe: { type: 'string', required: true, value: 'RECIPE' },
      checkpoint: { type: 'string', required: true, value: 'CKPT' },
      out: { type: 'string', required: true, value: 'DIR' },
      'score-thr': { type: 'number', min: 0, max: 1, default: 0.3 },
      device: { type: 'string', default: 'cpu' },
    },
    positionals: { min: 1, max: Number.POSITIVE_INFINITY, name: 'IMAGES' },
  },
  convert: {
    name: 'convert',
    summary: 'convert a PyTorch .pth checkpoint (torchvision or mmdetection names) into a detkd model file',
    usage: CONVERT_USAGE,
    options: {
      from: { type: 'string', required: true, value: 'torchvision|mmdet', choices: ['torchvision', 'mmdet'] },
      recipe: { type: 'string', required: true, value: 'RECIPE' },
      out: { type: 'string', required: true, value: 'OUT.safetensors' },
    },
    positionals: { min: 1, max: 1, name: 'IN.pth' },
  },
  info: {
    name: 'info',
    summary: "parameters and multiply-accumulates (MACs) of a recipe's detector, per part",
    usage: INFO_USAGE,
    options: {
      json: { type: 'boolean' },
      input: { type: 'string', pattern: { re: /^[1-9]\d*[xX,][1-9]\d*$/, expects: 'HxW, e.g. 800x1333' } },
    },
    positionals: { min: 1, max: 1, name: 'RECIPE' },
  },
  'data synth': {
    name: 'data synth',
    summary: 'write the built-in synthetic dataset',
    usage: DATA_USAGE,
    options: {
      out: { type: 'string', required: true, value: 'DIR' },
      preset: { type: 'string', default: 'tiny', choices: ['tiny', 'demo'] },
      seed: { type: 'int', min: 0, default: 0 },
      workers: { type: 'int', min: 0 },
    },
  },
  'data check': {
    name: 'data check',
    summary: 'validate a COCO dataset and its image folder',
    usage: DATA_USAGE,
    options: {
      ann: { type: 'string', required: true, value: 'FILE' },
      images: { type: 'string', required: true, value: 'DIR' },
      decode: { type: 'boolean' },
      max: { type: 'int', min: 0, default: 200 },
    },
  },
  'data hash': {
    name: 'data hash',
    summary: "recompute a synthetic dataset's content hash",
    usage: DATA_USAGE,
    options: {},
    positionals: { min: 1, max: 1, name: 'DIR' },
  },
} as const satisfies Record<string, VerbSpec>;

export type VerbName = keyof typeof VERBS;

/** Verbs with subcommands (`detkd data synth`): the group's summary and usage. */
export const GROUPS: Record<string, { summary: string; usage: string }> = {
  data: {
    summary: 'make the synthetic dataset (synth), validate a COCO dataset (check), hash a dataset (hash)',
    usage: DATA_USAGE,
  },
};
