// Loader worker: decodes and transforms samples, returning typed arrays by transfer.

import type { RgbImage } from './decode.ts';
import { loadSample, type SampleRecord, type WireSample, wireTransfer } from './sample.ts';
import { lowerDataThreadPriority } from './thread-priority.ts';
import type { TransformConfig } from './transforms.ts';
import { serveRequests } from './workers.ts';

export interface LoaderRequest {
  record: SampleRecord;
  cfg: TransformConfig;
  key: number;
  /** Cached decoded pixels of the file (skip decoding). */
  decoded?: RgbImage;
  /** Send the decoded pixels back for the loader's cache. */
  keepDecoded?: boolean;
}

let served = 0;
lowerDataThreadPriority();
serveRequests<LoaderRequest, WireSample & { decoded?: RgbImage }>(async (req) => {
  const res = await loadSample(req.record, req.cfg, req.key, req.decoded, req.keepDecoded ?? false);
  // libvips starts its decode threads lazily: lower them once they exist.
  if (served++ < 4) lowerDataThreadPriority();
  const transfer = wireTransfer(res);
  if (res.decoded) transfer.push(res.decoded.data.buffer as ArrayBuffer);
  return { res, transfer };
});
