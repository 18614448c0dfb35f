// PKD (Cao et al., NeurIPS'22; docs/methods/pkd.md) as mmrazor's PKDLoss (mmrazor/models/losses/
// pkd_loss.py) on one FPN level: standardise every channel over (N, H, W) jointly, then
// MSE(mean)/2. Up to the unbiased-std detail that is 1 − r, the Pearson correlation averaged over
// channels, so feature magnitudes (and any positive per-channel affine map) drop out, which is
// what lets heterogeneous teachers (FCOS → RetinaNet) be used without an adapter.
import { interpolate, mseLoss } from '../../core/functional.ts';
import { type Tensor, tidy } from '../../core/tensor.ts';

export interface PkdOptions {
  /**
   * When the spatial sizes differ, resize the student to the teacher's size (true, mmrazor's
   * resize_stu default) or the teacher to the student's (false). Bilinear, align_corners false.
   */
  resizeStudent?: boolean;
}

/** student, teacher [N, C, H, W] (H, W may differ) -> [] (unweighted; configs use 6 or 10). */
export function pkdLoss(student: Tensor, teacher: Tensor, o: PkdOptions = {}): Tensor {
  if (
    student.ndim !== 4 ||
    teacher.ndim !== 4 ||
    student.size(0) !== teacher.size(0) ||
    student.size(1) !== teacher.size(1)
  )
    throw new TypeError(
      `pkdLoss: student [${student.shape.join(', ')}] and teacher [${teacher.shape.join(', ')}] must be [N, C, H, W] with equal N, C`,
    );
  return tidy(() => {
    let s = student;
    let t = teacher.detach();
    // mmrazor compares only the heights; any size difference is resized here (else it asserts).
    if (s.size(2) !== t.size(2) || s.size(3) !== t.size(3)) {
      if (o.resizeStudent ?? true) s = interpolate(s, { size: [t.size(2), t.size(3)], mode: 'bilinear' });
      else t = interpolate(t, { size: [s.size(2), s.size(3)], mode: 'bilinear' });
    }
    return mseLoss(standardise(s), standardise(t)).div(2);
  });
}

/** x [N, C, H, W] -> same, each channel standardised over (N, H, W): (x − μ)/(σ_unbiased + 1e-6). */
function standardise(x: Tensor): Tensor {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const f = x.permute(1, 0, 2, 3).reshape(C, N * H * W); // [C, NHW]
  const mean = f.mean(-1, true); // [C, 1]
  const std = f.std(-1, 1, true); // [C, 1]
  return f.sub(mean).div(std.add(1e-6)).reshape(C, N, H, W).permute(1, 0, 2, 3);
}
