// Taps: small typed functions that pick what a distillation term compares from a detector's named
// forward intermediates (docs/architecture.md), instead of hooks keyed by module paths
// (mmrazor's recorders). Each works on either side (student or teacher) unless its comment says
// otherwise: the RoI taps read the student's sampled RoIs, so they need a two-stage student.
import { DetkdError } from '../core/errors.ts';
import type { Tensor } from '../core/tensor.ts';
import type { DetectorFamily } from '../detection/any-detector.ts';
import type { DetectorForward } from '../detection/detector.ts';
import { flattenLevels } from '../detection/heads/losses.ts';
import type { BoxHeadOutputs } from '../detection/roi-heads/bbox-head.ts';
import type { Tap } from './term.ts';

function pick(levels: readonly Tensor[], which: readonly number[] | undefined, what: string): Tensor[] {
  if (which === undefined) return [...levels];
  return which.map((l) => {
    const t = levels[l];
    if (t === undefined)
      throw new DetkdError(`tap ${what}: level ${l} does not exist (${levels.length} levels)`);
    return t;
  });
}

/** FPN outputs (finest first; either detector kind), optionally a subset by index: [B, C, H_l, W_l] each. */
export function fpn(levels?: readonly number[]): Tap<Tensor[], DetectorFamily> {
  return (f) => pick(f.neck, levels, 'fpn');
}

/** Backbone outputs (finest first; either detector kind): [B, C_l, H_l, W_l] each. */
export function backboneLevels(levels?: readonly number[]): Tap<Tensor[], DetectorFamily> {
  return (f) => pick(f.backbone, levels, 'backbone');
}

/** Dense, either side: raw class logits per level: [B, A*C, H_l, W_l] each. */
export function headCls(levels?: readonly number[]): Tap<Tensor[]> {
  return (f) => pick(f.head.clsScores, levels, 'headCls');
}

/** Dense, either side: raw box-branch outputs per level: [B, A*R, H_l, W_l] each (GFL: R = 4*(regMax+1)). */
export function headReg(levels?: readonly number[]): Tap<Tensor[]> {
  return (f) => pick(f.head.bboxPreds, levels, 'headReg');
}

/** Dense, either side: last feature of the classification tower per level: [B, C, H_l, W_l]. */
export function clsTower(levels?: readonly number[]): Tap<Tensor[]> {
  return (f) => {
    if (!f.head.clsFeats) throw new DetkdError('tap clsTower: this head does not expose its tower features');
    return pick(f.head.clsFeats, levels, 'clsTower');
  };
}

/** Dense, either side: last feature of the regression tower per level: [B, C, H_l, W_l]. */
export function regTower(levels?: readonly number[]): Tap<Tensor[]> {
  return (f) => {
    if (!f.head.regFeats) throw new DetkdError('tap regTower: this head does not expose its tower features');
    return pick(f.head.regFeats, levels, 'regTower');
  };
}

/** Head outputs flattened over levels, in prior order: cls [B, A, C], reg [B, A, R]. */
export interface FlatHead {
  cls: Tensor;
  reg: Tensor;
}

/** Dense, either side: the head's outputs flattened over levels (FlatHead). */
export function flatHead(numClasses: number): Tap<FlatHead> {
  return (f: DetectorForward) => {
    const reg = f.head.bboxPreds[0]!;
    const perLoc = f.priors.perLocation;
    return {
      cls: flattenLevels(f.head.clsScores, numClasses),
      reg: flattenLevels(f.head.bboxPreds, reg.size(1) / perLoc),
    };
  };
}

/** Two-stage, either side: RPN objectness logits per level [B, A, H_l, W_l], optionally a subset by index. */
export function rpnObjectness(levels?: readonly number[]): Tap<Tensor[], 'two-stage'> {
  return (f) => pick(f.rpn.objectness, levels, 'rpnObjectness');
}

/** One image's proposals: boxes [P_i, 4] xyxy in input pixels, sigmoid objectness [P_i], by descending score. */
export interface Proposals {
  boxes: Tensor;
  scores: Tensor;
}

/** Two-stage, either side: per image proposals (detached; training counts on the student, test counts on the teacher). */
export function proposals(): Tap<Proposals[], 'two-stage'> {
  return (f) => f.proposals;
}

/** Two-stage student: its RoI head's pooled features on its sampled RoIs, [K, C, 7, 7] (with gradient). */
export function roiFeats(): Tap<Tensor, 'two-stage', 'two-stage'> {
  return (_f, ctx) => ctx.assignment.head.feats;
}

/** Two-stage student: its RoI head's class logits on its sampled RoIs, [K, N + 1] (with gradient). */
export function roiLogits(): Tap<Tensor, 'two-stage', 'two-stage'> {
  return (_f, ctx) => ctx.assignment.head.clsScore;
}

/** The frozen teacher's RoI head on the student's RoIs: features [K, C_T, 7, 7], logits [K, N_T + 1], deltas. */
export type TeacherRoiHead = { feats: Tensor } & BoxHeadOutputs;

/**
 * Two-stage teacher and student, teacher side: runs the frozen teacher's RoI head on the student's
 * sampled RoIs (`ctx.assignment.rois.rois`, input pixels, which both sides share) over the
 * teacher's own FPN levels, under no-grad, so row k of either side is the same box.
 */
export function teacherRoiHeadOnStudentRois(): Tap<TeacherRoiHead, 'two-stage', 'two-stage', 'two-stage'> {
  return (f, ctx) => ctx.teacherModel.run((t) => t.roiHead(f.neck, ctx.assignment.rois.rois));
}
