// Layout mappings: a state dict in torchvision's or mmdetection's parameter layout -> the state
// dict of a detkd detector (or a bare ResNet backbone), with a report of what was used, what was
// left and what was not filled. Independent of the file format (the .pth reader and safetensors
// both give a Map<string, Tensor>). docs/interop.md "Layout mappings" is the user's view.
//
// Per source layout:
//   torchvision ResNet classifier (resnet18/34/50/101) -> ResNet: names are torchvision's already;
//     `fc.*` (the classifier) ignored and reported; `backbone.` / `backbone.body.` prefixes taken off.
//   torchvision Faster R-CNN -> TwoStageDetector: torchvision.ts (the one mapping, shared with its oracle).
//   torchvision RetinaNet / FCOS (0.14, *_resnet50_fpn) -> DenseDetector 'retina' / 'fcos':
//     backbone.body.* -> backbone.*, backbone.fpn.{inner,layer}_blocks.{i}.0.* -> neck.{lateral,fpn}_convs.{i}.conv.*,
//     backbone.fpn.extra_blocks.p6/p7.* -> neck.fpn_convs.{n, n+1}.conv.* (n = laterals), then the heads:
//       RetinaNet: head.classification_head.conv.{i}.0.* -> bbox_head.cls_convs.{i}.conv.*,
//                  cls_logits -> retina_cls, head.regression_head.conv.{i}.0.* -> reg_convs, bbox_reg -> retina_reg
//       FCOS: head.*.conv.{3i} (conv) / .{3i+1} (GroupNorm 32) -> {cls,reg}_convs.{i}.conv / .gn,
//             cls_logits -> conv_cls, bbox_reg -> conv_reg, bbox_ctrness -> conv_centerness;
//             torchvision has no per-level Scale: bbox_head.scales.{l}.scale filled with 1 (exact);
//             the tower convs' biases (before GN; torchvision initialises them to 0) have no place in
//             detkd's bias-free GN ConvModule: all-zero biases are dropped (exact), others refused.
//   mmdetection (2.x/3.x names) -> the same detectors: backbone, neck and dense heads carry mmdet's
//     names in detkd already (backbone.layer1.0.conv1.weight, neck.lateral_convs.0.conv.weight,
//     bbox_head.cls_convs.0.gn.weight, bbox_head.retina_cls.weight, bbox_head.scales.0.scale, ...).
//     Faster R-CNN: rpn_head.rpn_{conv,cls,reg} -> rpn_head.{conv,cls_logits,bbox_pred},
//     roi_head.bbox_head.shared_fcs.{0,1} -> bbox_head.{fc6,fc7}, fc_cls -> clsScore with the
//     background row moved from last (mmdet) to first (torchvision, detkd), fc_reg -> bboxPred
//     (class-specific C*4 rows; four zero rows put first where detkd's head has C+1 classes).
//
// Conventions checked against the target detector (priors and FPN are not weights, so a mapping can
// only refuse a detector built the other way, naming the option to change):
//   - torchvision RetinaNet/FCOS build P6 from P5 (LastLevelP6P7(256, 256)): the FPN must have
//     addExtraConvs 'on_output' and reluBeforeExtraConvs (mmdet RetinaNet: 'on_input', from C5);
//   - torchvision RetinaNet anchors are the integer sizes (32, 40, 50 per octave) rounded; the
//     detector's anchors are compared box for box with torchvision's (torchvisionRetinaBaseAnchors);
//     mmdet's are not rounded: a detector with rounded anchors is refused for an mmdet checkpoint;
//   - torchvision FCOS points sit at (x * stride) (anchor centres), mmdet's at (x + 0.5) * stride;
//   - BGR input (mmdet's caffe-style configs): `channelOrder: 'bgr'` flips the first conv's input
//     channels so the detector keeps taking RGB; the checkpoint's normalisation, when given
//     (`normalize`, in the checkpoint's channel order, 0-255 scale), must equal the detector's;
//   - caffe-style ResNet (stride on the 1x1 conv1 of bottlenecks) is refused for ResNet-50/101
//     (detkd's bottleneck strides its 3x3 conv2); for BasicBlock depths the two styles are the same net;
//   - anchor order: detkd's anchors are mmdet 2.x's (ratio-major, scales fastest, per location) and
//     torchvision's order is the same; mmdet 1.x's LegacyAnchorGenerator (+1 sizes, centre offset
//     0.5) cannot be told from the weights and is not supported.
import { DetkdError } from '../../core/errors.ts';
import { cat, stack, type Tensor, tensor, tidy } from '../../core/tensor.ts';
import type { Detector } from '../../detection/any-detector.ts';
import { ResNet } from '../../detection/backbones/resnet.ts';
import type { DenseDetector } from '../../detection/detector.ts';
import { AnchorGenerator } from '../../detection/priors/anchors.ts';
import { PointGenerator } from '../../detection/priors/points.ts';
import type { TwoStageDetector } from '../../detection/two-stage.ts';
import { GroupNorm } from '../../nn/norm.ts';
import { torchvisionFasterRcnnKey } from './torchvision.ts';

