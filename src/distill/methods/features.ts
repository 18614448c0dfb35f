// Feature-level methods on FPN outputs: PKD, CWD and FGD (docs/methods/pkd.md, cwd.md, fgd.md). They
// take any pair of detector kinds and pair FPN levels by stride (or by index on request), so a
// Faster R-CNN's P2..P6 meet a dense detector's P3..P5 at P3, P4, P5. When the student's FPN is
// narrower than the teacher's (the demo pair: 32 vs 64 channels), PKD and CWD compare through a
// learnable 1x1 adapter per level (the references use 256 channels on both sides and need none);
// FGD has its own align conv, as the reference.
import { DetkdError } from '../../core/errors.ts';
import { type Tensor, tidy } from '../../core/tensor.ts';
import type { DetectorFamily } from '../../detection/any-detector.ts';
import { channelAdapter } from '../adapter.ts';
import { cwdLoss } from '../losses/cwd.ts';
import { FGD_ONE_STAGE, FGD_TWO_STAGE, FgdLevel, fgdMasks } from '../losses/fgd.ts';
import { pkdLoss } from '../losses/pkd.ts';
import { checkSamePriorLayout } from '../prior-layout.ts';
import { fpn, headCls } from '../taps.ts';
import { ANY_PAIR, type AnyTerm, DENSE_PAIR, type DistillPair, defineTerm, requirePair } from '../term.ts';
import {
  type CwdClsOptions,
  type CwdFpnOptions,
  cwdClsOptionsSchema,
  cwdFpnOptionsSchema,
  type FgdOptions,
  fgdOptionsSchema,
  PKD_DEFAULT_WEIGHT,
  type PkdOptions,
  parseOptions,
  pkdOptionsSchema,
} from './options.ts';

export type { CwdClsOptions, CwdFpnOptions, FgdOptions, PkdOptions };

/** How a feature term pairs student and teacher FPN levels: by stride (default) or by index. */
export type LevelPairing = 'stride' | 'index';

/** One compared pair of FPN levels: indices into each side's levels, and their strides. */
export interface LevelPair {
  student: number;
  teacher: number;
  studentStride: number;
  teacherStride: number;
}

/** The level pairs of a feature term, the index lists its two `fpn` taps take, and both widths. */
export interface FpnPairs {
  pairs: LevelPair[];
  studentLevels: number[];
  teacherLevels: number[];
  cs: number;
  ct: number;
}

export interface PairFpnLevelsOptions {
  /** Student levels by index (default: `defaultLevels`, else all). */
  levels?: readonly number[] | undefined;
  pairing?: LevelPairing | undefined;
  /** The student levels tried when `levels` is not given (stride pairing keeps the shared ones). */
  defaultLevels?: readonly number[] | undefined;
  /** Whether the term's loss resizes between different spatial sizes (PKD); else index pairs must share strides. */
  resizes?: boolean;
}

const fmt = (xs: readonly number[]): string => `[${xs.join(', ')}]`;

/**
 * Pairs the student's FPN levels with the teacher's for the feature term `term`. By stride (the
 * default): each student level with the teacher level of the same stride, only strides both have,
 * so a P2..P6 teacher and a P3..P5 student compare P3, P4, P5. By index (`pairing: 'index'`): level
 * i with level i, as PKD's reference; levels of different strides are then compared only by a loss
 * that resizes (PKD resizes the student to the teacher). `levels` index the student's levels.
 */
