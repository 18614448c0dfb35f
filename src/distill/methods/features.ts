// Feature-level methods on FPN outputs: PKD, CWD and FGD (docs/methods/pkd.md, cwd.md, fgd.md). They
// pair FPN levels by index. When the student's FPN is narrower than the teacher's (the demo pair:
// 32 vs 64 channels), PKD and CWD compare through a learnable 1x1 adapter per level (the references
// use 256 channels on both sides and need none); FGD has its own align conv, as the reference.
import { DetkdError } from '../../core/errors.ts';
import { type Tensor, tidy } from '../../core/tensor.ts';
import type { DetectorFamily } from '../../detection/any-detector.ts';
import { channelAdapter } from '../adapter.ts';
import { cwdLoss } from '../losses/cwd.ts';
import { FGD_ONE_STAGE, FgdLevel, fgdMasks } from '../losses/fgd.ts';
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
  type PkdOptions,
  parseOptions,
  pkdOptionsSchema,
} from './options.ts';

export type { CwdClsOptions, CwdFpnOptions, FgdOptions, PkdOptions };

function fpnShape(
  p: DistillPair,
  levels: readonly number[] | undefined,
): { levels: number[]; cs: number; ct: number } {
  const ls = p.student.neck.numOuts;
  const lt = p.teacher.peek((t) => t.neck.numOuts);
  const use = levels ? [...levels] : Array.from({ length: Math.min(ls, lt) }, (_, i) => i);
  for (const l of use) {
    if (l >= ls || l >= lt)
      throw new DetkdError(`FPN level ${l} does not exist (student ${ls}, teacher ${lt} levels)`);
  }
  return { levels: use, cs: p.student.neck.outChannels, ct: p.teacher.peek((t) => t.neck.outChannels) };
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

/** PKD: Pearson-correlation imitation per FPN level, summed; weight per level (reference 10 for dense teachers, 6 for R-CNN). */
export function pkd(options: PkdOptions): AnyTerm {
  const o = parseOptions(pkdOptionsSchema, options, 'pkd');
  const { levels, cs, ct } = fpnShape(o, o.levels);
  return defineTerm<Tensor[], Tensor[], DetectorFamily, DetectorFamily>({
    name: 'pkd',
    kinds: ANY_PAIR,
    student: fpn(levels),
    teacher: fpn(levels),
    ...channelAdapter(levels.length, cs, ct),
    weight: o.weight,
    ...(o.schedule ? { schedule: o.schedule } : {}),
    loss: (s, t) => sumLevels(s, t, (a, b) => pkdLoss(a, b)),
  });
}

/** CWD on FPN levels: channel-wise spatial-softmax KL, tau 1, weight 10 (mmrazor cwd configs). */
export function cwdFpn(options: CwdFpnOptions): AnyTerm {
  const o = parseOptions(cwdFpnOptionsSchema, options, 'cwdFpn');
  const { levels, cs, ct } = fpnShape(o, o.levels);
  const tau = o.tau;
  return defineTerm<Tensor[], Tensor[], DetectorFamily, DetectorFamily>({
    name: 'cwd_fpn',
    kinds: ANY_PAIR,
    student: fpn(levels),
    teacher: fpn(levels),
    ...channelAdapter(levels.length, cs, ct),
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
 * (one-stage defaults) as the term's parts.
 */
export function fgd(options: FgdOptions): AnyTerm {
  const o = parseOptions(fgdOptionsSchema, options, 'fgd');
  const { levels, cs, ct } = fpnShape(o, o.levels);
  const cfg = o.config ?? FGD_ONE_STAGE;
  const mods = levels.map(() => new FgdLevel(cs, ct, cfg));
  return defineTerm<Tensor[], Tensor[], DetectorFamily, DetectorFamily>({
    name: 'fgd',
    kinds: ANY_PAIR,
    student: fpn(levels),
    teacher: fpn(levels),
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
