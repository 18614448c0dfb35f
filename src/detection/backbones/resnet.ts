// ResNet backbones (He et al. 2016) with torchvision's module and parameter names, so that
// torchvision checkpoints load as they are: `conv1.weight`, `bn1.*`, `layer1.0.conv1.weight`,
// `layer1.0.downsample.0.weight`, `layer1.0.downsample.1.*`, ... (torchvision/models/resnet.py).
// Bottleneck puts the stride on the 3x3 conv (torchvision's "ResNet v1.5"), as mmdet's
// style='pytorch'.
//
// Additions over torchvision, from mmdet's ResNet (mmdet/models/backbones/resnet.py):
//   - a width multiplier for small students (scaleChannels below);
//   - the norm kind ('bn' | 'gn' | 'frozen-bn'); GN keeps the BN names (bn1.weight, ...);
//   - frozenStages and normEval with mmdet's meaning; outIndices choosing C2..C5.
// From-scratch recipes (no pretrained weights to protect) keep the defaults: BN in train mode or GN,
// frozenStages -1, normEval false. ImageNet-style fine-tuning uses frozenStages 1, normEval true.
import { DetkdError } from '../../core/errors.ts';
import * as F from '../../core/functional.ts';
import type { Generator } from '../../core/random.ts';
import { loadStateDictFile } from '../../core/serialize.ts';
import { type Device, type Tensor, tidy } from '../../core/tensor.ts';
import { Sequential } from '../../nn/containers.ts';
import { Conv2d } from '../../nn/conv.ts';
import { constant_, kaimingNormal_ } from '../../nn/init.ts';
import { type LoadStateDictResult, Module } from '../../nn/module.ts';
import { freezeNorms } from '../../nn/norm.ts';
import { buildNorm, type NormKind, type NormLayer2d } from './norm.ts';

export type ResNetDepth = 18 | 34 | 50 | 101;

const ARCH: Record<ResNetDepth, { block: 'basic' | 'bottleneck'; layers: [number, number, number, number] }> =
  {
    18: { block: 'basic', layers: [2, 2, 2, 2] },
    34: { block: 'basic', layers: [3, 4, 6, 3] },
    50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
    101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  };

/**
 * Channels of a width-multiplied layer: c * w rounded to the nearest multiple of 8, at least 8
 * (so 64 -> 32 at w = 0.5, 16 at 0.25, 8 at 0.125). Multiples of 8 keep GroupNorm groups even
 * (gnGroups) and are the widths the kernels handle best.
 */
export function scaleChannels(c: number, widthMultiplier: number): number {
  if (!(widthMultiplier > 0)) throw new RangeError(`widthMultiplier must be > 0, got ${widthMultiplier}`);
  return Math.max(8, Math.round((c * widthMultiplier) / 8) * 8);
}

interface BlockOptions {
  norm: NormKind;
  normEval: boolean;
  device: Device | undefined;
}

function conv(cin: number, cout: number, k: number, stride: number, o: BlockOptions): Conv2d {
  const dev = o.device === undefined ? {} : { device: o.device };
  return new Conv2d(cin, cout, k, { stride, padding: (k - 1) / 2, bias: false, ...dev });
}

function norm(c: number, o: BlockOptions): NormLayer2d {
  return buildNorm(o.norm, c, { normEval: o.normEval, device: o.device });
}

function downsample(cin: number, cout: number, stride: number, o: BlockOptions): Sequential | null {
  if (stride === 1 && cin === cout) return null;
  return new Sequential(conv(cin, cout, 1, stride, o), norm(cout, o));
}

/** Two 3x3 convs (ResNet-18/34). x [N, Cin, H, W] -> [N, planes, H/s, W/s]. */
export class BasicBlock extends Module {
  static readonly expansion = 1;
  readonly conv1: Conv2d;
  readonly bn1: NormLayer2d;
  readonly conv2: Conv2d;
  readonly bn2: NormLayer2d;
  readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride: number, o: BlockOptions) {
    super();
    this.conv1 = this.register('conv1', conv(inplanes, planes, 3, stride, o));
    this.bn1 = this.register('bn1', norm(planes, o));
    this.conv2 = this.register('conv2', conv(planes, planes, 3, 1, o));
    this.bn2 = this.register('bn2', norm(planes, o));
    const ds = downsample(inplanes, planes, stride, o);
    this.downsample = ds === null ? null : this.register('downsample', ds);
  }

  /** The norm whose weight zero-init-residual sets to 0. */
  get lastNorm(): NormLayer2d {
    return this.bn2;
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      const out = this.bn2.forward(this.conv2.forward(F.relu(this.bn1.forward(this.conv1.forward(x)))));
      const identity = this.downsample === null ? x : this.downsample.forward(x);
      return F.relu(out.add(identity));
    });
  }
}

/** 1x1 -> 3x3 (stride here) -> 1x1 x4 (ResNet-50/101). x [N, Cin, H, W] -> [N, 4*planes, H/s, W/s]. */
export class Bottleneck extends Module {
  static readonly expansion = 4;
  readonly conv1: Conv2d;
  readonly bn1: NormLayer2d;
  readonly conv2: Conv2d;
  readonly bn2: NormLayer2d;
  readonly conv3: Conv2d;
  readonly bn3: NormLayer2d;
  readonly downsample: Sequential | null;

