// `detkd data synth|check|hash`: make the built-in synthetic dataset, validate a COCO dataset,
// print a dataset's content hash.
import { emptyReason, formatProblem, loadCoco, validateCoco } from '../../data/coco.ts';
import { datasetHash, generateSynth } from '../../data/synth/generate.ts';
import { parseVerbArgs, UsageError } from '../args.ts';
import type { Command } from '../main.ts';
import { DATA_USAGE, VERBS } from '../verbs.ts';

export const USAGE = DATA_USAGE;

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
  const { values: v, help } = parseVerbArgs(VERBS['data synth'], argv);
  if (help) {
    console.log(USAGE);
    return 0;
  }
  const preset = v.preset as 'tiny' | 'demo';
  const { seed, workers } = v;
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
  const { values: v, help } = parseVerbArgs(VERBS['data check'], argv);
  if (help) {
    console.log(USAGE);
    return 0;
  }
  const max = v.max;
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
  // A well-formed file with nothing in it passes every per-entry check, but cannot train anything.
  const empty = emptyReason(ds);
  if (empty !== null) console.log(empty);
  return problems.length > 0 || empty !== null ? 1 : 0;
}

async function hash(argv: string[]): Promise<number> {
  const { positionals, help } = parseVerbArgs(VERBS['data hash'], argv);
  if (help) {
    console.log(USAGE);
    return 0;
  }
  console.log(await datasetHash(positionals[0]!, progressPrinter('hash')));
  return 0;
}

export const command: Command = {
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
        throw new UsageError(`unknown subcommand '${sub}'`);
    }
  },
};
