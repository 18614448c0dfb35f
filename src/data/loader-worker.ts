// Loader worker: decodes and transforms samples, returning typed arrays by transfer.

import { loadSample, type SampleRecord, type WireSample, wireTransfer } from './sample.ts';
import { lowerDataThreadPriority } from './thread-priority.ts';
import type { TransformConfig } from './transforms.ts';
import { serveRequests } from './workers.ts';

export interface LoaderRequest {
  record: SampleRecord;
  cfg: TransformConfig;
  key: number;
}

let served = 0;
lowerDataThreadPriority();
serveRequests<LoaderRequest, WireSample>(async (req) => {
  const res = await loadSample(req.record, req.cfg, req.key);
  // libvips starts its decode threads lazily: lower them once they exist.
  if (served++ < 4) lowerDataThreadPriority();
  return { res, transfer: wireTransfer(res) };
});
