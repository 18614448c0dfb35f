// Loader worker: decodes and transforms samples, returning typed arrays by transfer.

import { loadSample, type SampleRecord, type WireSample, wireTransfer } from './sample.ts';
import type { TransformConfig } from './transforms.ts';
import { serveRequests } from './workers.ts';

export interface LoaderRequest {
  record: SampleRecord;
  cfg: TransformConfig;
  key: number;
}

serveRequests<LoaderRequest, WireSample>(async (req) => {
  const res = await loadSample(req.record, req.cfg, req.key);
  return { res, transfer: wireTransfer(res) };
});
