// Taps: small typed functions that pick what a distillation term compares from a detector's named
// forward intermediates (docs/architecture.md), instead of hooks keyed by module paths
// (mmrazor's recorders). Each works on either side (student or teacher).
import { DetkdError } from '../core/errors.ts';
import type { Tensor } from '../core/tensor.ts';
import type { DetectorFamily } from '../detection/any-detector.ts';
import type { DetectorForward } from '../detection/detector.ts';
import { flattenLevels } from '../detection/heads/losses.ts';
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

/** Raw class logits per level: [B, A*C, H_l, W_l] each. */
export function headCls(levels?: readonly number[]): Tap<Tensor[]> {
  return (f) => pick(f.head.clsScores, levels, 'headCls');
}

/** Raw box-branch outputs per level: [B, A*R, H_l, W_l] each (GFL: R = 4*(regMax+1)). */
export function headReg(levels?: readonly number[]): Tap<Tensor[]> {
  return (f) => pick(f.head.bboxPreds, levels, 'headReg');
}

/** Last feature of the classification tower per level: [B, C, H_l, W_l]. */
export function clsTower(levels?: readonly number[]): Tap<Tensor[]> {
  return (f) => {
    if (!f.head.clsFeats) throw new DetkdError('tap clsTower: this head does not expose its tower features');
    return pick(f.head.clsFeats, levels, 'clsTower');
  };
}

/** Last feature of the regression tower per level: [B, C, H_l, W_l]. */
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
