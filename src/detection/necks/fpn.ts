// Feature Pyramid Network (Lin et al. 2017), as mmdetection's FPN (mmdet/models/necks/fpn.py,
// 2.x): 1x1 lateral convs, a top-down path of nearest upsampling to the finer level's exact size
// (F.interpolate(size=prev_shape), so inputs that do not divide by 32 work) plus add, 3x3 output
// convs, then extra levels. Parameter names are mmdet's: `lateral_convs.{i}.conv.weight`,
// `fpn_convs.{i}.conv.weight` (the extra convs continue the fpn_convs list), `*.gn.*` with GN.
// Convs are initialised xavier-uniform with zero bias (mmdet's init_cfg for FPN).
import * as F from '../../core/functional.ts';
import type { Generator } from '../../core/random.ts';
import { type Device, type Tensor, tidy } from '../../core/tensor.ts';
import { ModuleList } from '../../nn/containers.ts';
import { Module } from '../../nn/module.ts';
import type { NormKind } from '../backbones/norm.ts';
import { ConvModule } from './conv-module.ts';

/**
 * Where the first extra level's stride-2 conv reads from (mmdet's add_extra_convs):
 * 'on_input' the last backbone input (C5; RetinaNet), 'on_lateral' its lateral, 'on_output' the
 * last output (P5; FCOS/ATSS/GFL). false: extra levels are 1x1 max-pools with stride 2 (Faster
 * R-CNN's P6).
 */
export type ExtraConvSource = 'on_input' | 'on_lateral' | 'on_output';

export interface FPNOptions {
  /** Channels of every backbone map given to forward (e.g. ResNet.outChannels). */
  inChannels: readonly number[];
  /** Channels of every output (256 in mmdet). */
  outChannels: number;
  /** Number of outputs (5 for P3..P7 from C3..C5). */
  numOuts: number;
  /** First input that gets a lateral (default 0; mmdet's RetinaNet configs use 1 with C2..C5 inputs). */
  startLevel?: number;
  /** One past the last input used (default: all; -1 as in mmdet also means all). */
  endLevel?: number;
  /** Extra levels by stride-2 3x3 convs from this source, or max-pool when false (default false). */
  addExtraConvs?: false | ExtraConvSource;
  /** ReLU on the input of the 2nd, 3rd ... extra conv (P7 from relu(P6); RetinaNet, FCOS). */
  reluBeforeExtraConvs?: boolean;
  /** Norm in every ConvModule (default none; GN for from-scratch training). */
  norm?: NormKind | null;
  /** GN group count (default gnGroups(outChannels)). */
  normGroups?: number;
  /** Leave the lateral convs without norm (mmdet's no_norm_on_lateral). */
  noNormOnLateral?: boolean;
  device?: Device;
  generator?: Generator | null;
}

/**
 * inputs [N, inChannels[i], H_i, W_i] -> numOuts maps [N, outChannels, h_l, w_l], finest first.
 *
 *   // RetinaNet: P3..P7 from C3..C5, P6 from C5, P7 from relu(P6)
 *   const fpn = new FPN({ inChannels: backbone.outChannels, outChannels: 256, numOuts: 5,
 *     addExtraConvs: 'on_input', reluBeforeExtraConvs: true });
 *   const [p3, p4, p5, p6, p7] = fpn.forward(backbone.forward(x));
 */
export class FPN extends Module {
  readonly lateralConvs: ModuleList<ConvModule>;
  readonly fpnConvs: ModuleList<ConvModule>;
  readonly inChannels: readonly number[];
  readonly outChannels: number;
  readonly numOuts: number;
  readonly startLevel: number;
  readonly backboneEndLevel: number;
  readonly addExtraConvs: false | ExtraConvSource;
  readonly reluBeforeExtraConvs: boolean;

