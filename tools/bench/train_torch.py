#!/usr/bin/env python3
"""PyTorch side of tools/bench/train, and its report.

  train_torch.py time THREADS STEPS WARMUP BATCH RES CLASSES TEACHER_DIM
      one JSON line, as TrainBench: the same MobileNetV2 (torchvision topology,
      from tools/make-network-fixtures.py; dropout 0.2), projection heads,
      CE + A/U + KD (the loss definitions of tools/make-loss-fixtures.py), AdamW.
  train_torch.py report RESULTS.jsonl
      the table and the final JSON line.
"""
import importlib.util
import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def time_torch(threads, steps, warmup, batch, res, classes, teacher_dim):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    nets = load("network_fixtures", "make-network-fixtures.py")
    losses = load("loss_fixtures", "make-loss-fixtures.py")
    torch.manual_seed(1)
    net = nets.MobileNetV2(classes)
    head_s = nn.Sequential(nn.Linear(1280, 1280), nn.ReLU(), nn.Linear(1280, 128))
    head_t = nn.Sequential(nn.Linear(teacher_dim, teacher_dim), nn.ReLU(), nn.Linear(teacher_dim, 128))
    params = list(net.parameters()) + list(head_s.parameters()) + list(head_t.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(7)
    x = torch.rand(batch, 3, res, res, generator=g) * 2 - 1
    y = torch.arange(batch) % classes
    t_logits = torch.randn(batch, classes, generator=g) * 3
    t_feat = torch.rand(batch, teacher_dim, generator=g) * 2
    net.train()
    times, loss = [], None
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        logits, f_s = net(x)
        z_s, z_t = F.normalize(head_s(f_s), dim=1), F.normalize(head_t(t_feat), dim=1)
        au = losses.align_loss(z_s, z_t, 2) + (losses.uniform_loss(z_s, 2) + losses.uniform_loss(z_t, 2)) / 2
        loss = F.cross_entropy(logits, y) + au + losses.kd_loss(logits, t_logits, 4.0)
        loss.backward()
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    median = sorted(times)[len(times) // 2]
    print(json.dumps({"impl": "torch", "threads": threads, "images_per_s": batch / median, "step_s": median,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "loss": loss.detach().item()}, sort_keys=True))


def report(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    by = {(r["impl"], r["threads"]): r for r in rows}
    print(f"{'impl':6} {'threads':>7} {'images/s':>9} {'step s':>8} {'peak RSS MB':>12} {'loss':>8}")
    for r in sorted(rows, key=lambda r: (r["threads"], r["impl"])):
        print(f"{r['impl']:6} {r['threads']:>7} {r['images_per_s']:>9.1f} {r['step_s']:>8.3f} "
              f"{r['peak_rss_mb']:>12.0f} {r['loss']:>8.3f}")
    threads = sorted({r["threads"] for r in rows})
    out = {"images_per_s": {str(t): round(by[("ours", t)]["images_per_s"], 2) for t in threads},
           "torch_images_per_s": {str(t): round(by[("torch", t)]["images_per_s"], 2) for t in threads},
           "ratio_vs_torch": round(by[("ours", 2)]["images_per_s"] / by[("torch", 2)]["images_per_s"], 3),
           "ratio_vs_torch_1_thread": round(by[("ours", 1)]["images_per_s"] / by[("torch", 1)]["images_per_s"], 3),
           "peak_rss_mb": round(max(by[("ours", t)]["peak_rss_mb"] for t in threads), 1),
           "torch_peak_rss_mb": round(max(by[("torch", t)]["peak_rss_mb"] for t in threads), 1)}
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    if sys.argv[1] == "time":
        time_torch(*map(int, sys.argv[2:9]))
    elif sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
