// The Fast R-CNN loss of the box head over the sampled RoIs of a batch: softmax cross entropy
// over all of them (mean), plus a box loss on the positives' regression for their own class,
// summed and divided by the number of sampled RoIs. torchvision 0.14 (fastrcnn_loss): smooth L1
// with beta 1/9, both terms divided by the count S (the class term as F.cross_entropy's fused
// mean); mmdet 2.x (BBoxHead.loss with avg_factor = number of RoIs): L1, both terms divided by
// S + float32 eps (mmdet's weight_reduce_loss guard). Loss kind, beta, normaliser and background
// index are options.
import { crossEntropy } from '../../core/functional.ts';
import { type Tensor, tidy } from '../../core/tensor.ts';
import { crossEntropyLoss } from '../losses/cross-entropy.ts';
import { l1Loss, smoothL1Loss } from '../losses/smooth-l1.ts';

export interface FastRcnnLossOptions {
  /** Label of background: 0 (torchvision) or N (mmdet). */
  backgroundLabel: number;
  /** 'smoothL1' (torchvision) or 'l1' (mmdet). Default 'smoothL1'. */
  boxLoss?: 'smoothL1' | 'l1';
  /** Smooth L1 beta (default 1 / 9). */
  beta?: number;
  /** 'count' divides by S (torchvision), 'countEps' by S + 2^-23 (mmdet). Default 'count'. */
  normalizer?: 'count' | 'countEps';
}

export interface FastRcnnLosses {
  lossCls: Tensor;
  lossBox: Tensor;
}

/**
 * clsScore [S, N + 1] logits, bboxPred [S, 4 R] (R classes, the column of class c is c),
 * labels [S] int64, targets [S, 4] for every sampled RoI of the batch (images concatenated).
 * An empty batch gives zeros, in the graph.
 */
export function fastRcnnLoss(
  clsScore: Tensor,
  bboxPred: Tensor,
  labels: Tensor,
  targets: Tensor,
  o: FastRcnnLossOptions,
): FastRcnnLosses {
  return tidy(() => {
    const S = labels.size(0);
    if (S === 0) return { lossCls: clsScore.sum().mul(0), lossBox: bboxPred.sum().mul(0) };
    const eps = (o.normalizer ?? 'count') === 'countEps';
    const lossCls = eps
      ? crossEntropyLoss(clsScore, labels, { avgFactor: S })
      : crossEntropy(clsScore, labels, { reduction: 'mean' });
    const pos = labels.ne(o.backgroundLabel).nonzero().flatten(); // [P]
    const R = bboxPred.size(1) / 4;
    const posLabels = labels.at(pos); // [P]
    const rows = bboxPred.reshape(S * R, 4).at(pos.mul(R).add(posLabels)); // [P, 4]
    const want = targets.at(pos);
    // 'countEps': the losses' own avgFactor path, sum / (S + eps) as mmdet; 'count': sum / S
    const red = eps ? { avgFactor: S } : { reduction: 'sum' as const };
    const box =
      (o.boxLoss ?? 'smoothL1') === 'smoothL1'
        ? smoothL1Loss(rows, want, { beta: o.beta ?? 1 / 9, ...red })
        : l1Loss(rows, want, red);
    return { lossCls, lossBox: eps ? box : box.div(S) };
  });
}
