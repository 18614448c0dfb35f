// log.jsonl: one JSON object per line, appended as the run goes. Kinds of line:
//   {"type":"train","time":...,"epoch":0,"step":49,"iter":49,"lr":0.01,"losses":{"loss":1.2,...},
//    "grad_norm":3.1,"s_per_it":0.31}   (positions are 0-based indices of the logged iteration;
//                                         losses are means over the iterations since the last line)
//   {"type":"eval","time":...,"epoch":1,"iter":500,"metrics":{"AP":0.31,...},"best":true}
//                                        (epoch and iter are counts of completed ones)
//   {"type":"start"|"resume","time":...,"epoch":...,"step":...,"iter":...}
//   {"type":"error","time":...,"epoch":...,"step":...,"iter":...,"message":"..."}
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export type LogRecord = { type: string } & Record<string, unknown>;

export class JsonlLog {
  constructor(readonly path: string) {}

  append(rec: LogRecord): void {
    appendFileSync(this.path, `${JSON.stringify({ ...rec, time: rec.time ?? new Date().toISOString() })}\n`);
  }

  /** Starts an empty log. */
  reset(): void {
    writeFileSync(this.path, '');
  }

  /** Every record, parsed (a torn last line from a crash is skipped). */
  read(): LogRecord[] {
    if (!existsSync(this.path)) return [];
    const out: LogRecord[] = [];
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        const v: unknown = JSON.parse(line);
        if (typeof v === 'object' && v !== null && typeof Reflect.get(v, 'type') === 'string') {
          out.push(v as LogRecord);
        }
      } catch {
        // a line cut by a crash
      }
    }
    return out;
  }

  /**
   * Keeps the records `keep` accepts, rewriting the file atomically (used on resume, so the
   * iterations a crashed run did after its last checkpoint are not logged twice).
   */
  filter(keep: (r: LogRecord) => boolean): void {
    const kept = this.read().filter(keep);
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
    renameSync(tmp, this.path);
  }
}
