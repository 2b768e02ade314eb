#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of Tests/StudentTrainTests/Fixtures.

Run from the package root:  .venv/bin/python tools/make-loss-fixtures.py
The Swift tests read the committed files; Python is not needed at test time.

Format (little-endian), one file per topic:
    magic  b"DLFX", uint32 version (2), uint32 entry count, then per entry:
    uint32 name length, name (UTF-8), uint32 rank, uint32 dims[rank],
    uint32 dtype (0 = float32, 1 = float16), values[prod(dims)] (row-major).
Integers (labels) and scalars are stored as float32 tensors; float16 is used
only for large real embeddings (tools/make-probe-fixture.py).
References are computed in float64 from float32 inputs, then rounded to float32.
"""
import math
import struct
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

OUT = Path(__file__).resolve().parent.parent / "Tests" / "StudentTrainTests" / "Fixtures"


def write(name, entries, half=()):
    """Writes `entries` (name -> tensor); names in `half` are stored as float16."""
    OUT.mkdir(parents=True, exist_ok=True)
    buf = bytearray(b"DLFX") + struct.pack("<II", 2, len(entries))
    for key, value in entries.items():
        t = torch.as_tensor(value).detach().to(torch.float32).contiguous()
        if t.dim() == 0:
            t = t.reshape(1)
        k = key.encode()
        buf += struct.pack("<I", len(k)) + k + struct.pack("<I", t.dim())
        buf += struct.pack(f"<{t.dim()}I", *t.shape)
        buf += struct.pack("<I", 1 if key in half else 0)
        buf += t.numpy().astype("<f2" if key in half else "<f4").tobytes()
    (OUT / f"{name}.dlfx").write_bytes(bytes(buf))
    print(f"{name}.dlfx: {len(entries)} tensors, {len(buf)} bytes")


def f32(t):
    """Inputs are float32 values, promoted to float64 for the reference."""
    return t.to(torch.float32).to(torch.float64)


def kd_loss(s, t, T):
    # The paper's DistillKL: kl_div(log_softmax(s/T), softmax(t/T), sum) * T^2 / N.
    return F.kl_div(F.log_softmax(s / T, dim=1), F.softmax(t / T, dim=1), reduction="sum") * T * T / s.shape[0]


def align_loss(x, y, alpha):
    return (x - y).norm(p=2, dim=1).pow(alpha).mean()


def uniform_loss(x, t):
    return torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log()


def losses():
    g = torch.Generator().manual_seed(6)
    e = {}
    # Cross-entropy; the last row is shifted by +60 to exercise the max shift.
    logits = f32(torch.randn(8, 10, generator=g) * 3)
    logits[7] += 60
    labels = torch.randint(0, 10, (8,), generator=g)
    x = logits.clone().requires_grad_()
    loss = F.cross_entropy(x, labels)
    loss.backward()
    e.update({"ce.logits": logits, "ce.labels": labels, "ce.loss": loss, "ce.grad": x.grad})

    # Hinton KD at T = 4 and T = 1.
    s = f32(torch.randn(8, 10, generator=g) * 2)
    t = f32(torch.randn(8, 10, generator=g) * 5)
    e.update({"kd.student": s, "kd.teacher": t})
    for T in (4.0, 1.0):
        x = s.clone().requires_grad_()
        loss = kd_loss(x, t, T)
        loss.backward()
        e.update({f"kd.T{int(T)}.loss": loss, f"kd.T{int(T)}.grad": x.grad})

    # Alignment (alpha 2 and 3) and uniformity (t 2 and 5) on unit vectors.
    zs = f32(F.normalize(torch.randn(9, 16, generator=g), dim=1))
    zt = f32(F.normalize(torch.randn(9, 16, generator=g), dim=1))
    e.update({"au.zs": zs, "au.zt": zt})
    for alpha in (2, 3):
        a, b = zs.clone().requires_grad_(), zt.clone().requires_grad_()
        loss = align_loss(a, b, alpha)
        loss.backward()
        e.update({f"au.align{alpha}.loss": loss, f"au.align{alpha}.ga": a.grad, f"au.align{alpha}.gb": b.grad})
    for tt in (2, 5):
        a = zs.clone().requires_grad_()
        loss = uniform_loss(a, tt)
        loss.backward()
        e.update({f"au.unif{tt}.loss": loss, f"au.unif{tt}.grad": a.grad})
    write("losses", e)


def mocov2(in_dim, gen):
    """The paper's Embed(in_dim, in_dim, 128, 'mocov2') head, in float64."""
    fc1, fc2 = torch.nn.Linear(in_dim, in_dim), torch.nn.Linear(in_dim, 128)
    with torch.no_grad():
        for layer in (fc1, fc2):
            bound = 1 / math.sqrt(layer.in_features)
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=gen) * 2 * bound - bound)
            layer.bias.copy_(torch.rand(layer.bias.shape, generator=gen) * 2 * bound - bound)
    head = torch.nn.Sequential(fc1, torch.nn.ReLU(), fc2).to(torch.float32).to(torch.float64)
    return head, fc1, fc2


