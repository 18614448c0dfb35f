// The base of dense heads: stacked 3x3 conv towers registered on the head itself, so parameter
// names are mmdet's (`cls_convs.{i}.conv.weight`, `reg_convs.{i}.gn.weight`), as in
// AnchorHead/AnchorFreeHead `_init_layers`. Each tower conv is a ConvModule with ReLU (and GN in
// GFL/ATSS/FCOS), initialised normal(std 0.01) as mmdet does.
import type { Tensor } from '../../core/tensor.ts';
import { ModuleList } from '../../nn/containers.ts';
import { normalInit } from '../../nn/init.ts';
import { Module } from '../../nn/module.ts';
import type { NormKind } from '../backbones/norm.ts';
import { ConvModule } from '../necks/conv-module.ts';

export interface TowerOptions {
  /** Channels of the FPN levels. */
  inChannels: number;
  /** Channels of the tower convs (mmdet: feat_channels, 256). */
  featChannels: number;
  /** Convs per tower (mmdet: 4). */
  stackedConvs: number;
  /** Norm in the tower convs: null for RetinaNet, 'gn' for GFL/ATSS/FCOS. */
  norm: NormKind | null;
}

export abstract class TowerHead extends Module {
  readonly clsConvs: ModuleList<ConvModule>;
  readonly regConvs: ModuleList<ConvModule>;
  readonly featChannels: number;

  constructor(o: TowerOptions) {
    super();
    this.featChannels = o.featChannels;
    const make = () =>
      new ModuleList(
        Array.from(
          { length: o.stackedConvs },
          (_, i) =>
            new ConvModule(i === 0 ? o.inChannels : o.featChannels, o.featChannels, 3, {
              padding: 1,
              norm: o.norm,
              relu: true,
            }),
        ),
      );
    this.clsConvs = this.register('cls_convs', make());
    this.regConvs = this.register('reg_convs', make());
    for (const m of [...this.clsConvs, ...this.regConvs]) normalInit(m.conv, { std: 0.01 });
  }

  /** x [B, Cin, H, W] -> tower features, each [B, featChannels, H, W]. */
  protected towers(x: Tensor): { cls: Tensor; reg: Tensor } {
    let cls = x;
    for (const m of this.clsConvs) cls = m.forward(cls);
    let reg = x;
    for (const m of this.regConvs) reg = m.forward(reg);
    return { cls, reg };
  }
}
