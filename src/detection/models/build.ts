// Typed factories for the four dense detectors on ResNet + FPN, with mmdetection's defaults and
// the from-scratch settings detkd's recipes use (GN in FPN and heads; GN or train-mode BN in the
// backbone; no frozen stages). Recipes call these; a variant spreads and overrides the options.
import { AtssAssigner } from '../assigners/atss.ts';
import { MaxIoUAssigner } from '../assigners/max-iou.ts';
import type { NormKind } from '../backbones/norm.ts';
import { ResNet, type ResNetDepth } from '../backbones/resnet.ts';
import { DenseDetector } from '../detector.ts';
import { ATSSHead, FCOSHead, GFLHead, RetinaHead } from '../heads/heads.ts';
import { FPN } from '../necks/fpn.ts';
import type { PostprocessConfig } from '../postprocess.ts';
import { atssAnchors, retinaAnchors } from '../priors/anchors.ts';
import { fcosPoints } from '../priors/points.ts';

export type DetectorKind = 'retina' | 'atss' | 'gfl' | 'fcos';

export interface DetectorConfig {
  kind: DetectorKind;
  numClasses: number;
  backbone: {
    depth: ResNetDepth;
    widthMultiplier?: number;
    norm?: NormKind;
    frozenStages?: number;
    normEval?: boolean;
  };
  /** FPN and head channels (mmdet: 256). */
  channels: number;
  /** FPN levels from P3 (default 5: P3..P7). */
  numLevels?: number;
  /** Convs per head tower (mmdet: 4). */
  stackedConvs?: number;
  /** Norm in FPN and head towers: 'gn' for from-scratch training (default), or null. */
  neckNorm?: NormKind | null;
  headNorm?: NormKind | null;
  /** FCOS: regress ranges per level (default mmdet's, cut to numLevels), centre sampling. */
  fcos?: { regressRanges?: [number, number][]; centerSampling?: boolean; centerSampleRadius?: number };
  postprocess?: PostprocessConfig;
  /**
   * Input normalisation, RGB per channel (default mmdet's ImageNet mean/std). A teacher and a
   * student may differ here: each normalises the raw batch itself.
   */
  normalize?: { mean: [number, number, number]; std: [number, number, number] };
}

export function buildDetector(cfg: DetectorConfig): DenseDetector {
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
          assigner: new AtssAssigner({ topk: 9 }),
        },
      });
    case 'gfl':
      return new DenseDetector({
        ...common,
        head: {
          kind: 'gfl',
          head: new GFLHead({ ...base, norm: headNorm, priorsPerLocation: 1, regMax: 16 }),
          priors: atssAnchors(strides),
          assigner: new AtssAssigner({ topk: 9 }),
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
