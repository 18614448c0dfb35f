#!/usr/bin/python3
"""torchvision side of bench/faster-rcnn: one training step (zero-grad + forward + RPN and RoI
targets + the four losses + backward + SGD step) of torchvision 0.14's FasterRCNN on ResNet-18 +
FPN 256 (P2..P6), batch 8, built to match detkd's buildFasterRcnn({ preset: 'torchvision' }) in
step.ts (see build()).

  /usr/bin/python3 bench/faster-rcnn/step.py make-data DIR [size]    # writes the shared inputs
  /usr/bin/python3 bench/faster-rcnn/step.py info DIR [--norm bn|frozen-bn]
  /usr/bin/python3 bench/faster-rcnn/step.py step DIR [threads] [warmup] [steps] [--norm bn|frozen-bn]

`info` prints one JSON line with the trainable parameter count and the sorted parameter shapes
(run.mjs compares them with step.ts's before timing). `step` prints one JSON line: per-step times
(ms) of the timed steps, peak RSS (MiB, ru_maxrss), the last step's losses and the parameter count."""
import json
import os
import resource
import sys
import time

import torch
from torchvision.models.detection import FasterRCNN
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.misc import FrozenBatchNorm2d

BATCH = 8
DEFAULT_SIZE = 320
# Foreground classes; torchvision's num_classes counts the background too (13 score columns).
NUM_CLASSES = 12
BOXES_PER_IMAGE = 4


def make_data(out, size):
    """Random but fixed inputs both sides read: images.u8 ([B, 3, S, S] uint8 RGB) and targets.json
    (per image 4 xyxy boxes in input pixels, labels 0..11 contiguous; torchvision adds 1)."""
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (BATCH, 3, size, size), generator=g, dtype=torch.uint8)
    with open(os.path.join(out, "images.u8"), "wb") as f:
        f.write(images.numpy().tobytes())
    targets = []
    for _ in range(BATCH):
        # Sides 16..(16 + 0.6 S) px: small to large boxes, so RoIs map to every pooled level.
        wh = torch.rand(BOXES_PER_IMAGE, 2, generator=g) * (0.6 * size) + 16
        xy = torch.rand(BOXES_PER_IMAGE, 2, generator=g) * (size - wh)
        boxes = torch.cat([xy, xy + wh], 1)
        labels = torch.randint(0, NUM_CLASSES, (BOXES_PER_IMAGE,), generator=g)
        # float32 values in the JSON, so both sides see identical boxes.
        targets.append({"boxes": boxes.float().tolist(), "labels": labels.tolist()})
    with open(os.path.join(out, "targets.json"), "w") as f:
        json.dump({"batch": BATCH, "size": size, "numClasses": NUM_CLASSES, "targets": targets}, f)


def load_data(d):
    meta = json.load(open(os.path.join(d, "targets.json")))
    b, s = meta["batch"], meta["size"]
    raw = open(os.path.join(d, "images.u8"), "rb").read()
    images = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(b, 3, s, s)
    # 0..1 images, normalised with ImageNet mean / std by GeneralizedRCNNTransform (detkd's
    # torchvision preset does the same on the same 0..1 tensor).
    images = [im.float().div(255) for im in images]
    targets = [
        {
            "boxes": torch.tensor(t["boxes"], dtype=torch.float32),
            "labels": torch.tensor(t["labels"], dtype=torch.int64) + 1,  # 0 is torchvision's background
        }
        for t in meta["targets"]
    ]
    return images, targets, meta


def build(norm, num_classes, size):
    """ResNet-18 (every stage trainable: trainable_layers=5; detkd: frozenStages -1) with either
    train-mode BatchNorm2d (norm 'bn', detkd backbone.norm 'bn') or FrozenBatchNorm2d (norm
    'frozen-bn', torchvision's default; detkd 'frozen-bn'); FPN 256 on C2..C5 without norm, P6 by
    max-pool (LastLevelMaxPool; detkd addExtraConvs false); the rest FasterRCNN's defaults, which
    detkd's 'torchvision' preset copies row for row: RPNHead with 3 anchors per location (sizes
    32..512, ratios 0.5/1/2), training proposals 2000 / 2000 at NMS 0.7, RPN sampler 256 at 0.5,
    MultiScaleRoIAlign 7x7 on P2..P5 with sampling ratio 2 and aligned false, RoI sampler 512 at
    0.25, TwoMLPHead 1024, class-specific FastRCNNPredictor (4 (N + 1) box outputs).
    min_size = max_size = size, so GeneralizedRCNNTransform keeps the input size (it still runs
    its per-image normalise + bilinear resize at scale 1, part of torchvision's step)."""
    norm_layer = torch.nn.BatchNorm2d if norm == "bn" else FrozenBatchNorm2d
    backbone = resnet_fpn_backbone(
        backbone_name="resnet18", weights=None, norm_layer=norm_layer, trainable_layers=5
    )
    return FasterRCNN(
        backbone,
        num_classes=num_classes + 1,
        min_size=size,
        max_size=size,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
        rpn_pre_nms_top_n_train=2000,
        rpn_post_nms_top_n_train=2000,
        rpn_batch_size_per_image=256,
        box_batch_size_per_image=512,
        box_positive_fraction=0.25,
    )


def info(model):
    params = [p for p in model.parameters() if p.requires_grad]
    return {
        "params": sum(p.numel() for p in params),
        "shapes": sorted("x".join(str(d) for d in p.shape) for p in params),
    }


def peak_rss_mib():
    # ru_maxrss is in KiB on Linux: the process's high-water resident set (VmHWM).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    if sys.argv[1] == "make-data":
        make_data(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else DEFAULT_SIZE)
        return
    argv = sys.argv[1:]
    norm = "bn"
    if "--norm" in argv:
        i = argv.index("--norm")
        norm = argv[i + 1] if i + 1 < len(argv) else ""
        del argv[i : i + 2]
    if norm not in ("bn", "frozen-bn"):
        raise SystemExit(f"step.py: --norm must be bn|frozen-bn, got {norm!r}")
    args = [a for a in argv if not a.startswith("--")]
    mode, data = args[0], args[1]
    threads = int(args[2]) if len(args) > 2 else 2
    warmup = int(args[3]) if len(args) > 3 else 2
    steps = int(args[4]) if len(args) > 4 else 5
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images, targets, meta = load_data(data)
    model = build(norm, meta["numClasses"], meta["size"])
    if mode == "info":
        print(json.dumps({"side": "torchvision", "norm": norm, **info(model)}))
        return
    if mode != "step":
        raise SystemExit(f"step.py: mode must be make-data|info|step, got {mode}")
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    times = []
    losses = {}
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        losses = model(images, targets)
        loss = sum(losses.values())
        loss.backward()
        opt.step()
        loss_value = loss.item()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    out = {
        "side": "torchvision",
        "norm": norm,
        "times": times,
        "peakRssMiB": peak_rss_mib(),
        "loss": loss_value,
        "losses": {k: v.item() for k, v in losses.items()},
        "params": info(model)["params"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
