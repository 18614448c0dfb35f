// A deterministic detection loader. The order of epoch e is a permutation seeded by (seed, e);
// the random choices for a sample come from (seed, e, index). Nothing depends on worker count or
// scheduling, so 0, 1 or N workers give identical batches and a run restarts at (epoch, step)
// exactly: `loader.epoch(e, { startStep })` yields the same batches the uninterrupted run would.
import type { HostBatch } from '../structures/batch.ts';
import { collate } from './collate.ts';
import type { RgbImage } from './decode.ts';
import type { LoaderRequest } from './loader-worker.ts';
import { hashKey, permutation, Rng } from './rng.ts';
import { type DetectionSource, fromWire, loadSample, type WireSample } from './sample.ts';
import type { TransformConfig } from './transforms.ts';
import { WorkerPool } from './workers.ts';

export interface LoaderOptions {
  batchSize: number;
  transforms: TransformConfig;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the order and of every random transform (default 0). */
  seed?: number;
  /** worker_threads decoding ahead; 0 decodes in-process (default 0). */
  numWorkers?: number;
  /** Batches decoded ahead of the consumer (default 2). */
  prefetch?: number;
  /** Drop the last incomplete batch (default false). */
  dropLast?: boolean;
  /**
   * Keep decoded images in memory (up to this many bytes; default 0 = off), so later epochs only
   * run the transforms. On few cores decoding competes with the training step (demo PNGs cost
   * 4-8 ms each); the demo set at 192 px needs 221 MB. Batches are identical either way.
   */
  cacheBytes?: number;
}

// Stream tags so the order and the per-sample streams never share a key.
const ORDER_STREAM = 0x4f524452; // 'ORDR'
const SAMPLE_STREAM = 0x534d504c; // 'SMPL'

/**
 * @example
 * await using loader = new DetectionLoader(ds, { batchSize: 8, transforms: trainTransforms(null), numWorkers: 2 });
 * for await (const batch of loader.epoch(3, { startStep: 120 })) train(batch);
 */
export class DetectionLoader {
  readonly dataset: DetectionSource;
  readonly batchSize: number;
  readonly transforms: TransformConfig;
  readonly shuffle: boolean;
  readonly seed: number;
  readonly numWorkers: number;
  readonly prefetch: number;
  readonly dropLast: boolean;
  private pool: WorkerPool<LoaderRequest, WireSample & { decoded?: RgbImage }> | null = null;
  readonly cacheBytes: number;
  private readonly cache = new Map<number, RgbImage>();
  private cachedBytes = 0;
  private closed = false;

  constructor(dataset: DetectionSource, opts: LoaderOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
      throw new RangeError(`DetectionLoader: batchSize must be a positive integer, got ${opts.batchSize}`);
    }
    this.dataset = dataset;
    this.batchSize = opts.batchSize;
    this.transforms = opts.transforms;
    this.shuffle = opts.shuffle ?? true;
    this.seed = opts.seed ?? 0;
    this.numWorkers = opts.numWorkers ?? 0;
    this.prefetch = Math.max(0, opts.prefetch ?? 2);
    this.dropLast = opts.dropLast ?? false;
    this.cacheBytes = opts.cacheBytes ?? 0;
  }

  /** Decoded bytes held by the image cache. */
  get cacheUsage(): { images: number; bytes: number } {
    return { images: this.cache.size, bytes: this.cachedBytes };
  }

  private remember(index: number, img: RgbImage | undefined): void {
    if (img === undefined || this.cache.has(index)) return;
    if (this.cachedBytes + img.data.byteLength > this.cacheBytes) return;
    this.cache.set(index, img);
    this.cachedBytes += img.data.byteLength;
  }

  /** Batches per epoch. */
  get stepsPerEpoch(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The dataset indices of epoch `epoch`, in the order they are served. */
  order(epoch: number): Int32Array {
    const n = this.dataset.length;
    if (!this.shuffle) return Int32Array.from({ length: n }, (_, i) => i);
    return permutation(n, Rng.from(ORDER_STREAM, this.seed, epoch));
  }

  /** The dataset indices of batch `step` of epoch `epoch`. */
  batchIndices(epoch: number, step: number): number[] {
    const o = this.order(epoch);
    return Array.from(o.subarray(step * this.batchSize, Math.min((step + 1) * this.batchSize, o.length)));
  }

  /** The key of the random stream of one sample: a hash of (seed, epoch, index). */
  sampleKey(epoch: number, index: number): number {
    return hashKey(SAMPLE_STREAM, this.seed, epoch, index);
  }

  private async load(epoch: number, index: number): Promise<WireSample> {
    const record = this.dataset.get(index);
    const key = this.sampleKey(epoch, index);
    const cached = this.cache.get(index);
    const keep = this.cacheBytes > 0 && cached === undefined && this.cachedBytes < this.cacheBytes;
    if (this.numWorkers === 0) {
      const r = await loadSample(record, this.transforms, key, cached, keep);
      this.remember(index, r.decoded);
      return r;
    }
    this.pool ??= new WorkerPool<LoaderRequest, WireSample & { decoded?: RgbImage }>(
      import.meta.url,
      './loader-worker',
      this.numWorkers,
    );
    const { imageId, fileName, filePath, boxes, labels, ignore } = record;
    const r = await this.pool.run({
      record: { imageId, fileName, filePath, boxes, labels, ignore },
      cfg: this.transforms,
      key,
      ...(cached ? { decoded: cached } : {}),
      keepDecoded: keep,
    });
    this.remember(index, r.decoded);
    return r;
  }

  /**
   * The batches of one epoch from `startStep` on, decoded `prefetch` batches ahead of the consumer.
   * Breaking out of the loop is fine; call close() (or `await using`) when done with the loader.
   */
  async *epoch(epoch: number, opts: { startStep?: number } = {}): AsyncGenerator<HostBatch> {
    if (this.closed) throw new Error('DetectionLoader: closed');
    const startStep = opts.startStep ?? 0;
    const steps = this.stepsPerEpoch;
    if (!Number.isInteger(startStep) || startStep < 0 || startStep > steps) {
      throw new RangeError(`DetectionLoader: startStep ${startStep} outside 0..${steps}`);
    }
    const order = this.order(epoch);
    const end = Math.min(order.length, steps * this.batchSize);
    const window = (this.prefetch + 1) * this.batchSize;
    const pending = new Map<number, Promise<WireSample>>();
    let issued = startStep * this.batchSize;
    let consumed = issued;
    const issue = (): void => {
      while (issued < end && issued - consumed < window) {
        const p = this.load(epoch, order[issued]!);
        p.catch(() => {}); // awaited below; avoid an unhandled rejection while it waits its turn
        pending.set(issued, p);
        issued++;
      }
    };
    for (let step = startStep; step < steps; step++) {
      issue();
      const from = step * this.batchSize;
      const to = Math.min(from + this.batchSize, end);
      const ps: Promise<WireSample>[] = [];
      for (let k = from; k < to; k++) {
        ps.push(pending.get(k)!);
        pending.delete(k);
      }
      const wires = await Promise.all(ps);
      consumed = to;
      issue();
      yield collate(wires.map(fromWire), this.transforms.padDivisor, {
        indices: Array.from(order.subarray(from, to)),
        epoch,
        step,
      });
    }
  }

  /** Terminates the workers. */
  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = null;
    if (pool !== null) await pool.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
