// Dense heads' layers and forward passes, with mmdetection's parameter names and init:
// RetinaHead (retina_cls/retina_reg), ATSSHead (atss_cls/atss_reg/atss_centerness + scales),
// GFLHead (gfl_cls/gfl_reg + scales), FCOSHead (conv_cls/conv_reg/conv_centerness + scales).
// Each returns HeadOutputs per level, with the towers' last features for distillation taps.
// The losses that consume these outputs live in ./losses (per detector).
import type { Tensor } from '../../core/tensor.ts';
import { ModuleList } from '../../nn/containers.ts';
import { Conv2d } from '../../nn/conv.ts';
import { biasInitWithProb, constant_, normalInit } from '../../nn/init.ts';
import { Scale } from '../../nn/scale.ts';
import type { HeadOutputs } from '../types.ts';
import { TowerHead, type TowerOptions } from './towers.ts';

export interface DenseHeadOptions extends TowerOptions {
  numClasses: number;
  /** Priors per location: 9 for RetinaNet, 1 for ATSS/GFL/FCOS. */
  priorsPerLocation: number;
  /** Number of pyramid levels (for the per-level scales). */
  numLevels: number;
  /** Prior probability the classification bias is initialised to (focal-loss heads: 0.01). */
  priorProb?: number;
}

function outConv(inCh: number, outCh: number): Conv2d {
  const c = new Conv2d(inCh, outCh, 3, { padding: 1 });
  normalInit(c, { std: 0.01 });
  return c;
}

function clsConv(inCh: number, outCh: number, priorProb: number): Conv2d {
  const c = outConv(inCh, outCh);
  if (c.bias !== null) constant_(c.bias, biasInitWithProb(priorProb));
  return c;
}

/** RetinaNet: cls [B, A*C, H, W], reg [B, A*4, H, W] (deltas). */
export class RetinaHead extends TowerHead {
  readonly numClasses: number;
  readonly retinaCls: Conv2d;
  readonly retinaReg: Conv2d;
  constructor(o: DenseHeadOptions) {
    super(o);
    this.numClasses = o.numClasses;
    this.retinaCls = this.register(
      'retina_cls',
      clsConv(o.featChannels, o.priorsPerLocation * o.numClasses, o.priorProb ?? 0.01),
    );
    this.retinaReg = this.register('retina_reg', outConv(o.featChannels, o.priorsPerLocation * 4));
  }
  forward(feats: readonly Tensor[]): HeadOutputs {
    const out: HeadOutputs = { clsScores: [], bboxPreds: [], clsFeats: [], regFeats: [] };
    for (const x of feats) {
      const { cls, reg } = this.towers(x);
      out.clsScores.push(this.retinaCls.forward(cls));
      out.bboxPreds.push(this.retinaReg.forward(reg));
      out.clsFeats!.push(cls);
      out.regFeats!.push(reg);
    }
    return out;
  }
}

function scales(n: number): ModuleList<Scale> {
  return new ModuleList(Array.from({ length: n }, () => new Scale(1.0)));
}

/** ATSS: cls [B, C, H, W], reg [B, 4, H, W] (deltas, scaled per level), centre-ness [B, 1, H, W]. */
export class ATSSHead extends TowerHead {
  readonly numClasses: number;
  readonly atssCls: Conv2d;
  readonly atssReg: Conv2d;
  readonly atssCenterness: Conv2d;
  readonly scales: ModuleList<Scale>;
  constructor(o: DenseHeadOptions) {
    super(o);
    this.numClasses = o.numClasses;
    const a = o.priorsPerLocation;
    this.atssCls = this.register('atss_cls', clsConv(o.featChannels, a * o.numClasses, o.priorProb ?? 0.01));
    this.atssReg = this.register('atss_reg', outConv(o.featChannels, a * 4));
    this.atssCenterness = this.register('atss_centerness', outConv(o.featChannels, a));
    this.scales = this.register('scales', scales(o.numLevels));
  }
  forward(feats: readonly Tensor[]): HeadOutputs {
    const out: HeadOutputs = { clsScores: [], bboxPreds: [], centerness: [], clsFeats: [], regFeats: [] };
    feats.forEach((x, l) => {
      const { cls, reg } = this.towers(x);
      out.clsScores.push(this.atssCls.forward(cls));
      out.bboxPreds.push(this.scales.at(l).forward(this.atssReg.forward(reg)));
      out.centerness!.push(this.atssCenterness.forward(reg));
      out.clsFeats!.push(cls);
      out.regFeats!.push(reg);
    });
    return out;
  }
}

