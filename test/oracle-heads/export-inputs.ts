// Writes the inputs of the head-loss oracle: detkd's priors, ground truth and detkd's own
// assignments (MaxIoU for RetinaNet, ATSS for ATSS/GFL, FCOS targets) for three images, so the
// Python oracle (scripts/fixtures/head_loss_oracle.py) computes mmdetection's losses on exactly
// the assignment detkd's losses see: the loss is tested in isolation from the assigners (which
// have their own oracle in test/fixtures/detection-assign-loss).
//
//   node --import tsx test/oracle-heads/export-inputs.ts
//   /usr/bin/python3 scripts/fixtures/head_loss_oracle.py
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { native } from '../../src/core/native.ts';
import { saveStateDict } from '../../src/core/serialize.ts';
import type { Tensor } from '../../src/core/tensor.ts';
import { AtssAssigner } from '../../src/detection/assigners/atss.ts';
import { fcosTargets } from '../../src/detection/assigners/fcos.ts';
import { MaxIoUAssigner } from '../../src/detection/assigners/max-iou.ts';
import type { GtTargets } from '../../src/detection/assigners/types.ts';
import { atssAnchors, retinaAnchors } from '../../src/detection/priors/anchors.ts';
import { fcosPoints } from '../../src/detection/priors/points.ts';
import {
  FCOS_TARGETS,
  FEAT_SIZES,
  gtOf,
  IGNORE_IOF_THR,
  IMAGES,
  INPUTS_FILE,
  NUM_CLASSES,
  STRIDES,
} from './common.ts';

native.setNumThreads(1);

const out: Record<string, Tensor> = {};
const retina = retinaAnchors(STRIDES).gridPriors(FEAT_SIZES);
const atss = atssAnchors(STRIDES).gridPriors(FEAT_SIZES);
const points = fcosPoints(STRIDES).gridPriors(FEAT_SIZES);
out['priors/retina'] = retina.boxes;
out['priors/atss'] = atss.boxes;
out['priors/points'] = points.boxes;

const maxIou = new MaxIoUAssigner({ ignoreIofThr: IGNORE_IOF_THR });
const atssAssigner = new AtssAssigner({ topk: 9, ignoreIofThr: IGNORE_IOF_THR });
for (const name of Object.keys(IMAGES)) {
  const gt: GtTargets = gtOf(name);
  out[`gt/${name}/boxes`] = gt.boxes;
  out[`gt/${name}/labels`] = gt.labels;
  if (gt.ignore) out[`gt/${name}/ignore`] = gt.ignore;
  const r = maxIou.assign(retina, gt, NUM_CLASSES);
  out[`assign/retina/${name}/gt_index`] = r.gtIndex;
  out[`assign/retina/${name}/labels`] = r.labels;
  const a = atssAssigner.assign(atss, gt, NUM_CLASSES);
  out[`assign/atss/${name}/gt_index`] = a.gtIndex;
  out[`assign/atss/${name}/labels`] = a.labels;
  const f = fcosTargets(points, gt, NUM_CLASSES, FCOS_TARGETS);
  out[`assign/fcos/${name}/gt_index`] = f.assignment.gtIndex;
  out[`assign/fcos/${name}/labels`] = f.assignment.labels;
  out[`assign/fcos/${name}/bbox_targets`] = f.bboxTargets;
  out[`assign/fcos/${name}/centerness`] = f.centerness;
  const count = (t: Tensor, what: (v: number) => boolean) => t.toArray().filter(what).length;
  for (const [k, gi] of [
    ['retina', r.gtIndex],
    ['atss', a.gtIndex],
    ['fcos', f.assignment.gtIndex],
  ] as const) {
    console.log(`${name} ${k}: pos ${count(gi, (v) => v >= 0)}, ignore ${count(gi, (v) => v === -2)}`);
  }
}
mkdirSync(dirname(INPUTS_FILE), { recursive: true });
saveStateDict(INPUTS_FILE, out, {
  num_classes: String(NUM_CLASSES),
  strides: JSON.stringify(STRIDES),
  feat_sizes: JSON.stringify(FEAT_SIZES),
  ignore_iof_thr: String(IGNORE_IOF_THR),
});
console.log(`wrote ${Object.keys(out).length} tensors to ${INPUTS_FILE}`);
