#!/usr/bin/env python3
"""Layer shapes of MobileNetV2 (torchvision, width 1.0) at a given input size,
and PyTorch CPU timings of their forward and backward, for tools/bench/kernels.

  kernels_torch.py layers OUT.json [--res 112 --batch 64]   write the layer list
  kernels_torch.py time LAYERS.json THREADS REPS [--cpu-time]  time PyTorch, JSON lines
  kernels_torch.py report RESULTS.jsonl [CPU_RESULTS.jsonl]   table + final JSON line
"""
import json, sys, time


def mobilenet_v2_layers(res, batch):
    """Every conv and batch-norm layer of MobileNetV2 with its input shape."""
    layers = []
    h = res

    def conv(kind, c, o, k, s, groups):
        nonlocal h
        pad = k // 2
        layers.append({"type": kind, "n": batch, "c": c, "h": h, "w": h, "o": o, "k": k,
                       "stride": s, "pad": pad, "groups": groups})
        h = (h + 2 * pad - k) // s + 1
        layers.append({"type": "batchnorm", "n": batch, "c": o, "h": h, "w": h})

    conv("conv", 3, 32, 3, 2, 1)
    cin = 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            if t != 1:
                conv("pointwise", cin, hidden, 1, 1, 1)
            conv("depthwise_s%d" % stride, hidden, hidden, 3, stride, hidden)
            conv("pointwise", hidden, c, 1, 1, 1)
            cin = c
    conv("pointwise", cin, 1280, 1, 1, 1)
    return layers


