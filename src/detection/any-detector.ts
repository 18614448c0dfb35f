// Every detector kind detkd trains, as one closed union (docs/two-stage.md, "Any detector kind"):
// the trainer, the Distiller, checkpoints and the CLI take a `Detector` and switch on its
// `detectorKind` where the kinds differ. Both kinds share backbone + FPN (`backbone`, `neck`,
// `neckStrides`), `predict` and the named intermediates' `input`, `backbone` and `neck`.
import type { Batch } from '../structures/tensor-batch.ts';
import type { BatchAssignment, DenseDetector, DetectorForward } from './detector.ts';
import type { TwoStageDetector, TwoStageForward, TwoStageTargets } from './two-stage.ts';
import type { LossDict } from './types.ts';

export type Detector = DenseDetector | TwoStageDetector;
/** The union's discriminant: `Detector['detectorKind']`. */
export type DetectorFamily = Detector['detectorKind'];
/** Either kind's forward pass; `kind` says which. */
export type AnyForward = DetectorForward | TwoStageForward;

/** What each family's detector, forward pass and training targets are. */
export interface Families {
  dense: { detector: DenseDetector; forward: DetectorForward; targets: BatchAssignment };
  'two-stage': { detector: TwoStageDetector; forward: TwoStageForward; targets: TwoStageTargets };
}
/** The detector of a family (indexed access: a union of families gives the union of detectors). */
export type DetectorOf<K extends DetectorFamily> = Families[K]['detector'];
/** The forward pass of a family. */
export type ForwardOf<K extends DetectorFamily> = Families[K]['forward'];
/** What a student of the family trains on in a step: a dense assignment, or the RPN + RoI sample. */
export type TargetsOf<K extends DetectorFamily> = Families[K]['targets'];

/** How the families are named in messages. */
export const FAMILY_NAMES: Readonly<Record<DetectorFamily, string>> = {
  dense: 'dense (one-stage: RetinaNet, ATSS, GFL, FCOS)',
  'two-stage': 'two-stage (Faster R-CNN)',
};

/** A detector's training losses on a detkd batch (dense: its head losses; two-stage: RPN + RoI head). */
export function detectorLosses(det: Detector, batch: Batch): LossDict {
  switch (det.detectorKind) {
    case 'dense':
      return det.losses(batch);
    case 'two-stage':
      return det.batchLosses(batch);
  }
}

/**
 * The forward pass a distillation step reads from this detector: a student's in training settings
 * (two-stage: training proposal counts), a teacher's in test settings.
 */
export function forwardFor(det: Detector, batch: Batch, role: 'student' | 'teacher'): AnyForward {
  switch (det.detectorKind) {
    case 'dense':
      return det.forward(batch.images, batch.metas);
    case 'two-stage':
      return det.forward(batch.images, batch.metas, role === 'student' ? 'train' : 'test');
  }
}
