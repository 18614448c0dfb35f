#!/usr/bin/python3
"""torchvision side of bench/roi: multi-scale RoIAlign over 4 FPN levels, forward + backward.

  /usr/bin/python3 bench/roi/roi_align.py make-data DIR          # writes the shared RoIs
  /usr/bin/python3 bench/roi/roi_align.py tv|mmdet DIR [threads] [warmup] [steps]

Features: batch 2, 256 channels, strides 4, 8, 16, 32 of a 512x512 image (128^2 .. 16^2), random.
RoIs: 512 (256 per image) from DIR/rois.json, sides log-uniform over 8..400 px, so every level is used.
'tv':    torchvision.ops.MultiScaleRoIAlign (7x7, sampling ratio 2, aligned False, its LevelMapper).
'mmdet': mmdetection's SingleRoIExtractor over torchvision.ops.roi_align (7x7, sampling ratio 0,
         aligned True, levels floor(log2(sqrt(area) / 56 + 1e-6)) clamped to 0..3).
A step: forward, then backward of sum(out * cotangent) into the features. Prints one JSON line:
per-step times (ms) of the timed steps and peak RSS (MiB)."""
import json
import math
import os
import sys
import time
from collections import OrderedDict

import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

BATCH = 2
CHANNELS = 256
SIZE = 512
STRIDES = [4, 8, 16, 32]
ROIS_PER_IMAGE = 256


def make_data(out):
    g = torch.Generator().manual_seed(0)
    rois = []
    for b in range(BATCH):
        for _ in range(ROIS_PER_IMAGE):
            side_w = math.exp(math.log(8) + torch.rand(1, generator=g).item() * math.log(400 / 8))
            side_h = side_w * math.exp((torch.rand(1, generator=g).item() - 0.5) * math.log(4))
            cx = torch.rand(1, generator=g).item() * SIZE
            cy = torch.rand(1, generator=g).item() * SIZE
            x1 = max(0.0, cx - side_w / 2)
            y1 = max(0.0, cy - side_h / 2)
            x2 = min(float(SIZE), cx + side_w / 2)
            y2 = min(float(SIZE), cy + side_h / 2)
            rois.append([b, x1, y1, x2, y2])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "rois.json"), "w") as f:
        json.dump({"batch": BATCH, "channels": CHANNELS, "size": SIZE, "strides": STRIDES, "rois": rois}, f)


def main():
    if sys.argv[1] == "make-data":
        make_data(sys.argv[2])
        return
    config, data = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    steps = int(sys.argv[5]) if len(sys.argv) > 5 else 10
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with open(os.path.join(data, "rois.json")) as f:
        d = json.load(f)
    rois = torch.tensor(d["rois"], dtype=torch.float32)
    feats = [torch.randn(BATCH, CHANNELS, SIZE // s, SIZE // s, requires_grad=True) for s in STRIDES]
    cot = torch.randn(rois.shape[0], CHANNELS, 7, 7)
    if config == "tv":
        pool = MultiScaleRoIAlign(["0", "1", "2", "3"], 7, 2)
        boxes = [rois[rois[:, 0] == b, 1:] for b in range(BATCH)]
        sizes = [(SIZE, SIZE)] * BATCH

        def forward():
            return pool(OrderedDict((str(i), f) for i, f in enumerate(feats)), boxes, sizes)

    elif config == "mmdet":
        scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        lvls = torch.floor(torch.log2(scale / 56 + 1e-6)).clamp(min=0, max=len(STRIDES) - 1).long()

        def forward():
            out = feats[0].new_zeros(rois.shape[0], CHANNELS, 7, 7)
            for i, s in enumerate(STRIDES):
                inds = torch.nonzero(lvls == i, as_tuple=True)[0]
                if inds.numel() > 0:
                    out[inds] = roi_align(feats[i], rois[inds], 7, 1.0 / s, 0, True)
            return out

    else:
        raise SystemExit(f"unknown config {config}")
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        for f in feats:
            f.grad = None
        out = forward()
        (out * cot).sum().backward()
        dt = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            times.append(dt)
    rss = 0
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    print(json.dumps({"side": "torchvision", "times": times, "peakRssMiB": rss}))


if __name__ == "__main__":
    main()
