// A learnable scalar multiplier (mmcv's Scale, used per FPN level by FCOS/GFL regression heads).
import { type Device, type Tensor, tensor } from '../core/tensor.ts';
import { Module } from './module.ts';

/** x [...] -> x * scale; `scale` is a 0-dim float32 parameter. */
export class Scale extends Module {
  readonly scale: Tensor;
  constructor(initial = 1.0, o: { device?: Device } = {}) {
    super();
    this.scale = this.param('scale', tensor(initial, o.device === undefined ? {} : { device: o.device }));
  }
  forward(x: Tensor): Tensor {
    return x.mul(this.scale);
  }
}
