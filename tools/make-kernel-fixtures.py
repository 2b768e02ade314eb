#!/usr/bin/env python3
"""Writes the PyTorch CPU reference fixtures for Tests/TensorKernelsTests.

Each case is one file Fixtures/<name>.tkfx:
  magic b"TKFX", u32 version (1), u32 meta length, meta (UTF-8 JSON: op and
  attributes), u32 tensor count, then per tensor: u32 name length, name (UTF-8),
  u32 rank, rank x u32 dims, prod(dims) float32 little-endian values.
Tensors: inputs/params as named, "out" (forward), "dout" (a random upstream
gradient) and "d<name>" = autograd of sum(out * dout) w.r.t. <name>.
Run: .venv/bin/python tools/make-kernel-fixtures.py  (seeded: same bytes each run).
"""
import json, os, struct, sys
import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "TensorKernelsTests", "Fixtures")
torch.manual_seed(1234)
g = torch.Generator().manual_seed(1234)


def rnd(*shape, lo=-1.0, hi=1.0):
    return (torch.rand(tuple(shape), generator=g, dtype=torch.float64) * (hi - lo) + lo).float()


def write(name, meta, tensors):
    path = os.path.join(OUT, name + ".tkfx")
    with open(path, "wb") as f:
        m = json.dumps(meta, sort_keys=True).encode()
        f.write(b"TKFX" + struct.pack("<II", 1, len(m)) + m + struct.pack("<I", len(tensors)))
        for key, t in tensors.items():
            t = t.detach().contiguous().float()
            k = key.encode()
            f.write(struct.pack("<I", len(k)) + k + struct.pack("<I", t.dim()))
            f.write(struct.pack("<%dI" % t.dim(), *t.shape))
            f.write(t.numpy().astype("<f4").tobytes())