  constructor(inplanes: number, planes: number, stride: number, o: BlockOptions) {
    super();
    const out = planes * Bottleneck.expansion;
    this.conv1 = this.register('conv1', conv(inplanes, planes, 1, 1, o));
    this.bn1 = this.register('bn1', norm(planes, o));
    this.conv2 = this.register('conv2', conv(planes, planes, 3, stride, o));
    this.bn2 = this.register('bn2', norm(planes, o));
    this.conv3 = this.register('conv3', conv(planes, out, 1, 1, o));
    this.bn3 = this.register('bn3', norm(out, o));
    const ds = downsample(inplanes, out, stride, o);
    this.downsample = ds === null ? null : this.register('downsample', ds);
  }

  get lastNorm(): NormLayer2d {
    return this.bn3;
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      let out = F.relu(this.bn1.forward(this.conv1.forward(x)));
      out = F.relu(this.bn2.forward(this.conv2.forward(out)));
      out = this.bn3.forward(this.conv3.forward(out));
      const identity = this.downsample === null ? x : this.downsample.forward(x);
      return F.relu(out.add(identity));
    });
  }
}

export interface ResNetOptions {
  depth: ResNetDepth;
  /** Channel multiplier (default 1): stage widths scaleChannels(64|128|256|512, w), x4 for bottlenecks. */
  widthMultiplier?: number;
  /** Norm kind (default 'bn'). */
  norm?: NormKind;
  /**
   * mmdet's frozen_stages (default -1): -1 freezes nothing, 0 the stem (conv1 + bn1), k >= 1 the
   * stem and layer1..layerk. Frozen parts get requiresGrad false and frozen norms (running
   * statistics, never updated).
   */
  frozenStages?: number;
  /** mmdet's norm_eval (default false): every BN uses and keeps its running statistics. */
  normEval?: boolean;
  /**
   * Stages to return, 1-based: 1 = layer1 (C2, stride 4) ... 4 = layer4 (C5, stride 32).
   * Default [2, 3, 4] (C3..C5; mmdet's out_indices (1, 2, 3)).
   */
  outIndices?: readonly number[];
  /** Zero the last norm's weight in every block (torchvision's zero_init_residual; default false). */
  zeroInitResidual?: boolean;
  inChannels?: number;
  device?: Device;
  /** Generator for the kaiming init (global generator when absent). */
  generator?: Generator | null;
}

/**
 * ResNet trunk without the classifier. forward(x [N, Cin, H, W]) returns one map per outIndices
 * entry: stage k gives [N, outChannels[i], ceil(H / 2^(k+1)), ...] (strides 4, 8, 16, 32).
 *
 *   const backbone = new ResNet({ depth: 18, widthMultiplier: 0.5, norm: 'gn' });
 *   const [c3, c4, c5] = backbone.forward(images); // backbone.outChannels = [64, 128, 256]
 */
