// Synth worker: renders, encodes and writes images.
import { serveRequests } from '../workers.ts';
import { runSynthTask, type SynthTask, type SynthTaskResult } from './render.ts';

serveRequests<SynthTask, SynthTaskResult>(async (task) => ({ res: await runSynthTask(task) }));