def with_grads(fn, inputs, out_key="out"):
    """inputs: dict name -> tensor (float, requires grad set here). Returns tensors dict."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    out = fn(**leaves)
    dout = rnd(*out.shape)
    (out * dout).sum().backward()
    res = {k: v.detach() for k, v in inputs.items()}
    res[out_key] = out.detach()
    res["dout"] = dout
    for k, v in leaves.items():
        res["d" + k] = v.grad
    return res


def conv_case(name, n, c, o, h, w, k, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1), groups=1, bias=True):
    top, left, bottom, right = pads
    inputs = {"x": rnd(n, c, h, w), "weight": rnd(o, c // groups, k[0], k[1], lo=-0.5, hi=0.5)}
    if bias:
        inputs["bias"] = rnd(o)

    def fn(x, weight, bias=None):
        xp = F.pad(x, (left, right, top, bottom))
        return F.conv2d(xp, weight, bias, stride=stride, dilation=dil, groups=groups)

    meta = {"op": "conv2d", "stride": list(stride), "pads": list(pads), "dilation": list(dil), "groups": groups}
    write(name, meta, with_grads(fn, inputs))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".tkfx"):
            os.remove(os.path.join(OUT, f))
    # --- convolution geometries
    conv_case("conv_3x3_s1_p1", 2, 4, 6, 7, 7, (3, 3), pads=(1, 1, 1, 1))
    conv_case("conv_3x3_s2_odd_batch1", 1, 3, 5, 9, 11, (3, 3), stride=(2, 2), pads=(1, 1, 1, 1))
    conv_case("conv_5x5_pad2_nobias", 2, 3, 4, 8, 7, (5, 5), pads=(2, 2, 2, 2), bias=False)
    conv_case("conv_3x3_asym_pads", 2, 3, 4, 8, 9, (3, 3), stride=(2, 2), pads=(1, 0, 2, 1))
    conv_case("conv_same_s2_even", 2, 3, 4, 8, 8, (3, 3), stride=(2, 2), pads=(0, 0, 1, 1))
    conv_case("conv_3x3_dil2", 2, 3, 4, 9, 10, (3, 3), pads=(2, 2, 2, 2), dil=(2, 2))
    conv_case("conv_groups2", 2, 4, 6, 6, 7, (3, 3), pads=(1, 1, 1, 1), groups=2)
    conv_case("conv_groups3_s2", 1, 6, 9, 7, 7, (3, 3), stride=(2, 2), pads=(1, 1, 1, 1), groups=3)
    conv_case("conv_depthwise_3x3_s1", 2, 8, 8, 7, 9, (3, 3), pads=(1, 1, 1, 1), groups=8)
    conv_case("conv_depthwise_3x3_s2_odd", 2, 5, 5, 9, 9, (3, 3), stride=(2, 2), pads=(1, 1, 1, 1), groups=5)
    conv_case("conv_depthwise_3x3_s2_even_asym", 1, 4, 4, 8, 8, (3, 3), stride=(2, 2), pads=(0, 0, 1, 1), groups=4, bias=False)
    conv_case("conv_depthwise_5x5_dil2", 2, 3, 3, 11, 10, (5, 5), stride=(2, 2), pads=(3, 3, 3, 3), dil=(2, 2), groups=3)
    conv_case("conv_depthwise_multiplier2", 2, 3, 6, 6, 6, (3, 3), pads=(1, 1, 1, 1), groups=3)
    conv_case("conv_1x1", 2, 8, 12, 5, 6, (1, 1))
    conv_case("conv_1x1_s2", 2, 6, 4, 7, 7, (1, 1), stride=(2, 2))
    conv_case("conv_3x1_rect", 2, 3, 4, 7, 6, (3, 1), stride=(2, 1), pads=(1, 0, 1, 0))

    # --- batch norm
    x = rnd(3, 4, 5, 3)
    gamma, beta = rnd(4, lo=0.5, hi=1.5), rnd(4)
    rm, rv = rnd(4), rnd(4, lo=0.5, hi=2.0)
    rm2, rv2 = rm.clone(), rv.clone()

    def bn_train(x, scale, bias):
        return F.batch_norm(x, rm2, rv2, scale, bias, training=True, momentum=0.1, eps=1e-5)

    t = with_grads(bn_train, {"x": x, "scale": gamma, "bias": beta})
    t.update({"running_mean_before": rm, "running_var_before": rv, "running_mean": rm2, "running_var": rv2})
    write("batchnorm_train", {"op": "batchnorm_train", "momentum": 0.1, "epsilon": 1e-5}, t)

    def bn_eval(x, scale, bias):
        return F.batch_norm(x, rm, rv, scale, bias, training=False, eps=1e-3)

    t = with_grads(bn_eval, {"x": x, "scale": gamma, "bias": beta})
    t.update({"mean": rm, "variance": rv})
    write("batchnorm_inference", {"op": "batchnorm_inference", "epsilon": 1e-3}, t)

    # --- layer norm
    for axis, name in ((-1, "layernorm_last"), (-2, "layernorm_last2")):
        x = rnd(3, 5, 6)
        ns = tuple(x.shape[axis:])
        t = with_grads(lambda x, scale, bias: F.layer_norm(x, ns, scale, bias, eps=1e-5),
                       {"x": x, "scale": rnd(*ns, lo=0.5, hi=1.5), "bias": rnd(*ns)})
        write(name, {"op": "layernorm", "axis": axis, "epsilon": 1e-5}, t)

    # --- softmax
    for axis in (1, -1):
        x = rnd(3, 4, 5, lo=-3, hi=3)
        write("softmax_axis%d" % axis, {"op": "softmax", "axis": axis, "log": False},
              with_grads(lambda x: F.softmax(x, dim=axis), {"x": x}))
        write("logsoftmax_axis%d" % axis, {"op": "softmax", "axis": axis, "log": True},
              with_grads(lambda x: F.log_softmax(x, dim=axis), {"x": x}))

    # --- activations (values spread over [-7, 7], none within 1e-2 of a kink)
    x = rnd(3, 101, lo=-7, hi=7)
    for kink in (-3.0, 0.0, 3.0, 6.0, -1.0, 2.0):
        x = torch.where((x - kink).abs() < 1e-2, x + 3e-2, x)
    acts = {
        "relu": F.relu, "relu6": F.relu6, "clip": lambda v: torch.clamp(v, -1.0, 2.0),
        "sigmoid": torch.sigmoid, "tanh": torch.tanh, "geluErf": F.gelu,
        "geluTanh": lambda v: F.gelu(v, approximate="tanh"), "silu": F.silu,
        "hardSigmoid": F.hardsigmoid, "hardSwish": F.hardswish,
    }
    for name, fn in acts.items():
        write("act_" + name, {"op": "activation", "kind": name}, with_grads(lambda x: fn(x), {"x": x}))

    # --- broadcasting binary ops
    a, b = rnd(2, 1, 4, 5), rnd(3, 1, 5)
    bpos = rnd(3, 1, 5, lo=0.5, hi=2.0)
    for name, fn, bb in (("add", torch.add, b), ("sub", torch.sub, b), ("mul", torch.mul, b), ("div", torch.div, bpos)):
        write("binary_" + name, {"op": "binary", "kind": name}, with_grads(lambda a, b: fn(a, b), {"a": a, "b": bb}))
    write("binary_mul_channel", {"op": "binary", "kind": "mul"},
          with_grads(lambda a, b: a * b, {"a": rnd(2, 3, 4, 4), "b": rnd(1, 3, 1, 1)}))

    # --- reductions
    x = rnd(2, 3, 4, 5)
    for kind, fn in (("sum", lambda v, ax, kd: v.sum(dim=ax, keepdim=kd)),
                     ("mean", lambda v, ax, kd: v.mean(dim=ax, keepdim=kd)),
                     ("max", lambda v, ax, kd: v.amax(dim=ax, keepdim=kd))):
        for axes, kd in (([1, 3], True), ([0, -1], False), ([], False)):
            ax = tuple(axes) if axes else tuple(range(x.dim()))
            write("reduce_%s_%s_%d" % (kind, "_".join(str(a) for a in axes) or "all", kd),
                  {"op": "reduce", "kind": kind, "axes": axes, "keepDims": kd},
                  with_grads(lambda x: fn(x, ax, kd), {"x": x}))

    # --- pooling
    x = rnd(2, 3, 9, 9)
    write("maxpool_k3_s2_p1", {"op": "maxpool", "kernel": [3, 3], "stride": [2, 2], "pads": [1, 1, 1, 1], "ceil": False},
          with_grads(lambda x: F.max_pool2d(x, 3, 2, 1), {"x": x}))
    x7 = rnd(1, 2, 7, 7)
    write("maxpool_k2_s2_ceil", {"op": "maxpool", "kernel": [2, 2], "stride": [2, 2], "pads": [0, 0, 0, 0], "ceil": True},
          with_grads(lambda x: F.max_pool2d(x, 2, 2, 0, ceil_mode=True), {"x": x7}))
    for inc in (True, False):
        write("avgpool_k3_s2_p1_inc%d" % inc,
              {"op": "avgpool", "kernel": [3, 3], "stride": [2, 2], "pads": [1, 1, 1, 1], "ceil": False, "countIncludePad": inc},
              with_grads(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=inc), {"x": x}))
    write("globalavgpool", {"op": "globalavgpool"}, with_grads(lambda x: F.adaptive_avg_pool2d(x, 1), {"x": rnd(2, 5, 6, 7)}))

    # --- matmul
    for name, sa, sb in (("matmul_2d", (5, 7), (7, 3)), ("matmul_batched_bcast", (2, 1, 3, 4), (5, 4, 6)),
                         ("matmul_vec_left", (4,), (2, 4, 3)), ("matmul_vec_right", (2, 3, 4), (4,))):
        write(name, {"op": "matmul"}, with_grads(lambda a, b: torch.matmul(a, b), {"a": rnd(*sa), "b": rnd(*sb)}))

    # --- data movement
    x = rnd(2, 3, 4, 5)
    write("permute_0231", {"op": "permute", "perm": [0, 2, 3, 1]}, with_grads(lambda x: x.permute(0, 2, 3, 1), {"x": x}))
    write("concat_axis1", {"op": "concat", "axis": 1},
          with_grads(lambda a, b: torch.cat([a, b], dim=1), {"a": rnd(2, 3, 4), "b": rnd(2, 2, 4)}))
    write("slice_steps", {"op": "slice", "starts": [1, -1, 0], "ends": [3, -100, 5], "axes": [1, 2, 3], "steps": [1, -2, 2]},
          with_grads(lambda x: x.flip(2)[:, 1:3, ::2, 0:5:2], {"x": x}))
    for mode, tmode in (("constant", "constant"), ("reflect", "reflect"), ("edge", "replicate")):
        # ONNX pads for (N,C,H,W): begins then ends; torch F.pad takes (left, right, top, bottom)
        pads = [0, 0, 1, 2, 0, 0, 2, 1]
        write("pad_" + mode, {"op": "pad", "mode": mode, "pads": pads, "value": 0.5 if mode == "constant" else 0.0},
              with_grads(lambda x: F.pad(x, (2, 1, 1, 2), mode=tmode, **({"value": 0.5} if mode == "constant" else {})), {"x": x}))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d fixtures, %d bytes" % (len([f for f in os.listdir(OUT) if f.endswith('.tkfx')]), total))


if __name__ == "__main__":
    main()
