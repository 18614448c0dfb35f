// Adapters map the student side of a feature term into the teacher's space before the loss. The
// usual one is a 1x1 conv per level from the student's channels to the teacher's (FGD's align
// conv, FitNets' regressor), with PyTorch's default Conv2d init. It is trained with the student
// and left out of the exported student.
import type { Tensor } from '../core/tensor.ts';
import { ModuleList } from '../nn/containers.ts';
import { Conv2d } from '../nn/conv.ts';
import type { Adapter } from './term.ts';

/** One 1x1 conv per level, C_S -> C_T: [B, C_S, H, W] -> [B, C_T, H, W]. */
export function conv1x1Adapter(
  numLevels: number,
  studentChannels: number,
  teacherChannels: number,
): Adapter<Tensor[]> {
  const convs = new ModuleList(
    Array.from({ length: numLevels }, () => new Conv2d(studentChannels, teacherChannels, 1)),
  );
  return {
    module: convs,
    forward: (xs) => xs.map((x, i) => convs.at(i).forward(x)),
  };
}

/** A 1x1 adapter when the channel counts differ, none when they agree. */
export function channelAdapter(
  numLevels: number,
  studentChannels: number,
  teacherChannels: number,
): { adapter?: Adapter<Tensor[]> } {
  return studentChannels === teacherChannels
    ? {}
    : { adapter: conv1x1Adapter(numLevels, studentChannels, teacherChannels) };
}
