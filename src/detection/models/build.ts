// Typed factories for the four dense detectors on ResNet + FPN, with mmdetection's defaults and
// the from-scratch settings detkd's recipes use (GN in FPN and heads; GN or train-mode BN in the
// backbone; no frozen stages). Recipes call these; a variant spreads and overrides the options.
import { DetkdError } from '../../core/errors.ts';
import type { Detector } from '../any-detector.ts';
import { AtssAssigner } from '../assigners/atss.ts';
import { MaxIoUAssigner } from '../assigners/max-iou.ts';
import { PaaAssigner } from '../assigners/paa.ts';
import type { Assigner } from '../assigners/types.ts';
import { ResNet } from '../backbones/resnet.ts';
import { DenseDetector } from '../detector.ts';
import { ATSSHead, FCOSHead, GFLHead, RetinaHead } from '../heads/heads.ts';
import { FPN } from '../necks/fpn.ts';
import { atssAnchors, retinaAnchors } from '../priors/anchors.ts';
import { fcosPoints } from '../priors/points.ts';
import type { TwoStageDetector } from '../two-stage.ts';
import type { DenseDetectorConfig, DetectorConfig, FasterRcnnConfig } from './config.ts';
import { buildFasterRcnnFromConfig } from './faster-rcnn-presets.ts';

// The configuration is a zod schema (config.ts): recipes are validated with it at load.
export type { DenseDetectorConfig, DetectorConfig, DetectorKind, FasterRcnnConfig } from './config.ts';

function singleAnchorAssigner(cfg: DenseDetectorConfig): Assigner {
  switch (cfg.assigner ?? 'atss') {
    case 'atss':
      return new AtssAssigner({ topk: 9 });
    case 'paa':
      return new PaaAssigner(cfg.paa ?? {});
  }
}

/** The detector a recipe's `model` section describes: a dense detector or a Faster R-CNN. */
export function buildDetector(cfg: DenseDetectorConfig): DenseDetector;
export function buildDetector(cfg: FasterRcnnConfig): TwoStageDetector;
export function buildDetector(cfg: DetectorConfig): Detector;
export function buildDetector(cfg: DetectorConfig): Detector {
  return cfg.kind === 'faster-rcnn' ? buildFasterRcnnFromConfig(cfg) : buildDenseDetector(cfg);
}

function buildDenseDetector(cfg: DenseDetectorConfig): DenseDetector {
  if ((cfg.assigner !== undefined || cfg.paa !== undefined) && cfg.kind !== 'atss' && cfg.kind !== 'gfl') {
    throw new DetkdError(
      `model.assigner: only 'atss' and 'gfl' detectors take an assigner option (single square anchor); this one is '${cfg.kind}'`,
    );
  }
  if (cfg.paa !== undefined && cfg.assigner !== 'paa') {
    throw new DetkdError(`model.paa is set but model.assigner is '${cfg.assigner ?? 'atss'}', not 'paa'`);
  }
  const L = cfg.numLevels ?? 5;
  const strides = [8, 16, 32, 64, 128].slice(0, L);
  const backbone = new ResNet({ outIndices: [2, 3, 4], ...cfg.backbone });
  const neckNorm = cfg.neckNorm === undefined ? 'gn' : cfg.neckNorm;
  const headNorm = cfg.headNorm === undefined ? 'gn' : cfg.headNorm;
  const neck = new FPN({
    inChannels: backbone.outChannels,
    outChannels: cfg.channels,
    numOuts: L,
    // RetinaNet takes extra levels from C5 (on_input), the others from P5 (on_output).
    addExtraConvs: L > 3 ? (cfg.kind === 'retina' ? 'on_input' : 'on_output') : false,
    reluBeforeExtraConvs: cfg.kind === 'retina' || cfg.kind === 'fcos',
    norm: neckNorm,
  });
  const base = {
    inChannels: cfg.channels,
    featChannels: cfg.channels,
    stackedConvs: cfg.stackedConvs ?? 4,
    numClasses: cfg.numClasses,
    numLevels: L,
  };
  const common = {
    backbone,
    neck,
    numClasses: cfg.numClasses,
    ...(cfg.postprocess ? { postprocess: cfg.postprocess } : {}),
    ...(cfg.normalize ? { mean: cfg.normalize.mean, std: cfg.normalize.std } : {}),
  };
  switch (cfg.kind) {
    case 'retina':
      return new DenseDetector({
        ...common,
        head: {
          kind: 'retina',
          head: new RetinaHead({ ...base, norm: headNorm, priorsPerLocation: 9 }),
          priors: retinaAnchors(strides),
          assigner: new MaxIoUAssigner(),
        },
      });
    case 'atss':
      return new DenseDetector({
        ...common,
        head: {
          kind: 'atss',
          head: new ATSSHead({ ...base, norm: headNorm, priorsPerLocation: 1 }),
          priors: atssAnchors(strides),
          assigner: singleAnchorAssigner(cfg),
        },
      });
    case 'gfl':
      return new DenseDetector({
        ...common,
        head: {
          kind: 'gfl',
          head: new GFLHead({ ...base, norm: headNorm, priorsPerLocation: 1, regMax: 16 }),
          priors: atssAnchors(strides),
          assigner: singleAnchorAssigner(cfg),
        },
      });
    case 'fcos': {
      const ranges = cfg.fcos?.regressRanges;
      return new DenseDetector({
        ...common,
        head: {
          kind: 'fcos',
          head: new FCOSHead({
            ...base,
            norm: headNorm,
            priorsPerLocation: 1,
            normOnBbox: true,
            centernessOnReg: true,
          }),
          priors: fcosPoints(strides),
          targets: {
            normOnBbox: false,
            centerSampling: cfg.fcos?.centerSampling ?? true,
            centerSampleRadius: cfg.fcos?.centerSampleRadius ?? 1.5,
            ...(ranges ? { regressRanges: ranges } : {}),
          },
        },
      });
    }
  }
}