def time_torch(layers, threads, reps, clock=time.perf_counter):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for i, L in enumerate(layers):
        x = torch.randn(L["n"], L["c"], L["h"], L["w"])
        best_f = best_b = float("inf")
        if L["type"] == "batchnorm":
            scale, bias = torch.rand(L["c"]) + 0.5, torch.randn(L["c"])
            rm, rv = torch.zeros(L["c"]), torch.ones(L["c"])
            dout = torch.randn_like(x)
            for _ in range(reps + 1):
                t0 = clock()
                y, mean, invstd = torch.ops.aten.native_batch_norm(x, scale, bias, rm, rv, True, 0.1, 1e-5)
                t1 = clock()
                torch.ops.aten.native_batch_norm_backward(dout, x, scale, rm, rv, mean, invstd, True, 1e-5,
                                                          [True, True, True])
                t2 = clock()
                best_f, best_b = min(best_f, t1 - t0), min(best_b, t2 - t1)
        else:
            w = torch.randn(L["o"], L["c"] // L["groups"], L["k"], L["k"]) * 0.1
            s, p, g = [L["stride"]] * 2, [L["pad"]] * 2, L["groups"]
            y = torch.ops.aten.convolution(x, w, None, s, p, [1, 1], False, [0, 0], g)
            dout = torch.randn_like(y)
            for _ in range(reps + 1):
                t0 = clock()
                torch.ops.aten.convolution(x, w, None, s, p, [1, 1], False, [0, 0], g)
                t1 = clock()
                # dinput and dweight (what a training step needs), no bias (BN follows)
                torch.ops.aten.convolution_backward(dout, x, w, None, s, p, [1, 1], False, [0, 0], g,
                                                    [True, True, False])
                t2 = clock()
                best_f, best_b = min(best_f, t1 - t0), min(best_b, t2 - t1)
        print(json.dumps({"impl": "torch", "threads": threads, "index": i, "type": L["type"],
                          "forward_s": best_f, "backward_s": best_b}), flush=True)


def sum_by_type(path):
    sums = {}
    for r in (json.loads(l) for l in open(path) if l.startswith("{")):
        if "type" in r:
            key = (r["impl"], r["threads"], r["type"])
            f, b = sums.get(key, (0.0, 0.0))
            sums[key] = (f + r["forward_s"], b + r["backward_s"])
    return sums


def report(path, cpu_path=None):
    """Per layer type sums of forward/backward seconds, ratios torch/ours."""
    rows = [json.loads(l) for l in open(path) if l.startswith("{")]
    sums, gemm = {}, {}
    for r in rows:
        if "gemm_size" in r:
            gemm[r["threads"]] = r["gflops"]
            continue
        key = (r["impl"], r["threads"], r["type"])
        f, b = sums.get(key, (0.0, 0.0))
        sums[key] = (f + r["forward_s"], b + r["backward_s"])
    types = sorted({k[2] for k in sums})
    threads = sorted({k[1] for k in sums})
    print("%-14s %3s %10s %10s %10s %10s %8s %8s" % ("layer type", "thr", "ours fwd", "torch fwd", "ours bwd",
                                                    "torch bwd", "fwd x", "bwd x"))
    ratios = {}
    for t in threads:
        for ty in types:
            of, ob = sums[("ours", t, ty)]
            tf, tb = sums[("torch", t, ty)]
            print("%-14s %3d %8.1fms %8.1fms %8.1fms %8.1fms %8.2f %8.2f" % (ty, t, of * 1e3, tf * 1e3, ob * 1e3,
                                                                              tb * 1e3, tf / of, tb / ob))
            if t == max(threads):
                ratios[ty + "_forward"] = round(tf / of, 3)
                ratios[ty + "_backward"] = round(tb / ob, 3)
    for ty in ("conv", "pointwise"):
        alt = sums.get(("ours_blas_threads", 2, ty))
        if alt and ("ours", 2, ty) in sums:
            of, ob = sums[("ours", 2, ty)]
            print("%s at 2 threads: image workers %.1f + %.1f ms vs BLAS threads %.1f + %.1f ms (fwd + bwd)"
                  % (ty, of * 1e3, ob * 1e3, alt[0] * 1e3, alt[1] * 1e3))
    peak_per_core = 117.0  # GFLOP/s, PLATFORM.md (Zen 4, 2 x 256-bit FMA at boost clock)
    fractions = {t: g / (peak_per_core * t) for t, g in gemm.items()}
    for t in sorted(gemm):
        print("sgemm %d threads: %.1f GFLOP/s = %.0f%% of %.0f GFLOP/s peak" % (t, gemm[t], 100 * fractions[t],
                                                                                peak_per_core * t))
    cpu_ratios = {}
    if cpu_path:
        cpu = sum_by_type(cpu_path)
        print("1 thread, process CPU time (less sensitive to other processes loading the machine):")
        for ty in types:
            of, ob = cpu[("ours", 1, ty)]
            tf, tb = cpu[("torch", 1, ty)]
            print("%-14s %3d %8.1fms %8.1fms %8.1fms %8.1fms %8.2f %8.2f" % (ty, 1, of * 1e3, tf * 1e3, ob * 1e3,
                                                                              tb * 1e3, tf / of, tb / ob))
            cpu_ratios[ty + "_forward"] = round(tf / of, 3)
            cpu_ratios[ty + "_backward"] = round(tb / ob, 3)
    print(json.dumps({"ratios_vs_torch": ratios, "min_ratio_vs_torch": min(ratios.values()),
                      "ratios_vs_torch_1thread_cpu_time": cpu_ratios,
                      "gemm_peak_fraction": round(fractions.get(max(threads), 0.0), 3),
                      "gemm_peak_fraction_by_threads": {str(t): round(v, 3) for t, v in fractions.items()}}))


if __name__ == "__main__":
    if sys.argv[1] == "layers":
        args = dict(zip(sys.argv[3::2], sys.argv[4::2]))
        res, batch = int(args.get("--res", 112)), int(args.get("--batch", 64))
        with open(sys.argv[2], "w") as f:
            json.dump(mobilenet_v2_layers(res, batch), f)
    elif sys.argv[1] == "time":
        clock = time.process_time if "--cpu-time" in sys.argv[5:] else time.perf_counter
        time_torch(json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4]), clock)
    elif sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        sys.exit("usage: kernels_torch.py layers OUT.json | time LAYERS.json THREADS REPS")
