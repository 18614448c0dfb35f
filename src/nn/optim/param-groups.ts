// Parameter groups from a module: no weight decay on normalisation affines and biases
// (mmcv's paramwise_cfg norm_decay_mult=0, bias_decay_mult=0; common for detectors since
// "Bag of Tricks", He et al. 2019, section 3.1).
import type { Tensor } from '../../core/tensor.ts';
import type { Module } from '../module.ts';
import { isNormModule } from '../norm.ts';

export interface DecayGroups {
  decay: { params: Tensor[]; weightDecay: number };
  noDecay: { params: Tensor[]; weightDecay: number };
  /** Names of the parameters in noDecay, for logs. */
  noDecayNames: string[];
}

/**
 * Splits the trainable parameters of `m` (registration order kept) into a group with
 * `weightDecay` and one with 0 for norm weights/biases and (if `biasDecay` is false) every bias.
 *
 *   const { decay, noDecay } = decayGroups(model, { weightDecay: 1e-4 });
 *   const opt = new SGD([decay, noDecay], { lr: 0.01, momentum: 0.9 });
 */
export function decayGroups(
  m: Module,
  o: { weightDecay: number; normDecay?: boolean; biasDecay?: boolean },
): DecayGroups {
  const decay: Tensor[] = [];
  const noDecay: Tensor[] = [];
  const noDecayNames: string[] = [];
  const seen = new Set<Tensor>();
  for (const [prefix, mod] of m.namedModules()) {
    const norm = isNormModule(mod);
    for (const [local, t] of localParams(mod)) {
      if (seen.has(t) || !t.requiresGrad) continue;
      seen.add(t);
      const skip = (norm && !(o.normDecay ?? false)) || (local === 'bias' && !(o.biasDecay ?? false));
      if (skip) {
        noDecay.push(t);
        noDecayNames.push(prefix === '' ? local : `${prefix}.${local}`);
      } else {
        decay.push(t);
      }
    }
  }
  return {
    decay: { params: decay, weightDecay: o.weightDecay },
    noDecay: { params: noDecay, weightDecay: 0 },
    noDecayNames,
  };
}

/** The parameters a module registered itself (not its children's), by local name. */
function localParams(mod: Module): [string, Tensor][] {
  const childNames = new Set(mod.namedChildren().map(([n]) => n));
  return mod.namedParameters().filter(([n]) => !n.includes('.') && !childNames.has(n));
}
