// Channel-wise distillation (Shu et al., ICCV'21; docs/methods/cwd.md) as mmrazor's
// ChannelWiseDivergence (mmrazor/models/losses/cwd.py): each channel of each image becomes a
// distribution over its H·W positions, p = softmax_HW(F/τ), and
//   L = τ²·Σ_{n,c,hw} p_T (log p_T − log p_S) / (N·C).
// Adding a constant to a whole channel does not change its spatial softmax, so neither map's
// per-channel offset matters.
import { logSoftmax, softmax } from '../../core/functional.ts';
import { type Tensor, tidy } from '../../core/tensor.ts';
import { divByNumber } from '../../detection/losses/reduce.ts';

export interface CwdOptions {
  /** Temperature τ. Default 1 (the detection configs). */
  tau?: number;
}

/** student, teacher [N, C, H, W] -> [] (unweighted; configs use 10 on FPN, 5 on GFL cls). */
export function cwdLoss(student: Tensor, teacher: Tensor, o: CwdOptions = {}): Tensor {
  const tau = o.tau ?? 1;
  if (student.ndim !== 4 || student.shape.some((d, i) => d !== teacher.shape[i]) || teacher.ndim !== 4)
    throw new TypeError(
      `cwdLoss: student [${student.shape.join(', ')}] and teacher [${teacher.shape.join(', ')}] must be the same [N, C, H, W]`,
    );
  const [N, C, H, W] = student.shape as [number, number, number, number];
  return tidy(() => {
    const t = divByNumber(teacher.detach().reshape(N * C, H * W), tau); // [N*C, HW]
    const s = divByNumber(student.reshape(N * C, H * W), tau); // [N*C, HW]
    const pT = softmax(t, 1);
    // Written as mmrazor does (p_T·log p_T − p_T·log p_S, then one sum), not via kl_div.
    const sum = pT
      .mul(logSoftmax(t, 1))
      .sub(pT.mul(logSoftmax(s, 1)))
      .sum();
    return divByNumber(sum.mul(tau ** 2), C * N);
  });
}
