// A tiny Task for the trainer tests: a conv + BatchNorm + dropout + linear net regressing two
// statistics of random images. Batches are a function of (seed, epoch, step) only, drawn with
// their own generator, so a run restarted at (epoch, step) sees the same batches; dropout draws
// from the global generator, so exact resume also needs the RNG state restored.
import { createHash } from 'node:crypto';
import * as F from '../../src/core/functional.ts';
import { native } from '../../src/core/native.ts';
import { Generator } from '../../src/core/random.ts';
import { randn, type Tensor, tidy } from '../../src/core/tensor.ts';
import { BatchNorm2d, Conv2d, Linear, Module } from '../../src/nn/index.ts';
import type { DataSource, Metrics, Task, TrainContext } from '../../src/train/index.ts';

native.setNumThreads(1);

export interface TinyBatch {
  x: Tensor; // [B, 3, 8, 8]
  y: Tensor; // [B, 2]
}

export class TinyNet extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly fc: Linear;
  /** Frozen (requiresGrad off): must never reach the optimizer. */
  readonly frozen: Linear;

  constructor(seed: number) {
    super();
    const generator = new Generator(seed);
    this.conv = this.register('conv', new Conv2d(3, 8, 3, { padding: 1, generator }));
    this.bn = this.register('bn', new BatchNorm2d(8));
    this.fc = this.register('fc', new Linear(8, 2, { generator }));
    this.frozen = this.register('frozen', new Linear(2, 2, { generator }));
    this.frozen.requiresGrad_(false);
  }

  forward(x: Tensor): Tensor {
    const h = F.adaptiveAvgPool2d(this.bn.forward(this.conv.forward(x)).relu(), 1).flatten(1);
    return this.fc
      .forward(F.dropout(h, 0.2, this.training))
      .add(this.frozen.forward(x.mean([2, 3]).narrow(1, 0, 2)).mul(0));
  }
}

/** Deterministic batches from (seed, epoch, step). */
export function tinySource(seed: number, stepsPerEpoch: number, batchSize = 4): DataSource<TinyBatch> {
  return {
    stepsPerEpoch,
    async *batches(epoch: number, startStep: number): AsyncGenerator<TinyBatch> {
      for (let step = startStep; step < stepsPerEpoch; step++) {
        const g = new Generator(seed * 1_000_003 + epoch * 1009 + step);
        const b = tidy(() => {
          const x = randn([batchSize, 3, 8, 8], { generator: g });
          const y = x.mean([2, 3]).narrow(1, 0, 2).mul(3).add(1);
          return { x, y };
        });
        yield b;
      }
    },
  };
}

export interface TinyTaskOptions {
  seed?: number;
  /** Make 'loss_b' NaN at this iteration. */
  nanAt?: number;
  /** Throw a plain Error (a "crash") at this iteration. */
  crashAt?: number;
  /** Metrics returned by successive evaluations (default: a validation loss score). */
  metrics?: Metrics[];
  /** Add a term `loss_c` = fc.bias.sum() * hugeGrad (a huge but finite gradient). */
  hugeGrad?: number;
  /** Called at the start of every iteration. */
  onIter?: (ctx: TrainContext) => void;
}

export interface TinyTask extends Task<TinyBatch> {
  readonly module: TinyNet;
  evalCalls: { epoch: number; iter: number; training: boolean }[];
}

export function tinyTask(o: TinyTaskOptions = {}): TinyTask {
  const net = new TinyNet(o.seed ?? 1);
  const evalCalls: TinyTask['evalCalls'] = [];
  return {
    module: net,
    evalCalls,
    losses(batch: TinyBatch, ctx: TrainContext): Record<string, Tensor> {
      o.onIter?.(ctx);
      if (ctx.iter === o.crashAt) throw new Error(`simulated crash at iter ${ctx.iter}`);
      const out = net.forward(batch.x);
      const lossA = F.mseLoss(out.select(1, 0), batch.y.select(1, 0));
      let lossB = F.l1Loss(out.select(1, 1), batch.y.select(1, 1)).mul(0.5);
      if (ctx.iter === o.nanAt) lossB = lossB.mul(Number.NaN);
      if (o.hugeGrad !== undefined) {
        return { loss_a: lossA, loss_b: lossB, loss_c: net.fc.bias!.sum().mul(o.hugeGrad) };
      }
      return { loss_a: lossA, loss_b: lossB };
    },
    async evaluate(ctx): Promise<Metrics> {
      evalCalls.push({ ...ctx, training: net.training });
      const scripted = o.metrics?.[evalCalls.length - 1];
      if (scripted !== undefined) return scripted;
      return { score: -ctx.iter };
    },
  };
}

/** SHA-256 over every state tensor's (or parameter's) name and bytes. */
export function weightsHash(m: Module, o: { paramsOnly?: boolean } = {}): string {
  const h = createHash('sha256');
  tidy(() => {
    const entries = o.paramsOnly === true ? m.namedParameters() : [...m.stateDict()];
    for (const [k, t] of entries) {
      h.update(k);
      const a = t.contiguous().toTypedArray();
      h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
  });
  return h.digest('hex');
}

/** Collects progress output. */
export class Collector {
  text = '';
  constructor(
    readonly isTTY = false,
    readonly columns = 160,
  ) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}