export class ResNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: NormLayer2d;
  readonly layer1: Sequential;
  readonly layer2: Sequential;
  readonly layer3: Sequential;
  readonly layer4: Sequential;
  readonly depth: ResNetDepth;
  readonly norm: NormKind;
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly outIndices: readonly number[];
  /** Output channels of layer1..layer4. */
  readonly stageChannels: readonly [number, number, number, number];
  /** Channels of each returned map, in outIndices order. */
  readonly outChannels: readonly number[];
  /** Stride of each returned map, in outIndices order. */
  readonly outStrides: readonly number[];

  constructor(o: ResNetOptions) {
    super();
    const arch = ARCH[o.depth];
    if (arch === undefined) throw new RangeError(`ResNet: depth must be 18, 34, 50 or 101, got ${o.depth}`);
    const w = o.widthMultiplier ?? 1;
    this.depth = o.depth;
    this.norm = o.norm ?? 'bn';
    this.frozenStages = o.frozenStages ?? -1;
    this.normEval = o.normEval ?? false;
    this.outIndices = [...(o.outIndices ?? [2, 3, 4])];
    if (!Number.isInteger(this.frozenStages) || this.frozenStages < -1 || this.frozenStages > 4) {
      throw new RangeError(`ResNet: frozenStages must be an integer in -1..4, got ${this.frozenStages}`);
    }
    if (
      this.outIndices.length === 0 ||
      this.outIndices.some(
        (i, k) => !Number.isInteger(i) || i < 1 || i > 4 || (k > 0 && i <= (this.outIndices[k - 1] ?? 0)),
      )
    ) {
      throw new RangeError(
        `ResNet: outIndices must be increasing stage numbers in 1..4, got [${this.outIndices}]`,
      );
    }
    const bo: BlockOptions = { norm: this.norm, normEval: this.normEval, device: o.device };
    const stem = scaleChannels(64, w);
    this.conv1 = this.register('conv1', conv(o.inChannels ?? 3, stem, 7, 2, bo));
    this.bn1 = this.register('bn1', norm(stem, bo));

    const expansion = arch.block === 'basic' ? BasicBlock.expansion : Bottleneck.expansion;
    const planes = [64, 128, 256, 512].map((c) => scaleChannels(c, w));
    let inplanes = stem;
    const layers: Sequential[] = [];
    for (let s = 0; s < 4; s++) {
      const p = planes[s] ?? 0;
      const seq = new Sequential();
      for (let b = 0; b < (arch.layers[s] ?? 0); b++) {
        const stride = b === 0 && s > 0 ? 2 : 1;
        seq.push(
          arch.block === 'basic'
            ? new BasicBlock(inplanes, p, stride, bo)
            : new Bottleneck(inplanes, p, stride, bo),
        );
        inplanes = p * expansion;
      }
      layers.push(this.register(`layer${s + 1}`, seq));
    }
    [this.layer1, this.layer2, this.layer3, this.layer4] = layers as [
      Sequential,
      Sequential,
      Sequential,
      Sequential,
    ];
    const sc = planes.map((p) => p * expansion);
    this.stageChannels = [sc[0] ?? 0, sc[1] ?? 0, sc[2] ?? 0, sc[3] ?? 0];
    this.outChannels = this.outIndices.map((i) => this.stageChannels[i - 1] ?? 0);
    this.outStrides = this.outIndices.map((i) => 2 ** (i + 1));

    this.initWeights(o.generator ?? null, o.zeroInitResidual ?? false);
    this.freezeStages();
  }

  /** layer1..layer4. */
  get stages(): [Sequential, Sequential, Sequential, Sequential] {
    return [this.layer1, this.layer2, this.layer3, this.layer4];
  }

  /**
   * torchvision's init: kaiming normal (fan_out, relu) for every conv, norms weight 1 bias 0
   * (their construction values), optionally the last norm of each block zeroed.
   */
  private initWeights(generator: Generator | null, zeroInitResidual: boolean): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof Conv2d) kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu', generator });
    }
    if (zeroInitResidual) {
      for (const [, m] of this.namedModules()) {
        if (m instanceof BasicBlock || m instanceof Bottleneck) {
          const wgt = m.lastNorm.weight;
          if (wgt !== null) constant_(wgt, 0);
        }
      }
    }
  }

  /** mmdet's _freeze_stages: parameters off and norms frozen for the stem and layer1..frozenStages. */
  private freezeStages(): void {
    if (this.frozenStages < 0) return;
    const parts: Module[] = [this.conv1, this.bn1, ...this.stages.slice(0, this.frozenStages)];
    for (const p of parts) {
      p.requiresGrad_(false);
      freezeNorms(p);
    }
  }

  /** x [N, Cin, H, W] -> one map per outIndices entry (see the class comment). */
  forward(x: Tensor): Tensor[] {
    return tidy(() => {
      let y = F.maxPool2d(F.relu(this.bn1.forward(this.conv1.forward(x))), 3, { stride: 2, padding: 1 });
      const outs: Tensor[] = [];
      const last = this.outIndices[this.outIndices.length - 1] ?? 4;
      for (let s = 1; s <= last; s++) {
        y = this.stages[s - 1].forward(y);
        if (this.outIndices.includes(s)) outs.push(y);
      }
      return outs;
    });
  }

  /**
   * Loads a safetensors file with torchvision's key names (`fc.*` ignored; with GN, the BN running
   * statistics are ignored too). Shapes must match: width 1 for torchvision's own checkpoints.
   */
  loadTorchvisionWeights(path: string, o: { strict?: boolean } = {}): LoadStateDictResult {
    const device = this.conv1.weight.device;
    return tidy(() => {
      const { tensors } = loadStateDictFile(path, { device });
      const sd = new Map<string, Tensor>();
      for (const [k, t] of tensors) {
        if (k.startsWith('fc.')) continue;
        if (this.norm === 'gn' && /\.(running_mean|running_var|num_batches_tracked)$/.test(k)) continue;
        sd.set(k, t);
      }
      if (sd.size === 0) throw new DetkdError(`${path}: no ResNet weights in the file`);
      return this.loadStateDict(sd, { strict: o.strict ?? true });
    });
  }
}

/** ResNet-18 (BasicBlock [2, 2, 2, 2]). */
export function resnet18(o: Omit<ResNetOptions, 'depth'> = {}): ResNet {
  return new ResNet({ ...o, depth: 18 });
}

/** ResNet-34 (BasicBlock [3, 4, 6, 3]). */
export function resnet34(o: Omit<ResNetOptions, 'depth'> = {}): ResNet {
  return new ResNet({ ...o, depth: 34 });
}

/** ResNet-50 (Bottleneck [3, 4, 6, 3]). */
export function resnet50(o: Omit<ResNetOptions, 'depth'> = {}): ResNet {
  return new ResNet({ ...o, depth: 50 });
}

/** ResNet-101 (Bottleneck [3, 4, 23, 3]). */
export function resnet101(o: Omit<ResNetOptions, 'depth'> = {}): ResNet {
  return new ResNet({ ...o, depth: 101 });
}