export function pairFpnLevels(p: DistillPair, term: string, o: PairFpnLevelsOptions = {}): FpnPairs {
  const ss = p.student.neckStrides;
  const ts = p.teacher.peek((t) => t.neckStrides);
  const ls = ss.length;
  const lt = ts.length;
  const sides = `student strides ${fmt(ss)}, teacher strides ${fmt(ts)}`;
  for (const l of o.levels ?? []) {
    if (l >= ls) {
      throw new DetkdError(`distill term '${term}': FPN level ${l} does not exist on the student (${sides})`);
    }
  }
  let pairs: LevelPair[];
  if ((o.pairing ?? 'stride') === 'index') {
    const use = o.levels
      ? [...o.levels]
      : (o.defaultLevels ?? Array.from({ length: ls }, (_, i) => i)).filter((l) => l < Math.min(ls, lt));
    for (const l of use) {
      if (l >= lt) {
        throw new DetkdError(
          `distill term '${term}': FPN level ${l} does not exist on the teacher (${sides})`,
        );
      }
    }
    pairs = use.map((l) => ({ student: l, teacher: l, studentStride: ss[l]!, teacherStride: ts[l]! }));
    const off = pairs.find((q) => q.studentStride !== q.teacherStride);
    if (off && !o.resizes) {
      throw new DetkdError(
        `distill term '${term}': pairing by index compares student level ${off.student} (stride ${off.studentStride}) with teacher level ${off.teacher} (stride ${off.teacherStride}), and this loss needs equal sizes; pair by stride (${sides})`,
      );
    }
  } else {
    if (o.levels) {
      for (const l of o.levels) {
        if (!ts.includes(ss[l]!)) {
          throw new DetkdError(
            `distill term '${term}': student FPN level ${l} (stride ${ss[l]}) has no teacher level of that stride (${sides}); leave it out or pair by index`,
          );
        }
      }
    }
    const use = o.levels ?? o.defaultLevels ?? Array.from({ length: ls }, (_, i) => i);
    pairs = use
      .filter((l) => l < ls && ts.includes(ss[l]!))
      .map((l) => ({
        student: l,
        teacher: ts.indexOf(ss[l]!),
        studentStride: ss[l]!,
        teacherStride: ss[l]!,
      }));
  }
  if (pairs.length === 0) {
    throw new DetkdError(
      `distill term '${term}': the student's and the teacher's FPN levels share no stride (${sides})`,
    );
  }
  return {
    pairs,
    studentLevels: pairs.map((q) => q.student),
    teacherLevels: pairs.map((q) => q.teacher),
    cs: p.student.neck.outChannels,
    ct: p.teacher.peek((t) => t.neck.outChannels),
  };
}

function sumLevels(s: readonly Tensor[], t: readonly Tensor[], fn: (a: Tensor, b: Tensor) => Tensor): Tensor {
  return tidy(() => {
    let acc: Tensor | null = null;
    for (let l = 0; l < s.length; l++) {
      const v = fn(s[l]!, t[l]!);
      acc = acc === null ? v : acc.add(v);
    }
    return acc!;
  });
}

/**
 * PKD: Pearson-correlation imitation per FPN level pair, summed. Default weight by the teacher's
 * kind, as the reference configs: 6 with an R-CNN teacher, 10 with a dense one.
 */
export function pkd(options: PkdOptions): AnyTerm {
  const o = parseOptions(pkdOptionsSchema, options, 'pkd');
  const { studentLevels, teacherLevels, cs, ct } = pairFpnLevels(o, 'pkd', {
    levels: o.levels,
    pairing: o.pairing,
    resizes: true,
  });
  return defineTerm<Tensor[], Tensor[], DetectorFamily, DetectorFamily>({
    name: 'pkd',
    kinds: ANY_PAIR,
    student: fpn(studentLevels),
    teacher: fpn(teacherLevels),
    ...channelAdapter(studentLevels.length, cs, ct),
    weight: o.weight ?? PKD_DEFAULT_WEIGHT[o.teacher.peek((t) => t.detectorKind)],
    ...(o.schedule ? { schedule: o.schedule } : {}),
    loss: (s, t) => sumLevels(s, t, (a, b) => pkdLoss(a, b)),
  });
}

