// Typed factories for the four dense detectors on ResNet + FPN, with mmdetection's defaults and
// the from-scratch settings detkd's recipes use (GN in FPN and heads; GN or train-mode BN in the
// backbone; no frozen stages). Recipes call these; a variant spreads and overrides the options.
import { DetkdError } from '../../core/errors.ts';
import { AtssAssigner } from '../assigners/atss.ts';
import { MaxIoUAssigner } from '../assigners/max-iou.ts';
import { PaaAssigner, type PaaConfig } from '../assigners/paa.ts';
import type { Assigner } from '../assigners/types.ts';
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
   * ATSS and GFL: how priors are assigned to ground truth in training. 'atss' (default, mmdet's
   * ATSSAssigner topk 9) or 'paa': PAA's probabilistic assignment from the detector's own detached
   * predictions (MaxIoU 0.1 candidates, focal + 1.3 GIoU scores, a 2-component GMM per GT),
   * options in `paa`. Only the assignment changes; the head and its losses stay the kind's own.
   */
  assigner?: 'atss' | 'paa';
  paa?: PaaConfig;
  /**
   * Input normalisation, RGB per channel (default mmdet's ImageNet mean/std). A teacher and a
   * student may differ here: each normalises the raw batch itself.
   */
  normalize?: { mean: [number, number, number]; std: [number, number, number] };
}

function singleAnchorAssigner(cfg: DetectorConfig): Assigner {
  switch (cfg.assigner ?? 'atss') {
    case 'atss':
      return new AtssAssigner({ topk: 9 });
    case 'paa':
      return new PaaAssigner(cfg.paa ?? {});
  }
}

export function buildDetector(cfg: DetectorConfig): DenseDetector {
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
