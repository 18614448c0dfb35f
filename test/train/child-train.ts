// Trains the tiny task with a checkpoint after every iteration, printing one line per
// iteration, so resume.test.ts can SIGKILL it at an arbitrary moment (possibly mid-save).
//   node --import tsx child-train.ts <runDir> <sgd|adamw>
import { Trainer } from '../../src/train/index.ts';
import { resumeOptions, SOURCE_SEED, STEPS_PER_EPOCH } from './recipe.ts';
import { tinySource, tinyTask } from './tiny-task.ts';

const [runDir, kind] = process.argv.slice(2);
if (runDir === undefined || (kind !== 'sgd' && kind !== 'adamw'))
  throw new Error('usage: child-train.ts DIR sgd|adamw');
const task = tinyTask({
  // slow the child down a little so the kill lands in the middle of the run
  onIter: () => {
    const until = Date.now() + 15;
    while (Date.now() < until) {}
  },
});
await new Trainer(task, tinySource(SOURCE_SEED, STEPS_PER_EPOCH), {
  ...resumeOptions(runDir, kind, { checkpointInterval: 1, logInterval: 1, out: process.stdout }),
  resume: true,
}).fit();