export type WeightFormat = 'torchvision' | 'mmdet';

export interface MappingReport {
  /** Source entries copied into the detector. */
  loaded: number;
  /** Source keys not used (ignored by design ones included; `notes` says which and why). */
  unusedSource: string[];
  /** Detector parameters and buffers the source did not fill, with their shapes. */
  unfilledTarget: string[];
  /** What the mapping did beyond renaming (ignored classifier, filled scales, flipped channels...). */
  notes: string[];
}

export interface MapWeightsOptions {
  /** Throw on any unknown source key, unfilled target or shape mismatch (default true). */
  strict?: boolean;
  /** Names the source in messages (a file path); default the format's name. */
  what?: string;
  /** Channel order the checkpoint's first conv expects (mmdet caffe-style configs: 'bgr'). Default 'rgb'. */
  channelOrder?: 'rgb' | 'bgr';
  /** The checkpoint's ResNet style (mmdet's `style`); 'caffe' is refused for bottleneck depths. */
  style?: 'pytorch' | 'caffe';
  /**
   * The checkpoint config's input normalisation (mmdet's img_norm_cfg / data_preprocessor, in the
   * checkpoint's channel order, 0..255 scale); checked against the detector's mean / std.
   */
  normalize?: { mean: readonly number[]; std: readonly number[] };
}

type Target =
  | { kind: 'resnet'; net: ResNet }
  | { kind: 'dense'; det: DenseDetector }
  | { kind: 'two-stage'; det: TwoStageDetector };

/** What a mapped key is: a detkd name, ignored by design (with the reason), or unknown. */
type Renamed = { to: string } | { ignore: string } | null;

const shapeStr = (s: readonly number[]): string => `[${s.join(', ')}]`;

function targetOf(det: Detector | ResNet): Target {
  if (det instanceof ResNet) return { kind: 'resnet', net: det };
  return det.detectorKind === 'dense' ? { kind: 'dense', det } : { kind: 'two-stage', det };
}

// --- renaming rules --------------------------------------------------------------------------------

function resnetKey(key: string, format: WeightFormat): Renamed {
  const k = key.replace(/^(module\.)?(backbone\.body\.|backbone\.)/, '');
  if (/^(fc|head\.fc)\./.test(k) || (format === 'mmdet' && /^(head|neck)\./.test(k))) {
    return { ignore: 'the classifier head' };
  }
  if (/^(conv1|bn1|layer[1-4])\./.test(k)) return { to: k };
  return null;
}

function torchvisionFpnKey(key: string, laterals: number): Renamed {
  let m = /^backbone\.fpn\.inner_blocks\.(\d+)\.(?:0\.)?(weight|bias)$/.exec(key);
  if (m) return { to: `neck.lateral_convs.${m[1]}.conv.${m[2]}` };
  m = /^backbone\.fpn\.layer_blocks\.(\d+)\.(?:0\.)?(weight|bias)$/.exec(key);
  if (m) return { to: `neck.fpn_convs.${m[1]}.conv.${m[2]}` };
  m = /^backbone\.fpn\.extra_blocks\.p([67])\.(weight|bias)$/.exec(key);
  if (m) return { to: `neck.fpn_convs.${laterals + Number(m[1]) - 6}.conv.${m[2]}` };
  if (key.startsWith('backbone.body.')) {
    const r = resnetKey(key.slice('backbone.body.'.length), 'torchvision');
    return r !== null && 'to' in r ? { to: `backbone.${r.to}` } : r;
  }
  return null;
}

