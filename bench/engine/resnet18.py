#!/usr/bin/python3
"""PyTorch side of bench/engine: ResNet-18 forward + backward + SGD step, batch 8, 3x256x256.
Prints one JSON line: per-step times (ms) of the timed steps and peak RSS (MiB)."""
import json
import sys
import time

import torch
import torchvision

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
warmup = int(sys.argv[2]) if len(sys.argv) > 2 else 3
steps = int(sys.argv[3]) if len(sys.argv) > 3 else 10
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=1000)
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
x = torch.randn(8, 3, 256, 256)
y = torch.randint(0, 1000, (8,))
times = []
for i in range(warmup + steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    dt = (time.perf_counter() - t0) * 1000
    if i >= warmup:
        times.append(dt)
rss = 0
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        rss = int(line.split()[1]) / 1024
print(json.dumps({"side": "pytorch", "times": times, "peakRssMiB": rss, "loss": loss.item()}))