def objective():
    """CE + A/U + KD with both heads, default weights (1, 1, 1, T 4, alpha 2, t 2)
    and a second set of non-default weights."""
    g = torch.Generator().manual_seed(7)
    n, c, ds, dt = 6, 5, 12, 20
    hs, s1, s2 = mocov2(ds, g)
    ht, t1, t2 = mocov2(dt, g)
    fs = f32(torch.randn(n, ds, generator=g))
    ft = f32(torch.relu(torch.randn(n, dt, generator=g)))
    logits = f32(torch.randn(n, c, generator=g) * 2)
    tlogits = f32(torch.randn(n, c, generator=g) * 4)
    labels = torch.randint(0, c, (n,), generator=g)
    e = {"fs": fs, "ft": ft, "logits": logits, "tlogits": tlogits, "labels": labels}
    for prefix, layer in (("sh.fc1", s1), ("sh.fc2", s2), ("th.fc1", t1), ("th.fc2", t2)):
        e[f"{prefix}.weight"] = layer.weight
        e[f"{prefix}.bias"] = layer.bias
    configs = {"default": dict(w_ce=1, w_au=1, w_kd=1, T=4, w_a=1, w_u=1, alpha=2, t=2),
               "custom": dict(w_ce=0.5, w_au=0.8, w_kd=2, T=3, w_a=1.5, w_u=0.7, alpha=3, t=4)}
    for name, cfg in configs.items():
        for p in list(hs.parameters()) + list(ht.parameters()):
            p.grad = None
        x, f = logits.clone().requires_grad_(), fs.clone().requires_grad_()
        zs, zt = F.normalize(hs(f), dim=-1), F.normalize(ht(ft), dim=-1)
        ce = F.cross_entropy(x, labels)
        kd = kd_loss(x, tlogits, cfg["T"])
        al = align_loss(zs, zt, cfg["alpha"])
        us, ut = uniform_loss(zs, cfg["t"]), uniform_loss(zt, cfg["t"])
        au = cfg["w_a"] * al + cfg["w_u"] * (us + ut) / 2
        total = cfg["w_ce"] * ce + cfg["w_au"] * au + cfg["w_kd"] * kd
        total.backward()
        e.update({f"{name}.config": torch.tensor([cfg[k] for k in ("w_ce", "w_au", "w_kd", "T", "w_a", "w_u", "alpha", "t")]),
                  f"{name}.parts": torch.stack([total, ce, kd, au, al, us, ut]),
                  f"{name}.zs": zs, f"{name}.zt": zt,
                  f"{name}.dlogits": x.grad, f"{name}.dfs": f.grad})
        for prefix, layer in (("sh.fc1", s1), ("sh.fc2", s2), ("th.fc1", t1), ("th.fc2", t2)):
            e[f"{name}.{prefix}.dweight"] = layer.weight.grad
            e[f"{name}.{prefix}.dbias"] = layer.bias.grad
    write("objective", e)


