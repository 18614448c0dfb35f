// `detkd data synth|check|hash`: make the built-in synthetic dataset, validate a COCO dataset,
// print a dataset's content hash.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { DetkdError } from '../../core/errors.ts';
import { formatProblem, loadCoco, validateCoco } from '../../data/coco.ts';
import { datasetHash, generateSynth } from '../../data/synth/generate.ts';
import { PRESETS } from '../../data/synth/presets.ts';
import type { Command } from '../main.ts';

export const USAGE = `usage: detkd data <subcommand> [options]

subcommands:
  synth --out DIR --preset tiny|demo [--seed S] [--workers N]
        Write the built-in synthetic dataset (COCO json + PNG images) to DIR:
        DIR/train.json, DIR/val.json, DIR/images/{train,val}/*.png, DIR/synth.json (manifest
        with the generator version and the dataset hash). Deterministic in (preset, seed).
          tiny: ${PRESETS.tiny.train} train / ${PRESETS.tiny.val} val images at ${PRESETS.tiny.size} px (seconds)
          demo: ${PRESETS.demo.train} train / ${PRESETS.demo.val} val images at ${PRESETS.demo.size} px (about a minute on 2 cores)
  check --ann FILE --images DIR [--decode] [--max N]
        Validate a COCO detection json and its image folder; print every problem found
        (file, entry and field) and the training statistics. Exit code 1 if any problem.
        --decode fully decodes each image (default: read headers only).
  hash DIR
        Recompute the content hash of DIR (train.json, val.json, images/): sha256 over the
        json bytes and the decoded pixels.

options:
  -h, --help   show this help`;

function parse(argv: string[], options: NonNullable<ParseArgsConfig['options']>, positionals = false) {
  try {
    return parseArgs({ args: argv, strict: true, allowPositionals: positionals, options });
  } catch (err) {
    throw new DetkdError(`data: ${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  }
}

function progressPrinter(label: string): (done: number, total: number) => void {
  let last = 0;
  const t0 = Date.now();
  return (done, total) => {
    const now = Date.now();
    if (done === total || now - last > 2000) {
      last = now;
      const pct = ((100 * done) / total).toFixed(0);
      process.stderr.write(
        `${label}: ${done}/${total} images (${pct}%), ${((now - t0) / 1000).toFixed(1)} s\n`,
      );
    }
  };
}

async function synth(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, {
    out: { type: 'string' },
    preset: { type: 'string', default: 'tiny' },
    seed: { type: 'string', default: '0' },
    workers: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (typeof v.out !== 'string') throw new DetkdError(`data synth: --out DIR is required\n\n${USAGE}`);
  const preset = String(v.preset);
  if (preset !== 'tiny' && preset !== 'demo')
    throw new DetkdError(`data synth: --preset must be tiny or demo, got '${preset}'`);
  const seed = Number(v.seed);
  if (!Number.isInteger(seed) || seed < 0)
    throw new DetkdError(`data synth: --seed must be a non-negative integer, got '${v.seed}'`);
  const workers = v.workers === undefined ? undefined : Number(v.workers);
  if (workers !== undefined && (!Number.isInteger(workers) || workers < 0)) {
    throw new DetkdError(`data synth: --workers must be a non-negative integer, got '${v.workers}'`);
  }
  const t0 = Date.now();
  const m = await generateSynth({
    out: v.out,
    preset,
    seed,
    workers,
    onProgress: progressPrinter(`synth ${preset}`),
  });
  console.log(
    `wrote ${m.train} train + ${m.val} val images (${m.annotations.train} + ${m.annotations.val} annotations) to ${v.out} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n` +
      `generator ${m.generator} v${m.version}, preset ${m.preset}, seed ${m.seed}\nhash ${m.hash}`,
  );
  return 0;
}

async function check(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, {
    ann: { type: 'string' },
    images: { type: 'string' },
    decode: { type: 'boolean', default: false },
    max: { type: 'string', default: '200' },
    help: { type: 'boolean', short: 'h', default: false },
  });
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (typeof v.ann !== 'string' || typeof v.images !== 'string') {
    throw new DetkdError(`data check: --ann FILE and --images DIR are required\n\n${USAGE}`);
  }
  const max = Number(v.max);
  const opts = {
    annFile: v.ann,
    imageDir: v.images,
    checkImages: v.decode ? ('decode' as const) : ('header' as const),
  };
  const { problems, fatal } = await validateCoco(opts);
  for (const p of problems.slice(0, max)) console.log(formatProblem(p));
  if (problems.length > max) console.log(`... and ${problems.length - max} more`);
  if (fatal) {
    console.log(`${v.ann}: unusable (${problems.length} problem(s) at the top level or in categories)`);
    return 1;
  }
  const ds = await loadCoco({ ...opts, checkImages: 'none', onInvalid: 'skip', warn: () => {} });
  const s = ds.stats;
  console.log(
    `${v.ann}: ${problems.length} problem(s); ${ds.categories.size} categories; ${s.images} usable images, ` +
      `${s.targets} targets, ${s.crowd} crowd regions, ${s.clipped} boxes clipped to the image, ` +
      `${s.droppedDegenerate} degenerate boxes dropped, ${s.skippedAnnotations} annotations and ${s.skippedImages} images skipped`,
  );
  return problems.length > 0 ? 1 : 0;
}

async function hash(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(
    argv,
    { help: { type: 'boolean', short: 'h', default: false } },
    true,
  );
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new DetkdError(`data hash: expected one directory\n\n${USAGE}`);
  console.log(await datasetHash(positionals[0]!, progressPrinter('hash')));
  return 0;
}

export const command: Command = {
  summary: 'make the synthetic dataset (synth), validate a COCO dataset (check), hash a dataset (hash)',
  async run(argv: string[]): Promise<number> {
    const [sub, ...rest] = argv;
    switch (sub) {
      case 'synth':
        return synth(rest);
      case 'check':
        return check(rest);
      case 'hash':
        return hash(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new DetkdError(`data: unknown subcommand '${sub}'\n\n${USAGE}`);
    }
  },
};
