// A committed teacher: a detector deliverable stored in fp16 (half the bytes; the weights widen to
// float32 on load) and stamped with the synthetic generator version and dataset hash it was
// trained on. The demo compares the stamp with the dataset on disk and retrains the teacher from
// its recipe when they differ, instead of distilling from a teacher of another dataset.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DetkdError } from '../core/errors.ts';
import { loadStateDictFile, saveStateDict } from '../core/serialize.ts';
import { dispose, type Tensor } from '../core/tensor.ts';
import { MODEL_FORMAT } from '../train/checkpoint.ts';

export interface TeacherStamp {
  /** Synthetic generator version (SYNTH_VERSION) of the training data. */
  synthVersion: number;
  /** Dataset hash (synth.json `hash`) of the training data. */
  synthHash: string;
  /** The teacher recipe's name. */
  recipe: string;
  /** Its final val AP when it was exported (for the record; the demo re-measures it). */
  valAP?: number;
}

/** Reads a model file and writes it as an fp16 stamped teacher. */
export function writeStampedTeacher(modelFile: string, out: string, stamp: TeacherStamp): void {
  const { tensors, metadata } = loadStateDictFile(modelFile);
  const half = new Map<string, Tensor>();
  const made: Tensor[] = [];
  try {
    for (const [k, t] of tensors) {
      const h = t.dtype === 'float32' ? t.half() : t;
      if (h !== t) made.push(h);
      half.set(k, h);
    }
    mkdirSync(dirname(out), { recursive: true });
    saveStateDict(out, half, {
      format: MODEL_FORMAT,
      detkd_version: metadata.detkd_version ?? 'unknown',
      recipe: metadata.recipe ?? 'null',
      info: metadata.info ?? '{}',
      teacher_stamp: JSON.stringify(stamp),
      storage: 'float16',
    });
  } finally {
    dispose(made);
    dispose([...tensors.values()]);
  }
}

/** The stamp of a teacher file, or null when it has none (a plain checkpoint). */
export function readTeacherStamp(path: string): TeacherStamp | null {
  if (!existsSync(path)) throw new DetkdError(`teacher ${path}: file not found`);
  const { tensors, metadata } = loadStateDictFile(path);
  dispose([...tensors.values()]);
  const s = metadata.teacher_stamp;
  if (s === undefined) return null;
  try {
    const v = JSON.parse(s) as TeacherStamp;
    if (typeof v.synthHash !== 'string' || typeof v.synthVersion !== 'number')
      throw new Error('fields missing');
    return v;
  } catch (e) {
    throw new DetkdError(`teacher ${path}: metadata 'teacher_stamp' is malformed (${(e as Error).message})`);
  }
}
