// A small pool of worker_threads with a request/response protocol, started from either the .ts
// sources (under tsx) or compiled .js in dist/. Idle workers are unref'd so a forgotten pool
// never keeps the process alive; close() terminates them.
import { parentPort, type Transferable, Worker } from 'node:worker_threads';
import { DetkdError } from '../core/errors.ts';

/**
 * Starts the worker module `name` (relative, without extension) next to the caller. Compiled .js
 * (dist/) runs plain. From .ts sources the worker needs tsx too; Node 20 ignores `--import tsx`
 * in a Worker's execArgv, so a two-line bootstrap registers tsx's hooks in the worker, then
 * imports the module.
 */
export function startWorker(callerUrl: string, name: string): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`${name}.js`, callerUrl));
  const target = new URL(`${name}.ts`, callerUrl).href;
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); });`;
  return new Worker(boot, { eval: true });
}

interface WireError {
  name: string;
  message: string;
  stack?: string;
}

type Reply<Res> = { id: number; ok: true; res: Res } | { id: number; ok: false; error: WireError };

function toWire(err: unknown): WireError {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

function fromWire(e: WireError): Error {
  const err = e.name === 'DetkdError' ? new DetkdError(e.message) : new Error(e.message);
  if (e.name !== 'DetkdError') err.name = e.name;
  if (e.stack !== undefined && e.name !== 'DetkdError') err.stack = e.stack;
  return err;
}

/**
 * Worker side: answers each request with handler's result, moving `transfer` buffers.
 * Call once at the top level of a worker module.
 */
export function serveRequests<Req, Res>(
  handler: (req: Req) => Promise<{ res: Res; transfer?: Transferable[] }>,
): void {
  const port = parentPort;
  if (port === null) throw new Error('serveRequests: not in a worker thread');
  port.on('message', (msg: { id: number; req: Req }) => {
    handler(msg.req).then(
      ({ res, transfer }) =>
        port.postMessage({ id: msg.id, ok: true, res } satisfies Reply<Res>, transfer ?? []),
      (err: unknown) => port.postMessage({ id: msg.id, ok: false, error: toWire(err) } satisfies Reply<Res>),
    );
  });
}

interface Slot {
  worker: Worker;
  inflight: number;
}

/** Main side: a fixed number of workers running the same module; requests go to the least busy. */
export class WorkerPool<Req, Res> {
  private readonly slots: Slot[];
  private readonly waiting = new Map<
    number,
    { resolve: (r: Res) => void; reject: (e: Error) => void; slot: Slot }
  >();
  private nextId = 0;
  private closed = false;
  private failure: Error | null = null;

  constructor(callerUrl: string, name: string, size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`WorkerPool: size must be >= 1, got ${size}`);
    this.slots = [];
    for (let i = 0; i < size; i++) {
      const worker = startWorker(callerUrl, name);
      const slot: Slot = { worker, inflight: 0 };
      worker.unref();
      worker.on('message', (m: Reply<Res>) => this.onReply(m));
      worker.on('error', (err) => this.fail(slot, err));
      worker.on('exit', (code) => {
        if (!this.closed) this.fail(slot, new Error(`worker ${name} exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  get size(): number {
    return this.slots.length;
  }

  private onReply(m: Reply<Res>): void {
    const w = this.waiting.get(m.id);
    if (w === undefined) return;
    this.waiting.delete(m.id);
    w.slot.inflight--;
    if (w.slot.inflight === 0) w.slot.worker.unref();
    if (m.ok) w.resolve(m.res);
    else w.reject(fromWire(m.error));
  }

  private fail(slot: Slot, err: Error): void {
    this.failure ??= err;
    for (const [id, w] of this.waiting) {
      if (w.slot !== slot) continue;
      this.waiting.delete(id);
      w.reject(err);
    }
    slot.inflight = 0;
  }

  /** Sends one request; transfer moves buffers instead of copying them. */
  run(req: Req, transfer: Transferable[] = []): Promise<Res> {
    if (this.closed) return Promise.reject(new Error('WorkerPool: closed'));
    if (this.failure !== null) return Promise.reject(this.failure);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.inflight < slot.inflight) slot = s;
    const id = this.nextId++;
    return new Promise<Res>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject, slot });
      if (slot.inflight === 0) slot.worker.ref();
      slot.inflight++;
      slot.worker.postMessage({ id, req }, transfer);
    });
  }

  /** Terminates every worker; pending requests are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('WorkerPool: closed');
    for (const [, w] of this.waiting) w.reject(err);
    this.waiting.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
