// FGD: Focal and Global Distillation for detectors (Yang et al., CVPR'22), one FPN level.
// Reference: yzd-v/FGD mmdet/distillation/losses/fgd.py (FeatureLoss) and open-mmlab/mmrazor
// mmrazor/models/losses/fgd_loss.py (FGDLoss, same maths without the align conv); docs/methods/fgd.md.
//
//   L = α·L_fg + β·L_bg + γ·L_at + λ·L_global, each term divided by the batch size N.
//
// The masks and attentions are pure functions; FgdLevel holds the trainable parts (align conv,
// student and teacher GcBlocks) under the reference's parameter names, so its state dict loads
// the reference's `FeatureLoss.state_dict()` unchanged.
import { DetkdError } from '../../core/errors.ts';
import type { Generator } from '../../core/random.ts';
import { type Device, type Tensor, tensor, tidy } from '../../core/tensor.ts';
import { ReLU } from '../../nn/activation.ts';
import { Sequential } from '../../nn/containers.ts';
import { Conv2d } from '../../nn/conv.ts';
import { constantInit, kaimingNormal_, zeros_ } from '../../nn/init.ts';
import { Module } from '../../nn/module.ts';
import { LayerNorm } from '../../nn/norm.ts';

/** FGD's loss hyper-parameters (FeatureLoss's temp, alpha_fgd, beta_fgd, gamma_fgd, lambda_fgd). */
export interface FgdConfig {
  /** Attention temperature T. */
  temp: number;
  /** Weight of the foreground feature loss. */
  alphaFgd: number;
  /** Weight of the background feature loss. */
  betaFgd: number;
  /** Weight of the attention (L1) loss. */
  gammaFgd: number;
  /** Weight of the global (GcBlock relation) loss. */
  lambdaFgd: number;
}

// The rows of yzd-v/FGD configs/distillers/fgd/* (docs/methods/fgd.md). The loss class's own
// default γ is 1e-3; every config overrides it.
/** RetinaNet, GFL, SOLO students. */
export const FGD_ONE_STAGE: FgdConfig = {
  temp: 0.5,
  alphaFgd: 1e-3,
  betaFgd: 5e-4,
  gammaFgd: 5e-4,
  lambdaFgd: 5e-6,
};
/** Faster / Mask / Cascade R-CNN students. */
export const FGD_TWO_STAGE: FgdConfig = {
  temp: 0.5,
  alphaFgd: 5e-5,
  betaFgd: 2.5e-5,
  gammaFgd: 5e-5,
  lambdaFgd: 5e-7,
};
/** RepPoints students. */
export const FGD_REPPOINTS: FgdConfig = {
  temp: 0.5,
  alphaFgd: 1.6e-3,
  betaFgd: 8e-4,
  gammaFgd: 8e-4,
  lambdaFgd: 8e-6,
};
/** FCOS students (T = 0.8). */
export const FGD_FCOS: FgdConfig = {
  temp: 0.8,
  alphaFgd: 1.6e-3,
  betaFgd: 8e-4,
  gammaFgd: 8e-4,
  lambdaFgd: 8e-6,
};

/** Foreground scale mask and background mask of one FPN level. */
export interface FgdMasks {
  /** [N, H, W] max over the boxes covering a cell of 1/(h_r·w_r); 0 on background. */
  fg: Tensor;
  /** [N, H, W] 1/(number of background cells) on background, 0 elsewhere (sums to 1 per image). */
  bg: Tensor;
}

export interface FgdMaskOptions {
  device?: Device;
  /** Mask dtype (the reference's is the feature's); default float32. */
  dtype?: 'float32' | 'float64';
  /**
   * 'img_shape' (default, the reference): x·W/img_w, y·H/img_h, i.e. the un-padded image size
   * against the padded feature size, which stretches boxes of padded images. 'pad_shape':
   * x·W/pad_w, y·H/pad_h, the geometrically exact projection (not the reference).
   */
  projection?: 'img_shape' | 'pad_shape';
}

/**
 * FGD's masks for one level (FeatureLoss.forward's mask loop). Boxes are projected onto the
 * feature map, then x1, y1 are floored and x2, y2 ceiled, and the cells [y1..y2] × [x1..x2] are
 * covered INCLUSIVELY, as the reference's `[hmin:hmax+1, wmin:wmax+1]` slices (indices past the map
 * are dropped, but h_r = y2 − y1 + 1 and w_r still count them). fg keeps the max of 1/(h_r·w_r)
 * over the boxes (small objects weigh more); bg = [fg == 0] / count, all zero if nothing is
 * background. The projection arithmetic runs in the boxes' precision (float32 boxes round like
 * torch float32 ops) and the area is a float32 value, as `1.0 / int_tensor` is in the reference,
 * so masks are bit-identical to it.
 *
 * gtBoxes: per image [G_i, 4] xyxy in input pixels (G_i may be 0); imgShapes: valid [h, w] per
 * image; padShape: padded input [H, W]; featSize: [H_f, W_f]. Returns fg, bg [N, H_f, W_f].
 *
 *   const masks = fgdMasks(gts.map((g) => g.boxes), metas.map((m) => m.imgShape), padShape, [h, w]);
 */
