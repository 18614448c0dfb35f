// Named Faster R-CNN (R50-FPN) presets: torchvision 0.14's fasterrcnn_resnet50_fpn and
// mmdetection 2.x/3.x's faster-rcnn_r50_fpn, every setting where the two differ plus the shared ones
// (docs/two-stage.md, "Presets"). `buildFasterRcnn` routes each setting into the part that uses it.
// The mmdet preset is the default for recipes (DEFAULT_FASTER_RCNN_PRESET).
import type { Generator } from '../../core/random.ts';
import type { NormKind } from '../backbones/norm.ts';
import { ResNet, type ResNetOptions } from '../backbones/resnet.ts';
import { FPN } from '../necks/fpn.ts';
import { rpnAnchors } from '../priors/anchors.ts';
import { type LevelMapperKind, MultiScaleRoIAlign } from '../roi/multi-scale-roi-align.ts';
import { Shared2FCBoxHead } from '../roi-heads/bbox-head.ts';
import type { FastRcnnLossOptions } from '../roi-heads/loss.ts';
import type { RoiPostprocessOptions } from '../roi-heads/postprocess.ts';
import type { BackgroundIndex, RoiSamplerOptions } from '../roi-heads/sampling.ts';
import {
  type FilterProposalsOptions,
  type RpnAssignOptions,
  type RpnCoderKind,
  RpnHead,
  type RpnLossOptions,
} from '../rpn/rpn.ts';
import { TwoStageDetector, type TwoStageDetectorOptions } from '../two-stage.ts';
import type { FasterRcnnConfig } from './config.ts';

export type FasterRcnnPresetName = 'torchvision' | 'mmdet';

