#!/usr/bin/python3
"""Per-op overhead of a tiny add (1-element tensors), PyTorch side. Prints JSON: us/op."""
import json
import sys
import time

import torch

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
torch.set_num_threads(1)
a = torch.ones(1)
b = torch.ones(1)
for _ in range(1000):
    torch.add(a, b)
res = {}
t0 = time.perf_counter()
for _ in range(n):
    torch.add(a, b)
res["add"] = (time.perf_counter() - t0) / n * 1e6
ag = torch.ones(1, requires_grad=True)
t0 = time.perf_counter()
for _ in range(n):
    torch.add(ag, b)
res["addRequiresGrad"] = (time.perf_counter() - t0) / n * 1e6
print(json.dumps({"side": "pytorch", "usPerOp": res}))