function torchvisionRetinaKey(key: string, laterals: number): Renamed {
  const r = torchvisionFpnKey(key, laterals);
  if (r !== null) return r;
  // 0.14: conv.{i}.0 (Conv2dNormActivation); before 0.13: conv.{2i} (Conv2d, ReLU alternating)
  let m = /^head\.(classification|regression)_head\.conv\.(\d+)\.0\.(weight|bias)$/.exec(key);
  const tower = (h: string | undefined) => (h === 'classification' ? 'cls_convs' : 'reg_convs');
  if (m) return { to: `bbox_head.${tower(m[1])}.${m[2]}.conv.${m[3]}` };
  m = /^head\.(classification|regression)_head\.conv\.(\d+)\.(weight|bias)$/.exec(key);
  if (m && Number(m[2]) % 2 === 0) return { to: `bbox_head.${tower(m[1])}.${Number(m[2]) / 2}.conv.${m[3]}` };
  m = /^head\.classification_head\.cls_logits\.(weight|bias)$/.exec(key);
  if (m) return { to: `bbox_head.retina_cls.${m[1]}` };
  m = /^head\.regression_head\.bbox_reg\.(weight|bias)$/.exec(key);
  if (m) return { to: `bbox_head.retina_reg.${m[1]}` };
  return null;
}

function torchvisionFcosKey(key: string, laterals: number): Renamed {
  const r = torchvisionFpnKey(key, laterals);
  if (r !== null) return r;
  let m = /^head\.(classification|regression)_head\.conv\.(\d+)\.(weight|bias)$/.exec(key);
  if (m) {
    const tower = m[1] === 'classification' ? 'cls_convs' : 'reg_convs';
    const i = Number(m[2]);
    if (i % 3 === 0) return { to: `bbox_head.${tower}.${i / 3}.conv.${m[3]}` };
    if (i % 3 === 1) return { to: `bbox_head.${tower}.${(i - 1) / 3}.gn.${m[3]}` };
    return null;
  }
  m = /^head\.classification_head\.cls_logits\.(weight|bias)$/.exec(key);
  if (m) return { to: `bbox_head.conv_cls.${m[1]}` };
  m = /^head\.regression_head\.bbox_reg\.(weight|bias)$/.exec(key);
  if (m) return { to: `bbox_head.conv_reg.${m[1]}` };
  m = /^head\.regression_head\.bbox_ctrness\.(weight|bias)$/.exec(key);
  if (m) return { to: `bbox_head.conv_centerness.${m[1]}` };
  return null;
}

function torchvisionFasterKey(key: string): Renamed {
  try {
    if (/^backbone\.body\..*\.num_batches_tracked$/.test(key))
      return { to: key.replace(/^backbone\.body\./, 'backbone.') };
    const to = torchvisionFasterRcnnKey(key);
    return to === null ? { ignore: 'the classifier head' } : { to };
  } catch {
    return null;
  }
}

function mmdetKey(key: string, kind: Target['kind']): Renamed {
  if (/^data_preprocessor\./.test(key))
    return { ignore: "mmdet 3.x's data_preprocessor buffers (mean/std: see `normalize`)" };
  if (kind === 'two-stage') {
    let m = /^rpn_head\.rpn_(conv|cls|reg)\.(weight|bias)$/.exec(key);
    if (m)
      return {
        to: `rpn_head.${{ conv: 'conv', cls: 'cls_logits', reg: 'bbox_pred' }[m[1] as 'conv']}.${m[2]}`,
      };
    m = /^roi_head\.bbox_head\.shared_fcs\.([01])\.(weight|bias)$/.exec(key);
    if (m) return { to: `bbox_head.fc${m[1] === '0' ? 6 : 7}.${m[2]}` };
    m = /^roi_head\.bbox_head\.fc_(cls|reg)\.(weight|bias)$/.exec(key);
    if (m) return { to: `bbox_head.${m[1] === 'cls' ? 'clsScore' : 'bboxPred'}.${m[2]}` };
  }
  if (/^(backbone|neck|bbox_head)\./.test(key)) return { to: key };
  return null;
}

