// The Faster R-CNN box head: torchvision's TwoMLPHead + FastRCNNPredictor, mmdet's
// Shared2FCBBoxHead. Pooled RoI features [K, C, h, w] are flattened, go through two fully
// connected layers with ReLU, then a classifier over N + 1 classes (background included) and a
// class-specific box regressor. Widths and initialisation are options:
// - init 'torchvision': every Linear keeps PyTorch's default init (kaiming-uniform a = sqrt 5);
// - init 'mmdet': shared fcs Xavier (normal, gain 1, bias 0; mmcv's XavierInit defaults), the
//   classifier normal std 0.01 and the regressor normal std 0.001, biases 0.
// Regressor width: 4 (N + 1) (torchvision; mmdet's own head has 4 N, regOutputs 'foreground').
import * as F from '../../core/functional.ts';
import type { Generator } from '../../core/random.ts';
import { type Device, type Tensor, tidy } from '../../core/tensor.ts';
import { constant_, normalInit, xavierNormal_ } from '../../nn/init.ts';
import { Linear } from '../../nn/linear.ts';
import { Module } from '../../nn/module.ts';

export interface Shared2FCBoxHeadOptions {
  /** Channels of the pooled features. */
  inChannels: number;
  /** Pooled size [h, w] or one side (default 7). */
  roiSize?: number | readonly [number, number];
  /** Width of both fully connected layers (default 1024). */
  fcOutChannels?: number;
  /** Foreground classes N; the classifier has N + 1 outputs. */
  numClasses: number;
  /** 'all' = 4 (N + 1) outputs (torchvision), 'foreground' = 4 N (mmdet). Default 'all'. */
  regOutputs?: 'all' | 'foreground';
  /** Default 'torchvision'. */
  init?: 'torchvision' | 'mmdet';
  generator?: Generator | null;
  device?: Device;
}

export interface BoxHeadOutputs {
  /** [K, N + 1] logits. */
  clsScore: Tensor;
  /** [K, 4 (N + 1)] or [K, 4 N] deltas, class by class. */
  bboxPred: Tensor;
}

export class Shared2FCBoxHead extends Module {
  readonly fc6: Linear;
  readonly fc7: Linear;
  readonly clsScore: Linear;
  readonly bboxPred: Linear;
  readonly numClasses: number;

  constructor(o: Shared2FCBoxHeadOptions) {
    super();
    const [h, w] = typeof o.roiSize === 'object' ? o.roiSize : [o.roiSize ?? 7, o.roiSize ?? 7];
    const width = o.fcOutChannels ?? 1024;
    const lin = { generator: o.generator ?? null, ...(o.device === undefined ? {} : { device: o.device }) };
    this.numClasses = o.numClasses;
    this.fc6 = this.register('fc6', new Linear(o.inChannels * h * w, width, lin));
    this.fc7 = this.register('fc7', new Linear(width, width, lin));
    this.clsScore = this.register('clsScore', new Linear(width, o.numClasses + 1, lin));
    const regClasses = (o.regOutputs ?? 'all') === 'all' ? o.numClasses + 1 : o.numClasses;
    this.bboxPred = this.register('bboxPred', new Linear(width, 4 * regClasses, lin));
    if ((o.init ?? 'torchvision') === 'mmdet') {
      for (const fc of [this.fc6, this.fc7]) {
        xavierNormal_(fc.weight, 1, o.generator ?? null);
        if (fc.bias) constant_(fc.bias, 0);
      }
      normalInit(this.clsScore, { std: 0.01, generator: o.generator ?? null });
      normalInit(this.bboxPred, { std: 0.001, generator: o.generator ?? null });
    }
  }

  /** x [K, C, h, w] pooled RoI features -> logits [K, N + 1], deltas [K, 4 R]. */
  forward(x: Tensor): BoxHeadOutputs {
    return tidy(() => {
      const f = F.relu(this.fc7.forward(F.relu(this.fc6.forward(x.flatten(1)))));
      return { clsScore: this.clsScore.forward(f), bboxPred: this.bboxPred.forward(f) };
    });
  }
}
