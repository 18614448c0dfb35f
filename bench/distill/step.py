#!/usr/bin/python3
"""PyTorch side of bench/distill: one feature-distillation training step, written the way an
mmrazor user's step runs in eager PyTorch (torch 1.13 / torchvision 0.14):
  teacher (torchvision RetinaNet, ResNet-50 + FPN 256) forward under no_grad in eval mode,
  student (RetinaNet, ResNet-18 + FPN 256) forward + its own losses in train mode,
  CWD on the 5 FPN levels (tau 1, weight 10, mmrazor's ChannelWiseDivergence), summed,
  backward, SGD(lr 1e-5, momentum 0.9, weight decay 1e-4) on the student alone.
The networks are randomly initialised (no downloads) and the frozen-BN ResNet-50's features are
large, so a usual lr 0.01 sends both sides to inf/NaN within 3 steps, which would time
non-finite arithmetic; lr 1e-5 keeps every loss finite. The work per step does not depend on lr.
Batch 8, 3x256x256, 80 classes, the inputs bench/detection/step.py make-data writes.

  /usr/bin/python3 bench/distill/step.py DIR [threads] [warmup] [steps] [lr]

Prints one JSON line: per-step times (ms), peak RSS (MiB), the last losses, parameter counts."""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torchvision.models.detection import RetinaNet
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops.feature_pyramid_network import LastLevelP6P7
from torchvision.ops.misc import FrozenBatchNorm2d

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "detection"))
from step import NUM_CLASSES, SIZE, load_data  # noqa: E402  (bench/detection/step.py)


def retina(depth):
    """As bench/detection/step.py build('retina'), for ResNet-18 or -50: FrozenBatchNorm2d
    backbone, every stage trainable, P6 from C5, no norm in FPN or heads, 9 anchors."""
    c5 = 512 if depth == 18 else 2048
    backbone = resnet_fpn_backbone(
        backbone_name=f"resnet{depth}",
        weights=None,
        norm_layer=FrozenBatchNorm2d,
        trainable_layers=5,
        returned_layers=[2, 3, 4],
        extra_blocks=LastLevelP6P7(c5, 256),
    )
    return RetinaNet(
        backbone,
        num_classes=NUM_CLASSES,
        min_size=SIZE,
        max_size=SIZE,
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )


def cwd(s, t, tau=1.0):
    """mmrazor ChannelWiseDivergence: tau^2 * sum softmax_T (log softmax_T - log softmax_S) / (N*C),
    softmax over each channel's H*W positions."""
    n, c, h, w = s.shape
    ps = s.reshape(-1, h * w) / tau
    pt = t.reshape(-1, h * w) / tau
    soft_t = F.softmax(pt, dim=1)
    loss = torch.sum(soft_t * F.log_softmax(pt, dim=1) - soft_t * F.log_softmax(ps, dim=1)) * tau**2
    return loss / (c * n)


def main():
    data = sys.argv[1]
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    warmup = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    lr = float(sys.argv[5]) if len(sys.argv) > 5 else 1e-5
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    images, targets = load_data(data)
    student = retina(18)
    teacher = retina(50)
    student.train()
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    feats = {}
    student.backbone.register_forward_hook(lambda m, i, o: feats.__setitem__("s", list(o.values())))
    opt = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    times = []
    losses = {}
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            timgs, _ = teacher.transform(images)
            tfeat = list(teacher.backbone(timgs.tensors).values())
            teacher.head(tfeat)
        losses = student(images, targets)
        losses["loss_cwd_fpn"] = 10 * sum(cwd(s, t) for s, t in zip(feats["s"], tfeat))
        loss = sum(losses.values())
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1000)
    rss = 0
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            rss = int(line.split()[1]) / 1024
    print(
        json.dumps(
            {
                "side": "pytorch",
                "times": times,
                "peakRssMiB": rss,
                "losses": {k: v.item() for k, v in losses.items()},
                "studentParams": sum(p.numel() for p in student.parameters() if p.requires_grad),
                "teacherParams": sum(p.numel() for p in teacher.parameters()),
            }
        )
    )


if __name__ == "__main__":
    main()