// --- the torchvision RetinaNet anchors -------------------------------------------------------------

/**
 * torchvision RetinaNet's base anchors (retinanet_resnet50_fpn: sizes x, int(x 2^(1/3)),
 * int(x 2^(2/3)) for x = 4 * stride; ratios 0.5, 1, 2; AnchorGenerator.generate_anchors with its
 * float32 ops and round()): [9, 4] per level, in torchvision's (and detkd's) order.
 */
export function torchvisionRetinaBaseAnchors(stride: number): Tensor {
  return tidy(() => {
    const x = 4 * stride;
    const sizes = tensor(Float32Array.from([x, Math.trunc(x * 2 ** (1 / 3)), Math.trunc(x * 2 ** (2 / 3))]));
    const h = tensor(Float32Array.from([0.5, 1, 2])).sqrt();
    const w = h.reciprocal();
    const ws = w.unsqueeze(1).mul(sizes.unsqueeze(0)).view(-1);
    const hs = h.unsqueeze(1).mul(sizes.unsqueeze(0)).view(-1);
    return stack([ws.neg(), hs.neg(), ws, hs], 1).div(2).round();
  });
}

/**
 * torchvision RetinaNet's anchor generator (torchvisionRetinaBaseAnchors per level, shifted over the
 * grid as every AnchorGenerator): the priors a detector needs to reproduce retinanet_resnet50_fpn.
 */
export function torchvisionRetinaAnchors(strides: readonly number[] = [8, 16, 32, 64, 128]): AnchorGenerator {
  return new TorchvisionRetinaAnchorGenerator(strides);
}

class TorchvisionRetinaAnchorGenerator extends AnchorGenerator {
  constructor(strides: readonly number[]) {
    // 3 ratios x 3 sizes per location; the sizes are per level, so baseAnchors is torchvision's own.
    super({ strides, ratios: [0.5, 1, 2], scales: [1, 1, 1], roundBase: true });
  }
  override baseAnchors(level: number): Tensor {
    const stride = this.strides[level];
    if (stride === undefined) throw new RangeError(`torchvisionRetinaAnchors: no level ${level}`);
    return torchvisionRetinaBaseAnchors(stride);
  }
}

// --- checks of the target's non-weight conventions -----------------------------------------------

