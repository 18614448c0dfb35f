// `detkd compare RECIPES... --out DIR [--seeds K] [--epochs N] [--teacher CKPT] [--device D]`:
// runs a comparison (src/app/compare.ts: every arm trained with the same seeds, the teacher
// evaluated once) and writes DIR/results.md (the table) and DIR/ap.png (AP per arm), rewritten
// after every run. Rerunning the same command continues an interrupted comparison.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { armResults, planComparison, teacherRecord, trainArms } from '../../app/compare.ts';
import { parseVerbArgs } from '../args.ts';
import { plotAp } from '../compare/plot.ts';
import { type ArmSummary, markdownTable, summarise } from '../compare/table.ts';
import type { Command } from '../main.ts';
import { gracefulStop, stoppedNotice } from '../signals.ts';
import { VERBS } from '../verbs.ts';

export const command: Command = {
  async run(argv) {
    const { values, positionals, help } = parseVerbArgs(VERBS.compare, argv);
    if (help) {
      console.log(VERBS.compare.usage);
      return 0;
    }
    const K = values.seeds;
    const c = await planComparison(positionals, {
      ...(values.epochs === undefined ? {} : { epochs: values.epochs }),
      ...(values.teacher === undefined ? {} : { teacher: values.teacher }),
    });
    const { arms } = c;
    const alone = arms.filter((a) => a.alone);
    const out = values.out;
    mkdirSync(out, { recursive: true });
    const device = values.device;
    const seeds = Array.from({ length: K }, (_, i) => i);
    console.log(
      `detkd compare: ${arms.length} arms (${arms.map((a) => a.name).join(', ')}) x ${K} seed(s), ${c.base.train.epochs ?? '?'} epochs each -> ${out}`,
    );
    const teacher = await teacherRecord(c, out, device, (s) => console.log(s));

    const writeTable = async (): Promise<string> => {
      const results = armResults(c, out, seeds);
      // Only seeds every arm finished, so means compare like with like.
      const shared = seeds.filter((s) => arms.every((a) => results.get(a.name)!.some((r) => r.seed === s)));
      const summaries: ArmSummary[] = arms.map((a) => summarise(a.name, results.get(a.name)!, shared));
      const md = markdownTable({
        teacher: { name: teacher.name, metrics: teacher.metrics, params: teacher.params, macs: teacher.macs },
        baseline: summaries[0]!,
        methods: summaries.slice(1),
        seeds: shared,
        ...(alone.length > 0
          ? {
              notes: [
                `Trained without a teacher (other ways to train the same student): ${alone.map((r) => r.name).join(', ')}.`,
              ],
            }
          : {}),
      });
      const pending = arms.flatMap((a) =>
        seeds
          .filter((s) => !results.get(a.name)!.some((r) => r.seed === s))
          .map((s) => `${a.name}/seed-${s}`),
      );
      writeFileSync(
        join(out, 'results.md'),
        `# detkd compare\n\n${md}${pending.length > 0 ? `\nNot finished yet: ${pending.join(', ')}.\n` : ''}`,
      );
      if (shared.length > 0) await plotAp(summaries, teacher.metrics.AP ?? null, join(out, 'ap.png'));
      return md;
    };

    const stop = gracefulStop();
    let status: 'finished' | 'stopped';
    try {
      status = await trainArms(c, {
        out,
        seeds,
        device,
        ...(values.teacher === undefined ? {} : { teacher: values.teacher }),
        signal: stop.signal,
        log: (s) => console.log(s),
        afterRun: async () => {
          await writeTable();
        },
      });
    } finally {
      stop.release();
    }
    if (status === 'stopped' && stop.exitCode !== null) {
      console.error(
        stoppedNotice(stop, `finished runs and the interrupted one's checkpoint are kept in ${out}`, {
          addResume: false,
        }),
      );
      return stop.exitCode;
    }
    const md = await writeTable();
    console.log(`\n${md}\ntable: ${join(out, 'results.md')}, plot: ${join(out, 'ap.png')}`);
    return 0;
  },
};
