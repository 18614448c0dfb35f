#!/usr/bin/python3
"""torchvision side of bench/detection: one training step (forward + loss + backward + SGD step)
of torchvision's RetinaNet or FCOS on ResNet-18 + FPN, batch 8, 3x256x256, built to match
detkd's buildDetector configuration in step.ts (see the comments in build()).

  /usr/bin/python3 bench/detection/step.py make-data DIR          # writes the shared inputs
  /usr/bin/python3 bench/detection/step.py retina|fcos DIR [threads] [warmup] [steps] [--profile]

Prints one JSON line: per-step times (ms) of the timed steps, peak RSS (MiB), the last loss and,
with --profile, the mean ms per phase (forward / assign / loss / backward / optimizer)."""
import json
import os
import sys
import time

import torch
from torchvision.models.detection import FCOS, RetinaNet
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

BATCH = 8
SIZE = 256
NUM_CLASSES = 80
BOXES_PER_IMAGE = 5


def make_data(out):
    """Random but fixed inputs both sides read: images.u8 ([B, 3, H, W] uint8 RGB) and
    targets.json (per image 5 xyxy boxes in input pixels, labels 0..79)."""
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (BATCH, 3, SIZE, SIZE), generator=g, dtype=torch.uint8)
    with open(os.path.join(out, "images.u8"), "wb") as f:
        f.write(images.numpy().tobytes())
    targets = []
    for _ in range(BATCH):
        # Sides 16..160 px (small to large objects, so every FPN level gets positives).
        wh = torch.rand(BOXES_PER_IMAGE, 2, generator=g) * 144 + 16
        xy = torch.rand(BOXES_PER_IMAGE, 2, generator=g) * (SIZE - wh)
        boxes = torch.cat([xy, xy + wh], 1)
        labels = torch.randint(0, NUM_CLASSES, (BOXES_PER_IMAGE,), generator=g)
        # Round to float32 values so both sides see identical boxes.
        targets.append({"boxes": boxes.float().tolist(), "labels": labels.tolist()})
    with open(os.path.join(out, "targets.json"), "w") as f:
        json.dump({"batch": BATCH, "size": SIZE, "numClasses": NUM_CLASSES, "targets": targets}, f)


def load_data(d):
    raw = open(os.path.join(d, "images.u8"), "rb").read()
    images = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(BATCH, 3, SIZE, SIZE)
    # torchvision takes 0..1 images and normalises with ImageNet mean/std in its transform;
    # detkd takes 0..255 and normalises with mean*255 / std*255 (mmdet's values): the same input.
    images = [im.float().div(255) for im in images]
    meta = json.load(open(os.path.join(d, "targets.json")))
    targets = [
        {"boxes": torch.tensor(t["boxes"], dtype=torch.float32), "labels": torch.tensor(t["labels"], dtype=torch.int64)}
        for t in meta["targets"]
    ]
    return images, targets


def build(kind):
    """ResNet-18 + FPN(256, P3..P7) with FrozenBatchNorm2d everywhere in the backbone
    (torchvision's default; detkd: backbone.norm 'frozen-bn'), every stage trainable
    (trainable_layers=5; detkd: frozenStages -1), FPN without norm (detkd: neckNorm null).
    RetinaNet: P6 from C5 (LastLevelP6P7(512, 256) = detkd's add_extra_convs 'on_input'; the
    torchvision R50 builder takes P6 from P5, a conv of the same cost at 8x8), heads without norm
    (detkd: headNorm null), 4 convs per tower, 9 anchors per location, fg/bg IoU 0.5/0.4 with
    low-quality matches. FCOS: P6 from P5 (as fcos_resnet50_fpn and detkd's 'on_output'), GN(32)
    in both towers (detkd: headNorm 'gn' -> 32 groups at 256 channels), centre sampling 1.5.
    min_size = max_size = 256 so GeneralizedRCNNTransform keeps the 256x256 input (it still runs
    its per-image normalise + bilinear resize at scale 1, part of torchvision's step)."""
    c5 = 512
    extra = LastLevelP6P7(c5, 256) if kind == "retina" else LastLevelP6P7(256, 256)
    backbone = resnet_fpn_backbone(
        backbone_name="resnet18",
        weights=None,
        norm_layer=FrozenBatchNorm2d,
        trainable_layers=5,
        returned_layers=[2, 3, 4],
        extra_blocks=extra,
    )
    common = dict(
        num_classes=NUM_CLASSES,
        min_size=SIZE,
        max_size=SIZE,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    if kind == "retina":
        return RetinaNet(backbone, **common)
    return FCOS(backbone, **common)


class PhaseTimer:
    """Wraps the model's stages to split a step into forward (transform, backbone, head, anchors),
    assign (matching in model.compute_loss) and loss (head.compute_loss)."""

    def __init__(self, model):
        self.t = {"forward": 0.0, "assign": 0.0, "loss": 0.0, "backward": 0.0, "optimizer": 0.0}
        head_loss = model.head.compute_loss
        model_loss = model.compute_loss
        inner = {"loss": 0.0}

        def timed_head_loss(*a, **k):
            t0 = time.perf_counter()
            r = head_loss(*a, **k)
            inner["loss"] += time.perf_counter() - t0
            return r

        def timed_model_loss(*a, **k):
            inner["loss"] = 0.0
            t0 = time.perf_counter()
            r = model_loss(*a, **k)
            total = time.perf_counter() - t0
            self.t["loss"] += inner["loss"] * 1000
            self.t["assign"] += (total - inner["loss"]) * 1000
            self._loss_total = total * 1000
            return r

        model.head.compute_loss = timed_head_loss
        model.compute_loss = timed_model_loss
        self._loss_total = 0.0

    def add(self, phase, ms):
        self.t[phase] += ms


def main():
    if sys.argv[1] == "make-data":
        make_data(sys.argv[2])
        return
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    profile = "--profile" in sys.argv
    kind, data = args[0], args[1]
    threads = int(args[2]) if len(args) > 2 else 2
    warmup = int(args[3]) if len(args) > 3 else 3
    steps = int(args[4]) if len(args) > 4 else 10
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images, targets = load_data(data)
    model = build(kind)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    prof = PhaseTimer(model) if profile else None
    times = []
    loss = None
    for i in range(warmup + steps):
        timed = i >= warmup
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        losses = model(images, targets)
        loss = sum(losses.values())
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if timed:
            times.append((t3 - t0) * 1000)
            if prof is not None:
                prof.add("forward", (t1 - t0) * 1000 - prof._loss_total)
                prof.add("backward", (t2 - t1) * 1000)
                prof.add("optimizer", (t3 - t2) * 1000)
        elif prof is not None:
            prof.t = {k: 0.0 for k in prof.t}
    rss = 0
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    out = {
        "side": "torchvision",
        "kind": kind,
        "times": times,
        "peakRssMiB": rss,
        "loss": loss.item(),
        "losses": {k: v.item() for k, v in losses.items()},
        "params": sum(p.numel() for p in model.parameters() if p.requires_grad),
    }
    if prof is not None:
        out["phasesMs"] = {k: v / steps for k, v in prof.t.items()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