function conventionProblems(t: Target, format: WeightFormat, o: MapWeightsOptions, what: string): string[] {
  const out: string[] = [];
  const backbone = t.kind === 'resnet' ? t.net : t.det.backbone;
  if (o.style === 'caffe' && (backbone.depth === 50 || backbone.depth === 101)) {
    out.push(
      `${what}: a caffe-style ResNet-${backbone.depth} (stride on each bottleneck's 1x1 conv1) cannot be mapped onto detkd's ResNet, which strides the 3x3 conv2 (pytorch style); use a pytorch-style checkpoint`,
    );
  }
  if (o.normalize !== undefined && t.kind !== 'resnet') {
    const flip = (v: readonly number[]) => (o.channelOrder === 'bgr' ? [...v].reverse() : [...v]);
    const mean = flip(o.normalize.mean);
    const std = flip(o.normalize.std);
    const det = t.det as { mean: readonly number[]; std: readonly number[] };
    const near = (a: readonly number[], b: readonly number[]) =>
      a.length === 3 &&
      a.every((v, i) => Math.abs(v - (b[i] ?? Number.NaN)) <= 1e-3 * Math.max(1, Math.abs(v)));
    if (!near(mean, det.mean) || !near(std, det.std)) {
      out.push(
        `${what}: the checkpoint normalises its input with mean [${mean}] std [${std}] (RGB, 0..255) but the detector uses mean [${det.mean}] std [${det.std}]: set model.normalize to the checkpoint's values`,
      );
    }
  }
  if (t.kind !== 'dense') {
    if (t.kind === 'two-stage' && format === 'mmdet' && t.det.anchors.roundBase) {
      out.push(
        `${what}: mmdetection's RPN anchors are not rounded but this detector's are (torchvision's): build it with the 'mmdet' preset`,
      );
    }
    return out;
  }
  const det = t.det;
  const spec = det.spec;
  const neck = det.neck;
  // Group counts are not in the weights: torchvision's FCOS and mmdet's GN heads use 32.
  for (const [name, m] of spec.head.namedModules()) {
    if (m instanceof GroupNorm && m.numGroups !== 32) {
      out.push(
        `${what}: ${format}'s GN heads use GroupNorm(32, C) but bbox_head.${name} has ${m.numGroups} groups (detkd picks gnGroups(channels): 32 for 64 or 256 channels)`,
      );
      break;
    }
  }
  if (format === 'torchvision') {
    if (spec.kind !== 'retina' && spec.kind !== 'fcos') {
      out.push(`${what}: torchvision has no '${spec.kind}' detector (only RetinaNet, FCOS and Faster R-CNN)`);
      return out;
    }
    if (
      neck.numOuts > neck.lateralConvs.length &&
      (neck.addExtraConvs !== 'on_output' || !neck.reluBeforeExtraConvs)
    ) {
      out.push(
        `${what}: torchvision's ${spec.kind === 'retina' ? 'RetinaNet' : 'FCOS'} builds P6 from P5 and P7 from relu(P6), but this detector's FPN takes extra levels '${neck.addExtraConvs}'${neck.reluBeforeExtraConvs ? '' : ' without relu'}: build its FPN with addExtraConvs 'on_output' and reluBeforeExtraConvs`,
      );
    }
    if (spec.kind === 'retina') {
      const bad = spec.priors.strides.filter((s, l) =>
        tidy(() => {
          const got = spec.priors.baseAnchors(l);
          const want = torchvisionRetinaBaseAnchors(s);
          return got.shape.join() !== want.shape.join() || got.sub(want).abs().max().item() !== 0;
        }),
      );
      if (bad.length > 0) {
        out.push(
          `${what}: the detector's anchors at strides [${bad}] are not torchvision RetinaNet's (integer sizes 32, 40, 50 at stride 8, rounded); build its priors as torchvisionRetinaAnchors() does`,
        );
      }
    } else {
      if (!(spec.priors instanceof PointGenerator) || spec.priors.offset !== 0) {
        out.push(
          `${what}: torchvision's FCOS places points at x * stride (offset 0), this detector at offset ${spec.priors.offset}: build its priors with new PointGenerator(strides, 0)`,
        );
      }
      if (!spec.head.normOnBbox || !spec.head.centernessOnReg) {
        out.push(
          `${what}: torchvision's FCOS regresses relu(x) in stride units with centre-ness on the regression tower: build the head with normOnBbox and centernessOnReg`,
        );
      }
    }
  } else if (
    (spec.kind === 'retina' || spec.kind === 'atss' || spec.kind === 'gfl') &&
    spec.priors instanceof AnchorGenerator &&
    spec.priors.roundBase
  ) {
    out.push(
      `${what}: mmdetection's anchors are not rounded but this detector's are: build its priors without roundBase`,
    );
  } else if (spec.kind === 'fcos' && spec.priors.offset !== 0.5) {
    out.push(
      `${what}: mmdetection's FCOS points sit at (x + 0.5) * stride, this detector's at offset ${spec.priors.offset}`,
    );
  }
  return out;
}

// --- the mapping -----------------------------------------------------------------------------------

/**
 * Renames/reshapes `source` for `det` (a Detector from src/detection/any-detector.ts, or a bare
 * ResNet backbone), strict by default: throws DetkdError listing mismatches (name and shape)
 * unless { strict: false }, which returns what fits and the report.
 *
 *   const { stateDict, report } = mapWeights(det.backbone, tvResnet18, 'torchvision');
 *   det.backbone.loadStateDict(stateDict, { strict: false }); // report.unfilledTarget lists the rest
 */