/** CWD on FPN levels: channel-wise spatial-softmax KL, tau 1, weight 10 (mmrazor cwd configs). */
export function cwdFpn(options: CwdFpnOptions): AnyTerm {
  const o = parseOptions(cwdFpnOptionsSchema, options, 'cwdFpn');
  const { studentLevels, teacherLevels, cs, ct } = pairFpnLevels(o, 'cwd_fpn', {
    levels: o.levels,
    pairing: o.pairing,
  });
  const tau = o.tau;
  return defineTerm<Tensor[], Tensor[], DetectorFamily, DetectorFamily>({
    name: 'cwd_fpn',
    kinds: ANY_PAIR,
    student: fpn(studentLevels),
    teacher: fpn(teacherLevels),
    ...channelAdapter(studentLevels.length, cs, ct),
    weight: o.weight,
    ...(o.schedule ? { schedule: o.schedule } : {}),
    loss: (s, t) => sumLevels(s, t, (a, b) => cwdLoss(a, b, { tau })),
  });
}

/** CWD on the class logits of each level (mmrazor's GFL config: bbox_head.gfl_cls, tau 1, weight 5). */
export function cwdCls(options: CwdClsOptions): AnyTerm {
  const o = parseOptions(cwdClsOptionsSchema, options, 'cwdCls');
  const p = requirePair(o, 'cwd_cls', DENSE_PAIR);
  checkSamePriorLayout('CWD on the class head', p.student, p.teacher);
  const tau = o.tau;
  return defineTerm<Tensor[], Tensor[]>({
    name: 'cwd_cls',
    student: headCls(),
    teacher: headCls(),
    weight: o.weight,
    ...(o.schedule ? { schedule: o.schedule } : {}),
    loss: (s, t) => sumLevels(s, t, (a, b) => cwdLoss(a, b, { tau })),
  });
}

/**
 * FGD on FPN levels: focal (fg/bg masks with the teacher's attention), attention and global
 * (GcBlock) losses, parts logged as loss_fgd_fg/bg/at/global, weighted alpha..lambda of the config
 * as the term's parts. Defaults by the student's kind, as the reference: a dense student takes
 * FGD_ONE_STAGE on every level; a two-stage one FGD_TWO_STAGE on its first four levels (the
 * reference hooks Faster R-CNN's four FPN convs; P6 is a max-pool of P5).
 */
export function fgd(options: FgdOptions): AnyTerm {
  const o = parseOptions(fgdOptionsSchema, options, 'fgd');
  const twoStage = o.student.detectorKind === 'two-stage';
  const { studentLevels, teacherLevels, cs, ct } = pairFpnLevels(o, 'fgd', {
    levels: o.levels,
    pairing: o.pairing,
    ...(twoStage ? { defaultLevels: [0, 1, 2, 3] } : {}),
  });
  const cfg = o.config ?? (twoStage ? FGD_TWO_STAGE : FGD_ONE_STAGE);
  const mods = studentLevels.map(() => new FgdLevel(cs, ct, cfg));
  return defineTerm<Tensor[], Tensor[], DetectorFamily, DetectorFamily>({
    name: 'fgd',
    kinds: ANY_PAIR,
    student: fpn(studentLevels),
    teacher: fpn(teacherLevels),
    modules: mods,
    weight: 1,
    parts: { fg: cfg.alphaFgd, bg: cfg.betaFgd, at: cfg.gammaFgd, global: cfg.lambdaFgd },
    ...(o.schedule ? { schedule: o.schedule } : {}),
    loss: (s, t, ctx) =>
      tidy(() => {
        const b = ctx.batch;
        const pad: [number, number] = [b.images.size(2), b.images.size(3)];
        const boxes = ctx.gts.map((g) => g.boxes);
        const shapes = b.metas.map((m) => [m.imgShape[0], m.imgShape[1]] as [number, number]);
        const parts: Record<string, Tensor> = {};
        for (let i = 0; i < s.length; i++) {
          const f = t[i]!;
          const masks = fgdMasks(boxes, shapes, pad, [f.size(2), f.size(3)]);
          const r = mods[i]!.unweightedLoss(s[i]!, f, masks);
          for (const [k, v] of Object.entries(r)) parts[k] = parts[k] ? parts[k]!.add(v) : v;
        }
        return parts;
      }),
  });
}
