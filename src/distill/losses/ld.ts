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
 * The three LD terms of one level, unweighted scalars, as LDHead.loss_single computes them
 * together (the oracle tests check this). Methods call the parts they use: mainLdLoss, vlrLdLoss,
 * mainKdLoss. With no positives (or an empty VLR) a term is an exact 0 that still back-propagates
 * (zeros), never NaN.
 */
export function ldLevelLosses(x: LdLevelInputs, cfg: LdConfig): { ld: Tensor; vlr: Tensor; kd: Tensor } {
  return {
    ld: mainLdLoss(x, cfg),
    kd: mainKdLoss(x, { numClasses: cfg.numClasses, tau: cfg.kdTau ?? 2, dense: cfg.denseKd ?? false }),
    vlr: vlrLdLoss(x, cfg),
  };
}

/** FG classes 0..numClasses-1, BG (and ignored) numClasses, as mmdet's pos_inds: [P] int64. */
function positives(labels: Tensor, numClasses: number): Tensor {
  return labels.ge(0).logicalAnd(labels.lt(numClasses)).nonzero().squeeze(1);
}

/** Main LD: Σ_{pos,edge} w_pos·KL_e / 4 (τ cfg.ldTau, default 10). Unweighted scalar. */
export function mainLdLoss(
  x: Pick<LdLevelInputs, 'studentCls' | 'studentReg' | 'teacherReg' | 'labels'>,
  cfg: Pick<LdConfig, 'numClasses' | 'regMax' | 'ldTau'>,
): Tensor {
  const R = cfg.regMax + 1;
  const M = x.studentCls.size(0);
  checkShape('studentReg', x.studentReg, [M, 4 * R]);
  checkShape('teacherReg', x.teacherReg, [M, 4 * R]);
  checkShape('labels', x.labels, [M]);
  return tidy(() => {
    const pos = positives(x.labels, cfg.numClasses); // [P]
    const P = pos.size(0);
    // The same weight GFL gives its box terms: the student's own detached max class score.
    const wPos = x.studentCls.detach().sigmoid().maxDim(1).values.at(pos); // [P]
    // Explicit sizes: reshape(-1, R) of an empty tensor is ambiguous and throws.
    return kdLoss(x.studentReg.at(pos).reshape(P * 4, R), x.teacherReg.at(pos).reshape(P * 4, R), {
      tau: cfg.ldTau ?? 10,
      weight: expandEdges(wPos),
      avgFactor: 4.0,
    });
  });
}

/** VLR LD: Σ_{a∈VLR,edge} IoU_a·KL_e / 16 (τ cfg.ldTau, default 10). Unweighted scalar. */
export function vlrLdLoss(
  x: Pick<LdLevelInputs, 'studentReg' | 'teacherReg' | 'vlrWeight'>,
  cfg: Pick<LdConfig, 'regMax' | 'ldTau'>,
): Tensor {
  const R = cfg.regMax + 1;
  const M = x.studentReg.size(0);
  checkShape('studentReg', x.studentReg, [M, 4 * R]);
  checkShape('teacherReg', x.teacherReg, [M, 4 * R]);
  checkShape('vlrWeight', x.vlrWeight, [M]);
  return tidy(() => {
    // VLR: get_vlr_region has no positive/ignore test, so it may overlap both.
    const remain = x.vlrWeight.gt(0).nonzero().squeeze(1); // [V]
    const V = remain.size(0);
    return kdLoss(x.studentReg.at(remain).reshape(V * 4, R), x.teacherReg.at(remain).reshape(V * 4, R), {
      tau: cfg.ldTau ?? 10,
      weight: expandEdges(x.vlrWeight.at(remain)),
      avgFactor: 16.0,
    });
  });
}

export interface MainKdConfig {
  numClasses: number;
  /** Temperature (LD's Main KD: 2). */
  tau: number;
  /**
   * Every prior with labelWeights > 0 (divided by their count) instead of the positives only
   * (the official Main KD).
   */
  dense: boolean;
}

/**
 * Main KD, the classification KD of LD's loss_single and detkd's only one (the `kd` method calls
 * it per level): Σ_pos labelWeight·KL_cls / #pos, KL mean over classes ×τ². Unweighted scalar.
 */
export function mainKdLoss(
  x: Pick<LdLevelInputs, 'studentCls' | 'teacherCls' | 'labels' | 'labelWeights'>,
  cfg: MainKdConfig,
): Tensor {
  const M = x.studentCls.size(0);
  const C = x.studentCls.size(1);
  checkShape('teacherCls', x.teacherCls, [M, C]);
  checkShape('labels', x.labels, [M]);
  checkShape('labelWeights', x.labelWeights, [M]);
  return tidy(() => {
    const idx = cfg.dense ? x.labelWeights.gt(0).nonzero().squeeze(1) : positives(x.labels, cfg.numClasses); // [K]
    return kdLoss(x.studentCls.at(idx), x.teacherCls.at(idx), {
      tau: cfg.tau,
      weight: x.labelWeights.at(idx),
      avgFactor: idx.size(0),
    });
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
    throw new TypeError(`LD losses: ${name} is [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
}