def optimizers():
    """Trajectories of torch.optim.AdamW / SGD in float32 over 8 steps of a
    small softmax regression; gradients are recorded per step so the Swift test
    feeds the same gradients and compares the parameters after every step."""
    e = {}
    g = torch.Generator().manual_seed(8)
    x = torch.randn(16, 4, generator=g)
    y = torch.randint(0, 5, (16,), generator=g)
    w0 = torch.randn(5, 4, generator=g)
    b0 = torch.randn(5, generator=g) * 0.1
    e.update({"w0": w0, "b0": b0})
    lrs = [0.05 * (0.9 ** k) for k in range(8)]
    e["lrs"] = torch.tensor(lrs, dtype=torch.float64)
    cases = {
        "adamw": lambda ps: torch.optim.AdamW(ps, lr=lrs[0]),
        "adamw_custom": lambda ps: torch.optim.AdamW(ps, lr=lrs[0], betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        "sgd": lambda ps: torch.optim.SGD(ps, lr=lrs[0], momentum=0.9, weight_decay=5e-4),
        "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=lrs[0], momentum=0.9, weight_decay=1e-2, nesterov=True),
        "sgd_dampening": lambda ps: torch.optim.SGD(ps, lr=lrs[0], momentum=0.5, dampening=0.3),
        "sgd_plain": lambda ps: torch.optim.SGD(ps, lr=lrs[0], weight_decay=1e-2),
    }
    for name, make in cases.items():
        w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
        opt = make([w, b])
        for k, lr in enumerate(lrs):
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            F.cross_entropy(x @ w.T + b, y).backward()
            e[f"{name}.{k}.gw"], e[f"{name}.{k}.gb"] = w.grad.clone(), b.grad.clone()
            opt.step()
            e[f"{name}.{k}.w"], e[f"{name}.{k}.b"] = w.detach().clone(), b.detach().clone()
    write("optimizers", e)


def schedules():
    """lr used at steps 0..n-1 (get_last_lr() before each optimizer step)."""
    from torch.optim import lr_scheduler as S
    e = {}

    def run(name, base, n, make):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=base)
        sched = make(opt)
        out = []
        for _ in range(n):
            out.append(sched.get_last_lr()[0])
            opt.step()
            sched.step()
        e[name] = torch.tensor(out, dtype=torch.float64)

    run("warmup_cosine", 1e-3, 30, lambda o: S.SequentialLR(o, [
        S.LinearLR(o, start_factor=0.1, total_iters=5),
        S.CosineAnnealingLR(o, T_max=25, eta_min=1e-5)], milestones=[5]))
    run("warmup_step", 0.1, 30, lambda o: S.SequentialLR(o, [
        S.LinearLR(o, start_factor=0.25, total_iters=3),
        S.StepLR(o, step_size=7, gamma=0.5)], milestones=[3]))
    run("cosine", 0.05, 20, lambda o: S.CosineAnnealingLR(o, T_max=20))
    run("multistep", 0.05, 20, lambda o: S.MultiStepLR(o, milestones=[5, 12], gamma=0.1))
    run("warmup_constant", 0.01, 10, lambda o: S.LinearLR(o, total_iters=4))
    write("schedules", e)


def reference_probe(x, y, classes, C=0.5):
    """Multinomial logistic regression as sklearn's LogisticRegression(C) on
    StandardScaler'd features: minimises C * sum CE + ||W||^2 / 2 (scaled here
    by 1 / (C N)), solved to high precision by torch L-BFGS in float64.
    Returns mean, std, W, b and the scaled objective at the optimum."""
    x = x.to(torch.float64)
    n, d = x.shape
    mean, std = x.mean(0), x.std(0, unbiased=False)
    std = torch.where(std > 1e-8 * mean.abs().clamp(min=1), std, torch.ones_like(std))
    xs = (x - mean) / std
    w = torch.zeros(classes, d, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=5000, tolerance_grad=1e-12, tolerance_change=1e-14,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xs @ w.T + b, y, reduction="mean") + (w * w).sum() / (2 * C * n)
        loss.backward()
        return loss
    opt.step(closure)
    return mean, std, w.detach(), b.detach(), closure().detach()


def probe():
    """The reference probe on overlapping Gaussian classes (small, synthetic)."""
    g = torch.Generator().manual_seed(9)
    n, d, c = 90, 6, 3
    centers = torch.randn(c, d, generator=g) * 1.5
    y = torch.arange(n) % c
    x = f32(centers[y] + torch.randn(n, d, generator=g) * 1.2 + 3)
    xt = f32(centers[torch.arange(30) % c] + torch.randn(30, d, generator=g) * 1.2 + 3)
    mean, std, w, b, objective = reference_probe(x, y, c)
    logits_test = ((xt - mean) / std) @ w.T + b
    write("probe", {"x": x, "y": y, "x_test": xt, "mean": mean, "scale": std, "w": w, "b": b,
                    "objective": objective, "logits_test": logits_test})


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    losses()
    objective()
    probe()
    torch.set_default_dtype(torch.float32)
    optimizers()
    schedules()
    sys.exit(0)
