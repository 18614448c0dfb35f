// The random positive/negative sampler shared by the RPN (anchors) and the RoI head (proposals):
// torchvision 0.14's BalancedPositiveNegativeSampler and mmdet 2.x's RandomSampler. Per image, up
// to floor(batch * positiveFraction) positives are drawn, then negatives fill the batch up to
// `batch`, each set as the first k entries of a random permutation of its candidates. The
// permutations come from an injectable IndexSource, so a test can replay another library's draws.

import type { Generator } from '../../core/random.ts';
import { noGrad, randperm, type Tensor, tensor, tidy } from '../../core/tensor.ts';

/**
 * The first k entries of a random permutation of 0..n-1 (an int64 tensor or numbers; entries past
 * k are ignored, so a whole permutation may be returned). kind and image say which draw it is: both
 * references draw the positives, then the negatives, of each image in turn.
 */
export type IndexSource = (
  n: number,
  k: number,
  kind: 'pos' | 'neg',
  image: number,
) => Tensor | readonly number[];

/** torch.randperm(n)[:k] from a generator (or the global one), drawn even when k is 0 (as torch). */
export function randpermSource(generator: Generator | null = null): IndexSource {
  return (n, k) => randperm(n, { generator }).slice(0, 0, k);
}

export interface RandomSamplerOptions {
  /** Samples drawn per image (RPN 256, RoI head 512). */
  batchSize: number;
  /** Largest share of positives (RPN 0.5, RoI head 0.25); negatives fill the rest. */
  positiveFraction: number;
  /** Where the draws come from. */
  source: IndexSource;
  /** The image's index in its batch, passed to the source (default 0). */
  image?: number;
}

/** The drawn candidates, as int64 indices [k] into what `positive` / `negative` index. */
export interface RandomSample {
  pos: Tensor;
  neg: Tensor;
}

function asIndices(src: Tensor | readonly number[], device: Tensor['device']): Tensor {
  return 'h' in src ? src.to(device) : tensor([...src], { dtype: 'int64', device });
}

/**
 * positive [P+] and negative [P-] int64 candidate indices -> the drawn subsets, in draw order:
 * min(P+, floor(batch * fraction)) positives, then min(P-, batch - #pos) negatives. No gradient.
 */
export function randomSample(positive: Tensor, negative: Tensor, o: RandomSamplerOptions): RandomSample {
  return noGrad(() =>
    tidy(() => {
      const image = o.image ?? 0;
      const numPos = Math.min(positive.size(0), Math.floor(o.batchSize * o.positiveFraction));
      const numNeg = Math.min(negative.size(0), o.batchSize - numPos);
      const draw = (cand: Tensor, k: number, kind: 'pos' | 'neg'): Tensor =>
        cand.at(asIndices(o.source(cand.size(0), k, kind, image), cand.device).slice(0, 0, k));
      return { pos: draw(positive, numPos, 'pos'), neg: draw(negative, numNeg, 'neg') };
    }),
  );
}
