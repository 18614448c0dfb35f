// torchvision's Faster R-CNN parameter names (fasterrcnn_resnet50_fpn and its resnet_fpn_backbone
// relatives, torchvision 0.14) -> detkd's TwoStageDetector names. One place for the mapping: the
// whole-model oracle test uses it, and the interop commands are to expose it.
//   backbone.body.*                      -> backbone.*          (ResNet names are torchvision's)
//   backbone.fpn.inner_blocks.{i}.0.*    -> neck.lateral_convs.{i}.conv.*
//   backbone.fpn.layer_blocks.{i}.0.*    -> neck.fpn_convs.{i}.conv.*
//   rpn.head.conv.0.0.*                  -> rpn_head.conv.*     (0.14 wraps the conv; 0.13's rpn.head.conv.* too)
//   rpn.head.{cls_logits,bbox_pred}.*    -> rpn_head.{cls_logits,bbox_pred}.*
//   roi_heads.box_head.{fc6,fc7}.*       -> bbox_head.{fc6,fc7}.*
//   roi_heads.box_predictor.cls_score.*  -> bbox_head.clsScore.*
//   roi_heads.box_predictor.bbox_pred.*  -> bbox_head.bboxPred.*
// The FPN's maxpool P6 ('pool') has no parameters; ResNet's fc.* and BN num_batches_tracked are
// not detector weights (null).
import type { Tensor } from '../../core/tensor.ts';

const RULES: readonly (readonly [RegExp, string])[] = [
  [/^backbone\.body\.fc\./, ''],
  [/\.num_batches_tracked$/, ''],
  [/^backbone\.body\./, 'backbone.'],
  [/^backbone\.fpn\.inner_blocks\.(\d+)\.0\./, 'neck.lateral_convs.$1.conv.'],
  [/^backbone\.fpn\.inner_blocks\.(\d+)\./, 'neck.lateral_convs.$1.conv.'],
  [/^backbone\.fpn\.layer_blocks\.(\d+)\.0\./, 'neck.fpn_convs.$1.conv.'],
  [/^backbone\.fpn\.layer_blocks\.(\d+)\./, 'neck.fpn_convs.$1.conv.'],
  [/^rpn\.head\.conv\.0\.0\./, 'rpn_head.conv.'],
  [/^rpn\.head\.conv\./, 'rpn_head.conv.'],
  [/^rpn\.head\./, 'rpn_head.'],
  [/^roi_heads\.box_head\./, 'bbox_head.'],
  [/^roi_heads\.box_predictor\.cls_score\./, 'bbox_head.clsScore.'],
  [/^roi_heads\.box_predictor\.bbox_pred\./, 'bbox_head.bboxPred.'],
];

/** A torchvision Faster R-CNN state_dict key -> detkd's TwoStageDetector key, or null (not a detkd weight). */
export function torchvisionFasterRcnnKey(key: string): string | null {
  for (const [re, to] of RULES) {
    if (re.test(key)) return to === '' ? null : key.replace(re, to);
  }
  throw new RangeError(`torchvision Faster R-CNN: no detkd name for '${key}'`);
}

/** A torchvision Faster R-CNN state dict renamed for TwoStageDetector.loadStateDict. */
export function fromTorchvisionFasterRcnn(sd: ReadonlyMap<string, Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, t] of sd) {
    const name = torchvisionFasterRcnnKey(k);
    if (name !== null) out.set(name, t);
  }
  return out;
}