export function mapWeights(
  det: Detector | ResNet,
  source: ReadonlyMap<string, Tensor>,
  format: WeightFormat,
  o: MapWeightsOptions = {},
): { stateDict: Map<string, Tensor>; report: MappingReport } {
  const strict = o.strict ?? true;
  const what = o.what ?? `${format} weights`;
  const t = targetOf(det);
  const target = (t.kind === 'resnet' ? t.net : t.det).stateDict();
  const laterals = t.kind === 'resnet' ? 0 : t.det.neck.lateralConvs.length;
  const gn = t.kind === 'resnet' && t.net.norm === 'gn';

  const rename = (key: string): Renamed => {
    if (t.kind === 'resnet') {
      const r = resnetKey(key, format);
      if (gn && r !== null && 'to' in r && /\.(running_mean|running_var)$/.test(r.to)) {
        return { ignore: 'BN running statistics (the backbone uses GroupNorm)' };
      }
      return r;
    }
    if (format === 'mmdet') return mmdetKey(key, t.kind);
    if (t.kind === 'two-stage') return torchvisionFasterKey(key);
    if (t.det.spec.kind === 'fcos') return torchvisionFcosKey(key, laterals);
    return torchvisionRetinaKey(key, laterals);
  };

  const problems = conventionProblems(t, format, o, what);
  const notes: string[] = [];
  const ignored = new Map<string, string[]>();
  const unknown: string[] = [];
  const mismatched: string[] = [];
  const out = new Map<string, Tensor>();
  const sourceOf = new Map<string, string>();
  const unusedSource: string[] = [];

  for (const [key, value] of source) {
    const r = rename(key);
    if (r === null) {
      unknown.push(`${key} ${shapeStr(value.shape)}`);
      unusedSource.push(key);
      continue;
    }
    if ('ignore' in r) {
      ignored.set(r.ignore, [...(ignored.get(r.ignore) ?? []), key]);
      unusedSource.push(key);
      continue;
    }
    let v = value;
    const dst = target.get(r.to);
    // Tower conv biases before GN (torchvision FCOS; mmdet FCOS with conv_bias=True): detkd's GN
    // ConvModule has none, so dropping them is exact only when they are zero.
    if (dst === undefined && /^bbox_head\.(cls|reg)_convs\.\d+\.conv\.bias$/.test(r.to)) {
      if (tidy(() => v.abs().max().item()) === 0) {
        ignored.set('zero conv biases before GroupNorm (exact to drop)', [
          ...(ignored.get('zero conv biases before GroupNorm (exact to drop)') ?? []),
          key,
        ]);
        unusedSource.push(key);
      } else {
        problems.push(
          `${what}: ${key} is a non-zero conv bias before GroupNorm, which detkd's GN tower convs do not have (the detector would differ from the checkpoint)`,
        );
        unusedSource.push(key);
      }
      continue;
    }
    if (dst === undefined && r.to.endsWith('.num_batches_tracked')) {
      const why = "BN step counters (the detector's norms keep none: frozen BN or GN)";
      ignored.set(why, [...(ignored.get(why) ?? []), key]);
      unusedSource.push(key);
      continue;
    }
    if (dst === undefined) {
      unknown.push(`${key} ${shapeStr(value.shape)} (as ${r.to}: no such detkd parameter)`);
      unusedSource.push(key);
      continue;
    }
    if (format === 'mmdet' && t.kind === 'two-stage') v = mmdetBoxHead(r.to, v, dst, notes);
    if (
      o.channelOrder === 'bgr' &&
      /^(backbone\.)?conv1\.weight$/.test(r.to) &&
      v.ndim === 4 &&
      v.size(1) === 3
    ) {
      v = tidy(() => v.flip(1));
      notes.push(`${key}: input channels flipped BGR -> RGB (the detector takes RGB)`);
    }
    if (v.shape.join() !== dst.shape.join()) {
      mismatched.push(`${key} ${shapeStr(value.shape)} -> ${r.to} ${shapeStr(dst.shape)}`);
      unusedSource.push(key);
      continue;
    }
    out.set(r.to, v.dtype === dst.dtype ? v : v.to(dst.dtype));
    sourceOf.set(r.to, key);
  }

  // torchvision FCOS has no per-level Scale: 1 is its identity.
  if (format === 'torchvision' && t.kind === 'dense' && t.det.spec.kind === 'fcos') {
    const filled: string[] = [];
    for (const [k, dst] of target) {
      if (/^bbox_head\.scales\.\d+\.scale$/.test(k) && !out.has(k)) {
        out.set(
          k,
          tidy(() => dst.detach().clone().fill_(1)),
        );
        filled.push(k);
      }
    }
    if (filled.length > 0)
      notes.push(
        `${filled.length} per-level scales set to 1 (torchvision's FCOS has none): ${filled.join(', ')}`,
      );
  }

  for (const [reason, keys] of ignored) notes.push(`ignored ${keys.length} ${reason}: ${keys.join(', ')}`);
  const unfilledTarget = [...target]
    .filter(([k]) => !out.has(k))
    .map(([k, v]) => `${k} ${shapeStr(v.shape)}`);

  if (strict) {
    const parts = [...problems];
    if (mismatched.length > 0)
      parts.push(`shape mismatches (source -> detkd):\n  ${mismatched.join('\n  ')}`);
    if (unknown.length > 0) parts.push(`source keys with no detkd parameter:\n  ${unknown.join('\n  ')}`);
    if (unfilledTarget.length > 0)
      parts.push(`detkd parameters not filled:\n  ${unfilledTarget.join('\n  ')}`);
    if (parts.length > 0) throw new DetkdError(`${what} (${format} layout): ${parts.join('\n')}`);
  } else {
    for (const p of problems) notes.push(p);
    for (const m of mismatched) notes.push(`shape mismatch, not loaded: ${m}`);
  }
  return { stateDict: out, report: { loaded: out.size, unusedSource, unfilledTarget, notes } };
}

