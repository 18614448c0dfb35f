// Output-level methods (KD, LD, LAD, CWD on the class head) compare student and teacher prior by
// prior, so both must lay their priors out identically: the same head family's anchors or points,
// strides, scales and priors per location.
import { DetkdError } from '../core/errors.ts';
import type { DenseDetector } from '../detection/detector.ts';
import type { Frozen } from './frozen.ts';

function describeLayout(d: Readonly<DenseDetector>): string {
  const p = d.spec.priors;
  const a =
    'scales' in p
      ? `anchors scales [${p.scales.join(', ')}] ratios [${p.ratios.join(', ')}]`
      : `points offset ${p.offset}`;
  return `${d.spec.kind} head, strides [${p.strides.join(', ')}], ${a}`;
}

/** Throws a DetkdError naming `method` and both layouts when they differ; reads, never changes. */
export function checkSamePriorLayout(
  method: string,
  student: DenseDetector,
  teacher: Frozen<DenseDetector>,
): void {
  const s = describeLayout(student);
  const t = teacher.peek(describeLayout);
  if (s !== t) {
    throw new DetkdError(
      `${method} compares student and teacher outputs prior by prior and needs identical prior layouts; student: ${s}; teacher: ${t}`,
    );
  }
}