  constructor(o: FPNOptions) {
    super();
    this.inChannels = [...o.inChannels];
    this.outChannels = o.outChannels;
    this.numOuts = o.numOuts;
    this.startLevel = o.startLevel ?? 0;
    this.addExtraConvs = o.addExtraConvs ?? false;
    this.reluBeforeExtraConvs = o.reluBeforeExtraConvs ?? false;
    const numIns = this.inChannels.length;
    const end = o.endLevel ?? -1;
    if (end === -1) {
      this.backboneEndLevel = numIns;
      if (this.numOuts < numIns - this.startLevel) {
        throw new RangeError(`FPN: numOuts ${this.numOuts} < ${numIns - this.startLevel} used inputs`);
      }
    } else {
      this.backboneEndLevel = end;
      if (end > numIns || this.numOuts !== end - this.startLevel) {
        throw new RangeError(
          `FPN: endLevel ${end} needs numOuts = endLevel - startLevel and <= ${numIns} inputs`,
        );
      }
    }
    if (this.startLevel < 0 || this.startLevel >= this.backboneEndLevel) {
      throw new RangeError(`FPN: startLevel ${this.startLevel} out of range`);
    }
    const norm = o.norm ?? null;
    const common = {
      norm,
      ...(o.normGroups === undefined ? {} : { normGroups: o.normGroups }),
      ...(o.device === undefined ? {} : { device: o.device }),
    };
    this.lateralConvs = this.register('lateral_convs', new ModuleList<ConvModule>());
    this.fpnConvs = this.register('fpn_convs', new ModuleList<ConvModule>());
    for (let i = this.startLevel; i < this.backboneEndLevel; i++) {
      this.lateralConvs.push(
        new ConvModule(this.inChannels[i] ?? 0, o.outChannels, 1, {
          ...common,
          norm: o.noNormOnLateral ? null : norm,
        }),
      );
      this.fpnConvs.push(new ConvModule(o.outChannels, o.outChannels, 3, { ...common, padding: 1 }));
    }
    const extra = this.numOuts - this.backboneEndLevel + this.startLevel;
    if (this.addExtraConvs !== false) {
      for (let i = 0; i < extra; i++) {
        const cin =
          i === 0 && this.addExtraConvs === 'on_input'
            ? (this.inChannels[this.backboneEndLevel - 1] ?? 0)
            : o.outChannels;
        this.fpnConvs.push(new ConvModule(cin, o.outChannels, 3, { ...common, stride: 2, padding: 1 }));
      }
    }
    const g = o.generator ?? null;
    for (const m of [...this.lateralConvs, ...this.fpnConvs]) m.xavierInit(g);
  }

  /** Strides of the outputs given the stride of input 0 (e.g. 8 for C3): [8, 16, 32, 64, 128]. */
  outStrides(firstInputStride: number): number[] {
    return Array.from({ length: this.numOuts }, (_, l) => firstInputStride * 2 ** (this.startLevel + l));
  }

  /** inputs [N, inChannels[i], H_i, W_i] (one per inChannels) -> numOuts maps [N, outChannels, ., .]. */
  forward(inputs: readonly Tensor[]): Tensor[] {
    if (inputs.length !== this.inChannels.length) {
      throw new TypeError(`FPN: expected ${this.inChannels.length} inputs, got ${inputs.length}`);
    }
    return tidy(() => {
      const laterals = this.lateralConvs.map((conv, i) =>
        conv.forward(inputs[i + this.startLevel] as Tensor),
      );
      const used = laterals.length;
      for (let i = used - 1; i > 0; i--) {
        const prev = laterals[i - 1] as Tensor;
        const size: [number, number] = [prev.size(2), prev.size(3)];
        laterals[i - 1] = prev.add(F.interpolate(laterals[i] as Tensor, { size, mode: 'nearest' }));
      }
      const outs = laterals.map((l, i) => this.fpnConvs.at(i).forward(l));
      if (this.numOuts > outs.length) {
        if (this.addExtraConvs === false) {
          for (let i = 0; i < this.numOuts - used; i++) {
            outs.push(F.maxPool2d(outs[outs.length - 1] as Tensor, 1, { stride: 2 }));
          }
        } else {
          const source =
            this.addExtraConvs === 'on_input'
              ? (inputs[this.backboneEndLevel - 1] as Tensor)
              : this.addExtraConvs === 'on_lateral'
                ? (laterals[laterals.length - 1] as Tensor)
                : (outs[outs.length - 1] as Tensor);
          outs.push(this.fpnConvs.at(used).forward(source));
          for (let i = used + 1; i < this.numOuts; i++) {
            const prev = outs[outs.length - 1] as Tensor;
            outs.push(this.fpnConvs.at(i).forward(this.reluBeforeExtraConvs ? F.relu(prev) : prev));
          }
        }
      }
      return outs;
    });
  }
}