/**
 * mmdet's Shared2FCBBoxHead -> detkd's (torchvision's) box predictor: fc_cls [C+1, F] has the
 * background last, detkd's clsScore first; fc_reg [4C, F] has no background rows, detkd's bboxPred
 * has them first when it predicts C+1 classes (zero rows: background deltas are never used).
 */
function mmdetBoxHead(name: string, v: Tensor, dst: Tensor, notes: string[]): Tensor {
  if (/^bbox_head\.clsScore\./.test(name) && v.size(0) === dst.size(0)) {
    notes.push(`${name}: background class moved from last (mmdet) to first`);
    return tidy(() => cat([v.narrow(0, v.size(0) - 1, 1), v.narrow(0, 0, v.size(0) - 1)], 0));
  }
  if (/^bbox_head\.bboxPred\./.test(name) && dst.size(0) === v.size(0) + 4) {
    notes.push(
      `${name}: four zero rows put first for the background class (mmdet regresses foreground classes only)`,
    );
    return tidy(() => cat([v.narrow(0, 0, 4).mul(0), v], 0));
  }
  return v;
}

/**
 * The conventions an mmdetection checkpoint's embedded config states (mmdet 2.x `meta.config`,
 * mmengine's `meta.cfg`: the config file's text): `style='caffe'` for its ResNet and
 * `to_rgb=False` / `bgr_to_rgb=False` for BGR input. Passed to mapWeights, they make a caffe-style
 * bottleneck ResNet refused and a BGR first conv flipped, instead of mapped silently wrong. A
 * checkpoint without its config says nothing (empty result): then pytorch style and RGB are
 * assumed, as mmdetection's own defaults are.
 */
export function mmdetConventions(meta: unknown): Pick<MapWeightsOptions, 'style' | 'channelOrder'> {
  const text = (k: string): string | null => {
    if (meta === null || typeof meta !== 'object') return null;
    const v = Reflect.get(meta, k);
    return typeof v === 'string' ? v : null;
  };
  const cfg = [text('config'), text('cfg')].filter((t): t is string => t !== null).join('\n');
  if (cfg === '') return {};
  const out: Pick<MapWeightsOptions, 'style' | 'channelOrder'> = {};
  if (/\bstyle\s*=\s*['"]caffe['"]/.test(cfg) || /['"]style['"]\s*:\s*['"]caffe['"]/.test(cfg))
    out.style = 'caffe';
  if (/\b(bgr_)?to_rgb\s*=\s*False\b/.test(cfg) || /['"](bgr_)?to_rgb['"]\s*:\s*(False|false)\b/.test(cfg))
    out.channelOrder = 'bgr';
  return out;
}
