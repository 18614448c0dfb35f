// `detkd demo` (what `make demo` runs): generates the synthetic `demo` set if it is missing,
// checks that the committed teacher was trained on exactly this dataset (generator version and
// dataset hash stamped in the file) and retrains it from its recipe if not, then trains the
// baseline student and the LD + KD distilled student with the same seed and prints the
// comparison table (`detkd compare` with one seed, so an interrupted demo resumes).
import { committedTeacher, demoSet, retrainTeacher } from '../../app/demo.ts';
import { parseVerbArgs } from '../args.ts';
import type { Command } from '../main.ts';
import { gracefulStop, stoppedNotice } from '../signals.ts';
import { VERBS } from '../verbs.ts';
import { command as compare } from './compare.ts';

export const command: Command = {
  async run(argv) {
    const { values, help } = parseVerbArgs(VERBS.demo, argv);
    if (help) {
      console.log(VERBS.demo.usage);
      return 0;
    }
    const t0 = performance.now();
    const log = (line: string): void => console.log(line);
    console.log('detkd demo: distil a GFL teacher into a 4x smaller GFL student with LD + KD\n');
    // 1. The dataset (generated when missing).
    const set = await demoSet(log);
    // 2. The teacher: the committed one if it was trained on this very dataset, else retrained.
    const committed = committedTeacher(set);
    let teacher: string;
    if ('teacher' in committed) {
      teacher = committed.teacher;
      console.log(
        `teacher: ${teacher} (stamped: generator v${set.version}, dataset ${set.hash.slice(0, 12)}, matches ${set.dir})`,
      );
    } else {
      console.log(
        `teacher: ${committed.why}.\nRetraining the teacher from recipes/demo-teacher.ts (about 20-30 min on 2 cores) ...`,
      );
      const stop = gracefulStop();
      let r: Awaited<ReturnType<typeof retrainTeacher>>;
      try {
        r = await retrainTeacher(set, values.out, { signal: stop.signal, log });
      } finally {
        stop.release();
      }
      if (r.status === 'stopped' && stop.exitCode !== null) {
        console.error(
          stoppedNotice(stop, `the teacher's checkpoint is kept in ${r.runDir}`, { addResume: false }),
        );
        return stop.exitCode;
      }
      if (r.status === 'stopped') throw new Error('the teacher run stopped without a signal');
      teacher = r.teacher;
      console.log(`teacher: retrained, stamped and saved to ${teacher}`);
    }
    // 3. Baseline and LD + KD, side by side.
    const code = await compare.run([
      set.recipePath,
      '--out',
      values.out,
      '--seeds',
      String(values.seeds),
      '--teacher',
      teacher,
    ]);
    // compare printed how to continue after a Ctrl-C (rerunning the demo resumes it).
    if (code !== 0) return code;
    console.log(`\ndemo finished in ${((performance.now() - t0) / 60000).toFixed(1)} min`);
    return code;
  },
};
