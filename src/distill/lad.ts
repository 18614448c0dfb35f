// LAD, Label Assignment Distillation (Nguyen et al., WACV'22; docs/methods/lad.md): the student trains
// on the PAA assignment computed from a frozen teacher's predictions instead of its own. The
// assignment itself is PAA's (src/detection/assigners/paa.ts, where it is documented, including
// the fallback for degenerate mixtures); these are its names on the distillation side.
// methods/lad.ts wires it into a Distiller.
export {
  type PaaConfig as LadConfig,
  type PaaGtInfo as LadGtInfo,
  paaAssign as ladAssign,
  paaCandidateScores as ladCandidateScores,
  paaSplit,
} from '../detection/assigners/paa.ts';