export function fgdMasks(
  gtBoxes: readonly Tensor[],
  imgShapes: readonly (readonly [number, number])[],
  padShape: readonly [number, number],
  featSize: readonly [number, number],
  o: FgdMaskOptions = {},
): FgdMasks {
  const n = gtBoxes.length;
  if (imgShapes.length !== n) {
    throw new DetkdError(`fgdMasks: ${n} box tensors but ${imgShapes.length} image shapes`);
  }
  const [fh, fw] = featSize;
  const dtype = o.dtype ?? 'float32';
  const fg = dtype === 'float64' ? new Float64Array(n * fh * fw) : new Float32Array(n * fh * fw);
  const bg = dtype === 'float64' ? new Float64Array(n * fh * fw) : new Float32Array(n * fh * fw);
  for (let i = 0; i < n; i++) {
    const boxes = gtBoxes[i]!;
    const [ih, iw] = imgShapes[i]!;
    const [dh, dw] = o.projection === 'pad_shape' ? padShape : [ih, iw];
    const g = boxes.numel === 0 ? 0 : boxes.size(0);
    if (g > 0 && (boxes.ndim !== 2 || boxes.size(1) !== 4)) {
      throw new DetkdError(`fgdMasks: image ${i} boxes must be [G, 4], got [${boxes.shape.join(', ')}]`);
    }
    // torch float32 ops round each result to float32; float64 boxes stay in double.
    const r = boxes.dtype === 'float64' ? (x: number) => x : Math.fround;
    const v = g > 0 ? boxes.toArray() : [];
    const base = i * fh * fw;
    for (let j = 0; j < g; j++) {
      const x1 = Math.floor(r(r(v[4 * j]! / dw) * fw));
      const y1 = Math.floor(r(r(v[4 * j + 1]! / dh) * fh));
      const x2 = Math.ceil(r(r(v[4 * j + 2]! / dw) * fw));
      const y2 = Math.ceil(r(r(v[4 * j + 3]! / dh) * fh));
      // 1.0 / (int32 h_r) / (int32 w_r) in float32, from the unclipped indices.
      const area = Math.fround(Math.fround(1 / (y2 + 1 - y1)) / (x2 + 1 - x1));
      // Python slicing drops indices past the end. Boxes are clipped to the image, so a start
      // below 0 does not occur; it is clamped here (Python would wrap it around).
      for (let y = Math.max(y1, 0); y <= Math.min(y2, fh - 1); y++) {
        for (let x = Math.max(x1, 0); x <= Math.min(x2, fw - 1); x++) {
          const k = base + y * fw + x;
          if (area > fg[k]!) fg[k] = area;
        }
      }
    }
    let count = 0;
    for (let k = base; k < base + fh * fw; k++) if (fg[k] === 0) count++;
    if (count > 0) {
      const val = 1 / count; // rounded to the mask dtype on store, as the float division
      for (let k = base; k < base + fh * fw; k++) if (fg[k] === 0) bg[k] = val;
    }
  }
  const opts = { shape: [n, fh, fw], dtype, ...(o.device === undefined ? {} : { device: o.device }) };
  return { fg: tensor(fg, opts), bg: tensor(bg, opts) };
}

/** FGD's spatial and channel attention of one feature map. */
export interface FgdAttention {
  /** [N, H, W] H·W·softmax_hw(mean_c |F| / T): averages 1 over the map. */
  spatial: Tensor;
  /** [N, C] C·softmax_c(mean_hw |F| / T): averages 1 over the channels. */
  channel: Tensor;
}

/** f [N, C, H, W] -> attention with temperature `temp` (FeatureLoss.get_attention). */
export function fgdAttention(f: Tensor, temp: number): FgdAttention {
  return tidy(() => {
    const [n, c, h, w] = f.shape as [number, number, number, number];
    const value = f.abs();
    const spatial = value
      .mean(1, true)
      .div(temp)
      .view(n, -1)
      .softmax(1)
      .mul(h * w)
      .view(n, h, w);
    // mean over H then over W, as the reference (not one mean over both: the rounding differs).
    const channel = value.mean(2).mean(2).div(temp).softmax(1).mul(c);
    return { spatial, channel };
  });
}