/**
 * GFL: cls [B, C, H, W] (quality-aware scores), reg [B, 4*(regMax+1), H, W] (edge distributions
 * in stride units, scaled per level).
 */
export class GFLHead extends TowerHead {
  readonly numClasses: number;
  readonly regMax: number;
  readonly gflCls: Conv2d;
  readonly gflReg: Conv2d;
  readonly scales: ModuleList<Scale>;
  constructor(o: DenseHeadOptions & { regMax?: number }) {
    super(o);
    this.numClasses = o.numClasses;
    this.regMax = o.regMax ?? 16;
    const a = o.priorsPerLocation;
    this.gflCls = this.register('gfl_cls', clsConv(o.featChannels, a * o.numClasses, o.priorProb ?? 0.01));
    this.gflReg = this.register('gfl_reg', outConv(o.featChannels, a * 4 * (this.regMax + 1)));
    this.scales = this.register('scales', scales(o.numLevels));
  }
  forward(feats: readonly Tensor[]): HeadOutputs {
    const out: HeadOutputs = { clsScores: [], bboxPreds: [], clsFeats: [], regFeats: [] };
    feats.forEach((x, l) => {
      const { cls, reg } = this.towers(x);
      out.clsScores.push(this.gflCls.forward(cls));
      out.bboxPreds.push(this.scales.at(l).forward(this.gflReg.forward(reg)));
      out.clsFeats!.push(cls);
      out.regFeats!.push(reg);
    });
    return out;
  }
}

/**
 * FCOS (with mmdet's improvements as options): cls [B, C, H, W]; reg [B, 4, H, W] ltrb distances,
 * exp(scale·x) or, with normOnBbox, relu(scale·x) in stride units (multiplied by the stride at
 * test time by the decoder); centre-ness [B, 1, H, W] on the reg branch when centernessOnReg.
 */
export class FCOSHead extends TowerHead {
  readonly numClasses: number;
  readonly normOnBbox: boolean;
  readonly centernessOnReg: boolean;
  readonly convCls: Conv2d;
  readonly convReg: Conv2d;
  readonly convCenterness: Conv2d;
  readonly scales: ModuleList<Scale>;
  constructor(o: DenseHeadOptions & { normOnBbox?: boolean; centernessOnReg?: boolean }) {
    super(o);
    this.numClasses = o.numClasses;
    this.normOnBbox = o.normOnBbox ?? true;
    this.centernessOnReg = o.centernessOnReg ?? true;
    this.convCls = this.register('conv_cls', clsConv(o.featChannels, o.numClasses, o.priorProb ?? 0.01));
    this.convReg = this.register('conv_reg', outConv(o.featChannels, 4));
    this.convCenterness = this.register('conv_centerness', outConv(o.featChannels, 1));
    this.scales = this.register('scales', scales(o.numLevels));
  }
  forward(feats: readonly Tensor[]): HeadOutputs {
    const out: HeadOutputs = { clsScores: [], bboxPreds: [], centerness: [], clsFeats: [], regFeats: [] };
    feats.forEach((x, l) => {
      const { cls, reg } = this.towers(x);
      out.clsScores.push(this.convCls.forward(cls));
      const r = this.scales.at(l).forward(this.convReg.forward(reg));
      out.bboxPreds.push(this.normOnBbox ? r.relu() : r.exp());
      out.centerness!.push(this.convCenterness.forward(this.centernessOnReg ? reg : cls));
      out.clsFeats!.push(cls);
      out.regFeats!.push(reg);
    });
    return out;
  }
}