/** Every Faster R-CNN setting where torchvision and mmdet differ, plus the shared ones. */
export interface FasterRcnnPreset {
  readonly name: FasterRcnnPresetName;
  // --- differing rows
  /** Base anchors rounded to integers (torchvision) or float (mmdet). */
  readonly anchorsRounded: boolean;
  /** RPN low-quality matching: which GT a low-quality anchor gets and the IoU a GT needs to claim. */
  readonly rpnAssign: RpnAssignOptions;
  /** RPN delta coder (the same encoding; mmdet's centres and clamps). */
  readonly rpnCoder: RpnCoderKind;
  /** RPN box loss: smooth-L1 beta 1/9 (torchvision) or L1 (mmdet). */
  readonly rpnLoss: RpnLossOptions;
  /** Training proposals: pre-NMS per level, post-NMS per image, minimum size and its comparison. */
  readonly rpnTrain: FilterProposalsOptions;
  /** Test proposals. */
  readonly rpnTest: FilterProposalsOptions;
  /** RoIAlign: aligned (half-pixel offset) and sampling ratio (0 = adaptive). */
  readonly roiAlign: {
    readonly aligned: boolean;
    readonly samplingRatio: number;
    readonly mapper: LevelMapperKind;
  };
  /** Background score column: 'first' (0, torchvision) or 'last' (N, mmdet). */
  readonly background: BackgroundIndex;
  /** Box regression outputs: 4 (N + 1) (torchvision) or 4 N (mmdet). */
  readonly regOutputs: 'all' | 'foreground';
  /** Box head initialisation: PyTorch Linear defaults (torchvision) or Xavier / normal (mmdet). */
  readonly boxHeadInit: 'torchvision' | 'mmdet';
  /** RoI sampling: GT placement, sample order, background targets. */
  readonly roiSampler: Omit<RoiSamplerOptions, 'background'>;
  /** Fast R-CNN box loss: smooth-L1 beta 1/9 (torchvision) or L1 (mmdet). */
  readonly roiLoss: Omit<FastRcnnLossOptions, 'backgroundLabel'>;
  /** Test-time post-processing (torchvision drops boxes below 1e-2; mmdet keeps every size). */
  readonly roiTest: Omit<RoiPostprocessOptions, 'backgroundLabel'>;
  // --- shared rows
  /** RPN conv init std (0.01 in both). */
  readonly rpnInitStd: number;
  /** Anchor strides P2..P6 and sizes (8 x stride). */
  readonly strides: readonly number[];
  readonly sizes: readonly number[];
  /** FPN width and box head fc width. */
  readonly fpnChannels: number;
  readonly fcOutChannels: number;
  /** RPN sampler (256 at 0.5). */
  readonly rpnSampler: { readonly batchSizePerImage: number; readonly positiveFraction: number };
  /** Input normalisation on 0..1 RGB images (ImageNet mean / std in both). */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

const SHARED = {
  rpnInitStd: 0.01,
  strides: [4, 8, 16, 32, 64],
  sizes: [32, 64, 128, 256, 512],
  fpnChannels: 256,
  fcOutChannels: 1024,
  rpnSampler: { batchSizePerImage: 256, positiveFraction: 0.5 },
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
} as const;

export const FASTER_RCNN_PRESETS: Readonly<Record<FasterRcnnPresetName, FasterRcnnPreset>> = {
  torchvision: {
    name: 'torchvision',
    anchorsRounded: true,
    rpnAssign: {
      posIouThr: 0.7,
      negIouThr: 0.3,
      matchLowQuality: true,
      lowQualityGt: 'argmax',
      minPosIou: 0,
    },
    rpnCoder: 'torchvision',
    rpnLoss: { boxLoss: 'smoothL1', beta: 1 / 9 },
    rpnTrain: { preNmsTopN: 2000, postNmsTopN: 2000, nmsThresh: 0.7, minSize: 1e-3, minSizeCmp: 'ge' },
    rpnTest: { preNmsTopN: 1000, postNmsTopN: 1000, nmsThresh: 0.7, minSize: 1e-3, minSizeCmp: 'ge' },
    roiAlign: { aligned: false, samplingRatio: 2, mapper: 'torchvision' },
    background: 'first',
    regOutputs: 'all',
    boxHeadInit: 'torchvision',
    roiSampler: { addGt: 'append', order: 'index', backgroundTargets: 'matched' },
    roiLoss: { boxLoss: 'smoothL1', beta: 1 / 9 },
    roiTest: { scoreThr: 0.05, nmsThr: 0.5, maxDetections: 100, minSize: 1e-2 },
    ...SHARED,
  },
  mmdet: {
    name: 'mmdet',
    anchorsRounded: false,
    rpnAssign: {
      posIouThr: 0.7,
      negIouThr: 0.3,
      matchLowQuality: true,
      lowQualityGt: 'claiming',
      minPosIou: 0.3,
    },
    rpnCoder: 'mmdet',
    rpnLoss: { boxLoss: 'l1' },
    rpnTrain: { preNmsTopN: 2000, postNmsTopN: 1000, nmsThresh: 0.7, minSize: 0, minSizeCmp: 'gt' },
    rpnTest: { preNmsTopN: 1000, postNmsTopN: 1000, nmsThresh: 0.7, minSize: 0, minSizeCmp: 'gt' },
    roiAlign: { aligned: true, samplingRatio: 0, mapper: 'mmdet' },
    background: 'last',
    regOutputs: 'foreground',
    boxHeadInit: 'mmdet',
    roiSampler: { addGt: 'prepend', order: 'posFirst', backgroundTargets: 'zero' },
    roiLoss: { boxLoss: 'l1' },
    roiTest: { scoreThr: 0.05, nmsThr: 0.5, maxDetections: 100, minSize: 0 },
    ...SHARED,
  },
};

/** The recipes' default preset. */
export const DEFAULT_FASTER_RCNN_PRESET: FasterRcnnPresetName = 'mmdet';

/** Overrides of the built detector's options (applied last, over the preset's). */
export type FasterRcnnOverrides = Partial<
  Omit<
    TwoStageDetectorOptions,
    'backbone' | 'neck' | 'rpnHead' | 'anchors' | 'roiAlign' | 'bboxHead' | 'numClasses'
  >
>;

export interface BuildFasterRcnnOptions {
  /** Default DEFAULT_FASTER_RCNN_PRESET ('mmdet'). */
  preset?: FasterRcnnPresetName | FasterRcnnPreset;
  numClasses: number;
  /** Backbone options (default ResNet-50, C2..C5). */
  backbone?: Partial<ResNetOptions>;
  /** FPN width (default the preset's 256). */
  fpnChannels?: number;
  /** Box head fc width (default the preset's 1024). */
  fcOutChannels?: number;
  /** Anchor sizes per level (default 8 x stride: the preset's on P2..P6). */
  anchorSizes?: readonly number[];
  /** FPN levels: first (2 = P2, stride 4) and count (default P2..P6); extra levels by max-pool. */
  levels?: { first: 2 | 3; count: number };
  /** Levels RoIs are pooled from, finest first (default the ones from the backbone: P2..P5 of P2..P6). */
  roiLevels?: number;
  /** FPN norm (default none, as the references; GN for from-scratch training). */
  neckNorm?: NormKind | null;
  generator?: Generator | null;
  overrides?: FasterRcnnOverrides;
}

/** A Faster R-CNN R-FPN (P2..P6, RoIs from P2..P5) with the preset's settings routed into its parts. */
export function buildFasterRcnn(o: BuildFasterRcnnOptions): TwoStageDetector {
  const p =
    typeof o.preset === 'object' ? o.preset : FASTER_RCNN_PRESETS[o.preset ?? DEFAULT_FASTER_RCNN_PRESET];
  const fpn = o.fpnChannels ?? p.fpnChannels;
  const { first, count } = o.levels ?? { first: 2, count: 5 };
  if (!Number.isInteger(count) || count < 1 || count > 5)
    throw new RangeError(`buildFasterRcnn: levels.count ${count} is not 1..5`);
  // Level P_k comes from ResNet stage k - 1 (C_k, stride 2^k); levels past C5 are max-pooled.
  const lastStage = Math.min(4, first - 1 + count - 1);
  const stages = Array.from({ length: lastStage - first + 2 }, (_, i) => first - 1 + i);
  const strides = Array.from({ length: count }, (_, i) => 2 ** (first + i));
  const roiLevels = o.roiLevels ?? stages.length;
  if (!Number.isInteger(roiLevels) || roiLevels < 1 || roiLevels > count)
    throw new RangeError(`buildFasterRcnn: roiLevels ${roiLevels} is not 1..${count} (the FPN's levels)`);
  const sizes = o.anchorSizes ?? strides.map((s) => 8 * s);
  if (sizes.length !== count)
    throw new RangeError(`buildFasterRcnn: ${sizes.length} anchor sizes for ${count} FPN levels`);
  const backbone = new ResNet({
    depth: 50,
    outIndices: stages,
    ...(o.generator !== undefined ? { generator: o.generator } : {}),
    ...o.backbone,
  });
  return new TwoStageDetector({
    backbone,
    neck: new FPN({
      inChannels: backbone.outChannels,
      outChannels: fpn,
      numOuts: count,
      ...(stages.length > count ? { endLevel: count } : {}),
      addExtraConvs: false,
      norm: o.neckNorm ?? null,
    }),
    rpnHead: new RpnHead(fpn, 3, { initStd: p.rpnInitStd }),
    anchors: rpnAnchors({ strides, sizes, rounded: p.anchorsRounded }),
    roiLevels,
    roiAlign: new MultiScaleRoIAlign({
      featmapStrides: strides.slice(0, roiLevels),
      outputSize: 7,
      samplingRatio: p.roiAlign.samplingRatio,
      aligned: p.roiAlign.aligned,
      mapper: p.roiAlign.mapper,
    }),
    bboxHead: new Shared2FCBoxHead({
      inChannels: fpn,
      fcOutChannels: o.fcOutChannels ?? p.fcOutChannels,
      numClasses: o.numClasses,
      regOutputs: p.regOutputs,
      init: p.boxHeadInit,
      ...(o.generator !== undefined ? { generator: o.generator } : {}),
    }),
    numClasses: o.numClasses,
    mean: p.mean,
    std: p.std,
    rpnCoder: p.rpnCoder,
    rpnTrain: p.rpnTrain,
    rpnTest: p.rpnTest,
    rpnAssign: p.rpnAssign,
    rpnSampler: p.rpnSampler,
    rpnLoss: p.rpnLoss,
    background: p.background,
    roiSampler: p.roiSampler,
    roiLoss: p.roiLoss,
    roiTest: p.roiTest,
    ...o.overrides,
  });
}

/** The Faster R-CNN a recipe's `model` section describes (`kind: 'faster-rcnn'`), on 0..255 images. */
export function buildFasterRcnnFromConfig(cfg: FasterRcnnConfig): TwoStageDetector {
  const p = FASTER_RCNN_PRESETS[cfg.preset ?? DEFAULT_FASTER_RCNN_PRESET];
  const count = (o: { preNms?: number; postNms?: number } | undefined, base: FilterProposalsOptions) => ({
    ...base,
    ...(o?.preNms !== undefined ? { preNmsTopN: o.preNms } : {}),
    ...(o?.postNms !== undefined ? { postNmsTopN: o.postNms } : {}),
  });
  const norm = cfg.normalize ?? {
    mean: p.mean.map((v) => v * 255) as [number, number, number],
    std: p.std.map((v) => v * 255) as [number, number, number],
  };
  const pp = cfg.postprocess;
  return buildFasterRcnn({
    preset: p,
    numClasses: cfg.numClasses,
    backbone: cfg.backbone,
    fpnChannels: cfg.channels,
    ...(cfg.fcChannels !== undefined ? { fcOutChannels: cfg.fcChannels } : {}),
    ...(cfg.anchorSizes !== undefined ? { anchorSizes: cfg.anchorSizes } : {}),
    ...(cfg.levels !== undefined ? { levels: cfg.levels } : {}),
    ...(cfg.roiLevels !== undefined ? { roiLevels: cfg.roiLevels } : {}),
    neckNorm: cfg.neckNorm === undefined ? 'gn' : cfg.neckNorm,
    overrides: {
      mean: norm.mean,
      std: norm.std,
      rpnTrain: count(cfg.rpn?.train, p.rpnTrain),
      rpnTest: count(cfg.rpn?.test, p.rpnTest),
      rpnSampler: {
        batchSizePerImage: cfg.rpn?.samples ?? p.rpnSampler.batchSizePerImage,
        positiveFraction: cfg.rpn?.positiveFraction ?? p.rpnSampler.positiveFraction,
      },
      roiSampler: {
        ...p.roiSampler,
        ...(cfg.roi?.samples !== undefined ? { batchSizePerImage: cfg.roi.samples } : {}),
        ...(cfg.roi?.positiveFraction !== undefined ? { positiveFraction: cfg.roi.positiveFraction } : {}),
      },
      roiTest: {
        ...p.roiTest,
        ...(pp?.scoreThr !== undefined ? { scoreThr: pp.scoreThr } : {}),
        ...(pp?.iouThr !== undefined ? { nmsThr: pp.iouThr } : {}),
        ...(pp?.maxPerImg !== undefined ? { maxDetections: pp.maxPerImg } : {}),
      },
    },
  });
}