/**
 * FGD's focal feature loss (get_fea_loss): Σ M·A_S^T·A_C^T·(F_S − F_T)² / N over n, c, h, w for
 * M = fg and M = bg, with the TEACHER's attention for both networks (issue #12). Unweighted.
 * student, teacher [N, C, H, W]; masks [N, H, W]; teacherAttention of the teacher feature.
 */
export function fgdFeatureLoss(
  student: Tensor,
  teacher: Tensor,
  masks: FgdMasks,
  teacherAttention: FgdAttention,
): { fg: Tensor; bg: Tensor } {
  return tidy(() => {
    const n = student.size(0);
    const sp = teacherAttention.spatial.unsqueeze(1).sqrt(); // [N, 1, H, W]
    const ch = teacherAttention.channel.unsqueeze(-1).unsqueeze(-1).sqrt(); // [N, C, 1, 1]
    // The reference scales each side by sqrt(A_S)·sqrt(A_C)·sqrt(M) and takes a summed MSE; the
    // mask factor is pulled out of the square here (the same value up to rounding).
    const diff = student.mul(sp).mul(ch).sub(teacher.mul(sp).mul(ch)); // [N, C, H, W]
    const sq = diff.square();
    return {
      fg: sq.mul(masks.fg.unsqueeze(1)).sum().div(n),
      bg: sq.mul(masks.bg.unsqueeze(1)).sum().div(n),
    };
  });
}

/**
 * FGD's attention loss (get_mask_loss): Σ|A_C^S − A_C^T| / N + Σ|A_S^S − A_S^T| / N. L1, with
 * gradients through both sides. Unweighted.
 */
export function fgdAttentionLoss(student: FgdAttention, teacher: FgdAttention): Tensor {
  return tidy(() => {
    const n = student.channel.size(0);
    const ch = student.channel.sub(teacher.channel).abs().sum().div(n);
    const sp = student.spatial.sub(teacher.spatial).abs().sum().div(n);
    return ch.add(sp);
  });
}

/** The four FGD terms of one level, each divided by N: α·L_fg, β·L_bg, γ·L_at, λ·L_global (unweighted: without α..λ). */
export interface FgdLosses {
  fg: Tensor;
  bg: Tensor;
  at: Tensor;
  global: Tensor;
}

export interface FgdLevelOptions {
  /** Generator for the initialisation (the global one when absent). */
  generator?: Generator | null;
}

/** GcBlock's channel-add branch: 1x1 C -> C/2, LayerNorm([C/2, 1, 1]), ReLU, 1x1 C/2 -> C. */
function channelAdd(c: number, generator: Generator | null): Sequential {
  const mid = Math.floor(c / 2);
  return new Sequential(
    new Conv2d(c, mid, 1, { generator }),
    new LayerNorm([mid, 1, 1]),
    new ReLU(),
    new Conv2d(mid, c, 1, { generator }),
  );
}

/**
 * One FPN level's trainable FGD parts: the optional 1x1 align conv C_S -> C_T (only when the
 * channel counts differ; applied to the student before every term) and separate student/teacher
 * GcBlocks for the global loss. Parameter names are the reference's (`align`, `conv_mask_s`,
 * `conv_mask_t`, `channel_add_conv_s.{0,1,3}`, `channel_add_conv_t.{0,1,3}`), registered and
 * initialised in its order, so after the same seed the weights equal FeatureLoss's:
 * PyTorch's default conv init, then mask convs Kaiming-normal fan-in (ReLU gain, bias 0) and the
 * last conv of each channel-add branch zero (so each GcBlock starts as the identity).
 *
 * Build it once and give its parameters to the optimizer (a FeatureLoss made per forward never
 * trains, FGD issue #42). The teacher-side GcBlock trains through L_global although the teacher
 * feature carries no gradient.
 */
export class FgdLevel extends Module {
  readonly align: Conv2d | null;
  readonly convMaskS: Conv2d;
  readonly convMaskT: Conv2d;
  readonly channelAddConvS: Sequential;
  readonly channelAddConvT: Sequential;

  constructor(
    readonly studentChannels: number,
    readonly teacherChannels: number,
    readonly cfg: FgdConfig,
    o: FgdLevelOptions = {},
  ) {
    super();
    const gen = o.generator ?? null;
    const ct = teacherChannels;
    this.align =
      studentChannels === ct
        ? null
        : this.register('align', new Conv2d(studentChannels, ct, 1, { generator: gen }));
    this.convMaskS = this.register('conv_mask_s', new Conv2d(ct, 1, 1, { generator: gen }));
    this.convMaskT = this.register('conv_mask_t', new Conv2d(ct, 1, 1, { generator: gen }));
    this.channelAddConvS = this.register('channel_add_conv_s', channelAdd(ct, gen));
    this.channelAddConvT = this.register('channel_add_conv_t', channelAdd(ct, gen));
    this.resetParameters(gen);
  }

