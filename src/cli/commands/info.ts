// `detkd info RECIPE [--json] [--input HxW]`: the size of a recipe's detector, parameters and
// multiply-accumulates per top-level part (backbone, neck, bbox_head), without any data; for a
// two-stage detector also its FPN levels and strides, anchors and proposal counts.
import {
  MAC_CONVENTION,
  type ModelInfo,
  modelInfo,
  type PartInfo,
  type TwoStageInfo,
} from '../../app/model-info.ts';
import { loadRecipe } from '../../app/recipe.ts';
import { padTo } from '../../data/transforms.ts';
import { parseVerbArgs, UsageError } from '../args.ts';
import type { Command } from '../main.ts';
import { VERBS } from '../verbs.ts';

export const USAGE = VERBS.info.usage;

/** 1234567 -> '1.235 M'; 2.5e9 -> '2.500 G'. */
export function humanCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(3)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(3)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(3)} K`;
  return String(n);
}

export function formatInfo(info: ModelInfo, description: string): string {
  const rows: [string, PartInfo][] = [...Object.entries(info.parts), ['total', info.total]];
  const nameW = Math.max(9, ...rows.map(([n]) => n.length));
  const col = (s: string): string => s.padStart(13);
  const header = `${'part'.padEnd(nameW)} ${col('params')} ${col('trainable')} ${col('MACs')} ${'share'.padStart(6)}`;
  const line = '-'.repeat(header.length);
  const fmt = ([n, p]: [string, PartInfo]): string =>
    `${n.padEnd(nameW)} ${col(humanCount(p.params))} ${col(humanCount(p.trainable))} ${col(humanCount(p.macs))} ${`${info.total.macs > 0 ? ((100 * p.macs) / info.total.macs).toFixed(1) : '0.0'}%`.padStart(6)}`;
  const [, , H, W] = info.inputShape;
  return [
    `recipe ${info.recipe}: ${description}`,
    `model: ${info.kind}, ${info.numClasses} classes; input 1x3x${H}x${W}`,
    ...(info.twoStage ? twoStageLines(info.twoStage) : []),
    '',
    header,
    line,
    ...rows.slice(0, -1).map(fmt),
    line,
    fmt(rows[rows.length - 1]!),
    '',
    `params: ${info.total.params} (${info.total.trainable} trainable); MACs: ${info.total.macs}`,
    `${MAC_CONVENTION}.`,
  ].join('\n');
}

/** The FPN levels, anchors and proposal counts of a two-stage detector. */
export function twoStageLines(t: TwoStageInfo): string[] {
  const roi = t.levels.filter((l) => l.roi).map((l) => l.name);
  const fmt = (n: number): string => String(Number(n.toFixed(2)));
  return [
    `preset: ${t.preset}`,
    `FPN levels: ${t.levels.map((l) => `${l.name} (stride ${l.stride}, anchor ${l.anchorSizes.map(fmt).join('/')})`).join(', ')}`,
    `RoIs pooled from: ${roi.length > 1 ? `${roi[0]}-${roi[roi.length - 1]}` : (roi[0] ?? '-')}`,
    `anchors: ${t.anchorsPerLocation} per location per level (ratios ${t.anchorRatios.map(fmt).join(', ')})`,
    `proposals per image (top-n per level before NMS -> kept after): train ${t.proposals.train.preNms} -> ${t.proposals.train.postNms}, test ${t.proposals.test.preNms} -> ${t.proposals.test.postNms}`,
    `box head MACs counted over ${t.macsRois} RoIs (the test proposals per image)`,
  ];
}

function parseInput(s: string): [number, number] {
  const m = /^(\d+)[xX,](\d+)$/.exec(s);
  if (m === null || Number(m[1]) < 1 || Number(m[2]) < 1) {
    throw new UsageError(`--input must look like 800x1333 (height x width), got '${s}'`);
  }
  return [padTo(Number(m[1]), 32), padTo(Number(m[2]), 32)];
}

export const command: Command = {
  async run(argv) {
    const { values: v, positionals, help } = parseVerbArgs(VERBS.info, argv);
    if (help) {
      console.log(USAGE);
      return 0;
    }
    const input = v.input === undefined ? undefined : parseInput(v.input);
    const recipe = await loadRecipe(positionals[0]!);
    const info = modelInfo(recipe, input);
    if (v.json) console.log(JSON.stringify(info));
    else console.log(formatInfo(info, recipe.description));
    return 0;
  },
};
