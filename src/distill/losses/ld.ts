// Localization Distillation (Zheng et al., CVPR'22; docs/methods/ld.md): the distillation terms of
// HikariTJU/LD's LDHead.loss_single (mmdet/models/dense_heads/ld_head.py) for ONE pyramid level,
// on tensors already flattened over (batch, H, W) in mmdet's order (permute(0, 2, 3, 1)).
//   Main LD  Σ_{pos,edge} w_pos·KL_e / 4,   w_pos = max_c σ(student cls).detach()
//   VLR LD   Σ_{a∈VLR,edge} IoU_a·KL_e / 16
//   Main KD  Σ_pos labelWeight·KL_cls / #pos   (τ 2, mean over classes ×τ²)
// KL_e is kdLoss's row KL over the regMax+1 bins of one edge (τ 10). The divisors are constants,
// not Σw: Main LD grows with images per GPU, as in the reference (LD issue #29). The loss weights
// (0.25, 0.25, 10 in the official configs) belong to the terms, not here.
import { type Tensor, tidy } from '../../core/tensor.ts';
import { kdLoss } from './kd.ts';

export interface LdLevelInputs {
  /** [M, C] student class logits. */
  studentCls: Tensor;
  /** [M, 4*(regMax+1)] student edge-distribution logits. */
  studentReg: Tensor;
  /** [M, C] teacher class logits (detached here). */
  teacherCls: Tensor;
  /** [M, 4*(regMax+1)] teacher edge-distribution logits (detached here). */
  teacherReg: Tensor;
  /** [M] int64: class of positives, numClasses for background and ignored priors. */
  labels: Tensor;
  /** [M] float: 0 for ignored priors. */
  labelWeights: Tensor;
  /** [M] float: > 0 inside the VLR (the IoU with its GT, from vlrRegion), 0 elsewhere. */
  vlrWeight: Tensor;
}

export interface LdConfig {
  numClasses: number;
  /** Largest integral bin (GFL's reg_max, 16): each edge has regMax+1 logits. */
  regMax: number;
  /** Temperature of Main LD and VLR LD. Default 10. */
  ldTau?: number;
  /** Temperature of the classification KD. Default 2. */
  kdTau?: number;
  /**
   * Classification KD on every prior with labelWeights > 0 (divided by their count) instead of
   * on positives only. Default false (the official Main KD).
   */
  denseKd?: boolean;
}

/**
 * The three LD terms of one level, unweighted scalars. With no positives (or an empty VLR) a
 * term is an exact 0 that still back-propagates (zeros), never NaN.
 */
export function ldLevelLosses(x: LdLevelInputs, cfg: LdConfig): { ld: Tensor; vlr: Tensor; kd: Tensor } {
  const R = cfg.regMax + 1;
  const ldTau = cfg.ldTau ?? 10;
  const kdTau = cfg.kdTau ?? 2;
  const M = x.studentCls.size(0);
  const C = x.studentCls.size(1);
  checkShape('studentReg', x.studentReg, [M, 4 * R]);
  checkShape('teacherCls', x.teacherCls, [M, C]);
  checkShape('teacherReg', x.teacherReg, [M, 4 * R]);
  checkShape('labels', x.labels, [M]);
  checkShape('labelWeights', x.labelWeights, [M]);
  checkShape('vlrWeight', x.vlrWeight, [M]);
  return tidy(() => {
    // FG classes 0..numClasses-1, BG (and ignored) numClasses, as mmdet's pos_inds.
    const pos = x.labels.ge(0).logicalAnd(x.labels.lt(cfg.numClasses)).nonzero().squeeze(1); // [P]
    const P = pos.size(0);
    // The same weight GFL gives its box terms: the student's own detached max class score.
    const wPos = x.studentCls.detach().sigmoid().maxDim(1).values.at(pos); // [P]
    // Explicit sizes: reshape(-1, R) of an empty tensor is ambiguous and throws.
    const ld = kdLoss(x.studentReg.at(pos).reshape(P * 4, R), x.teacherReg.at(pos).reshape(P * 4, R), {
      tau: ldTau,
      weight: expandEdges(wPos),
      avgFactor: 4.0,
    });

    const kdIdx = cfg.denseKd ? x.labelWeights.gt(0).nonzero().squeeze(1) : pos; // [K]
    const kd = kdLoss(x.studentCls.at(kdIdx), x.teacherCls.at(kdIdx), {
      tau: kdTau,
      weight: x.labelWeights.at(kdIdx),
      avgFactor: kdIdx.size(0),
    });

    // VLR: get_vlr_region has no positive/ignore test, so it may overlap both.
    const remain = x.vlrWeight.gt(0).nonzero().squeeze(1); // [V]
    const V = remain.size(0);
    const vlr = kdLoss(x.studentReg.at(remain).reshape(V * 4, R), x.teacherReg.at(remain).reshape(V * 4, R), {
      tau: ldTau,
      weight: expandEdges(x.vlrWeight.at(remain)),
      avgFactor: 16.0,
    });
    return { ld, vlr, kd };
  });
}

/** w [P] -> [4P]: one weight per edge, edges fastest (mmdet's w[:, None].expand(-1, 4)). */
function expandEdges(w: Tensor): Tensor {
  return w
    .unsqueeze(1)
    .expand(-1, 4)
    .reshape(w.size(0) * 4);
}

function checkShape(name: string, t: Tensor, shape: number[]): void {
  if (t.ndim !== shape.length || t.shape.some((d, i) => d !== shape[i]))
    throw new TypeError(`ldLevelLosses: ${name} is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
}