  /** FeatureLoss.reset_parameters (mmcv kaiming_init(mode='fan_in') and constant_init(0)). */
  resetParameters(generator: Generator | null = null): void {
    for (const m of [this.convMaskS, this.convMaskT]) {
      kaimingNormal_(m.weight, { a: 0, mode: 'fan_in', nonlinearity: 'relu', generator });
      if (m.bias !== null) zeros_(m.bias);
    }
    for (const seq of [this.channelAddConvS, this.channelAddConvT]) {
      constantInit(seq.at(-1) as Conv2d, 0);
    }
  }

  /**
   * GcBlock (spatial_pool + channel_add_conv): ctx = Σ_j softmax_j(conv_mask(x))·x_j, then
   * x + W2(ReLU(LN(W1 ctx))). x [N, C, H, W] -> [N, C, H, W].
   */
  gcBlock(x: Tensor, side: 'student' | 'teacher'): Tensor {
    return tidy(() => {
      const [n, c, h, w] = x.shape as [number, number, number, number];
      const convMask = side === 'student' ? this.convMaskS : this.convMaskT;
      const add = side === 'student' ? this.channelAddConvS : this.channelAddConvT;
      const weights = convMask
        .forward(x)
        .reshape(n, 1, h * w)
        .softmax(2)
        .unsqueeze(-1); // [N, 1, HW, 1]
      const context = x
        .reshape(n, c, h * w)
        .unsqueeze(1)
        .matmul(weights)
        .view(n, c, 1, 1); // [N, C, 1, 1]
      return x.add(add.forward(context));
    });
  }

  /**
   * The four weighted terms for one level (FeatureLoss.forward, returned apart instead of summed).
   * student [N, C_S, H, W] (with grad); teacher [N, C_T, H, W] (computed under noGrad); masks from
   * `fgdMasks` for this level's [H, W].
   */
  loss(student: Tensor, teacher: Tensor, masks: FgdMasks): FgdLosses {
    const { alphaFgd, betaFgd, gammaFgd, lambdaFgd } = this.cfg;
    return tidy(() => {
      const u = this.unweightedLoss(student, teacher, masks);
      return {
        fg: u.fg.mul(alphaFgd),
        bg: u.bg.mul(betaFgd),
        at: u.at.mul(gammaFgd),
        global: u.global.mul(lambdaFgd),
      };
    });
  }

  /**
   * The four terms before alpha..lambda (the `fgd` method's parts, weighted by the Distiller);
   * the config's temperature still applies.
   */
  unweightedLoss(student: Tensor, teacher: Tensor, masks: FgdMasks): FgdLosses {
    const { temp } = this.cfg;
    return tidy(() => {
      if (student.ndim !== 4 || teacher.ndim !== 4) {
        throw new DetkdError(
          `FGD: features must be [N, C, H, W], got student [${student.shape.join(', ')}], teacher [${teacher.shape.join(', ')}]`,
        );
      }
      const [n, c, h, w] = teacher.shape as [number, number, number, number];
      const ss = student.shape;
      if (
        ss[0] !== n ||
        ss[1] !== this.studentChannels ||
        c !== this.teacherChannels ||
        ss[2] !== h ||
        ss[3] !== w
      ) {
        throw new DetkdError(
          `FGD: student [${student.shape.join(', ')}] (${this.studentChannels} -> ${this.teacherChannels} channels) does not match teacher [${teacher.shape.join(', ')}]`,
        );
      }
      const s = this.align === null ? student : this.align.forward(student); // [N, C_T, H, W]
      for (const [k, m] of [
        ['fg', masks.fg],
        ['bg', masks.bg],
      ] as const) {
        const ms = m.shape;
        if (ms.length !== 3 || ms[0] !== n || ms[1] !== h || ms[2] !== w) {
          throw new DetkdError(
            `FGD: ${k} mask [${ms.join(', ')}] does not match the features [${n}, ${h}, ${w}]`,
          );
        }
      }
      const attT = fgdAttention(teacher, temp);
      const attS = fgdAttention(s, temp);
      // masks are built on the host by default; follow the features' device
      const dev = teacher.device;
      const onDev = (m: Tensor): Tensor => (m.device === dev ? m : m.to(dev));
      const feat = fgdFeatureLoss(s, teacher, { fg: onDev(masks.fg), bg: onDev(masks.bg) }, attT);
      const at = fgdAttentionLoss(attS, attT);
      // get_rela_loss: summed squared difference of the two GcBlock outputs over N.
      const global = this.gcBlock(s, 'student').sub(this.gcBlock(teacher, 'teacher')).square().sum().div(n);
      return { fg: feat.fg, bg: feat.bg, at, global };
    });
  }
}
