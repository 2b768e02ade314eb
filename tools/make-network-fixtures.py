#!/usr/bin/env python3
"""Writes the reference fixtures of the student-network tests
(Tests/StudentTrainTests/Fixtures/network-*.dlfx), in the DLFX format of
tools/make-loss-fixtures.py (whose writer this script uses).

Run from the package root:  .venv/bin/python tools/make-network-fixtures.py
The Swift tests read the committed files; Python is not needed at test time.

1. network-mobilenet_v2.dlfx, network-resnet18.dlfx, network-small_cnn.dlfx: one training step of
   MobileNetV2 (width 0.35, 10 classes, no dropout) on 2x3x64x64, ResNet-18
   (small-input stem, 10 classes) on 2x3x16x16 and the small CNN (3 blocks of
   8/16/32 channels, 5 classes) on 3x3x12x10, in PyTorch float64. The modules
   below restate torchvision's topology and state_dict names (torchvision is not
   in the venv); `check_topology` pins them to torchvision's published parameter
   counts. Parameters are not stored: both sides fill them with the same
   integer-hash rule (`deterministic_uniform`, mirrored in the Swift tests), so
   an 11M-parameter ResNet costs nothing in the fixture. The loss is
   sum(logits * g_logits) + sum(feature * g_feature), so the stored g_* are
   the output gradients. Stored: input, g_*, training-mode logits and feature,
   input gradient, some parameter gradients, every running statistic after the
   step, and evaluation-mode logits and feature after the step.
2. network-onnx-mobilenet_v2.dlfx: two Caltech-101 images preprocessed as the
   card of ../shared/models/mobilenet_v2_1.0_224.onnx says, and onnxruntime's
   `embedding` and `logits` for them.
"""
import importlib.util
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
_spec = importlib.util.spec_from_file_location("loss_fixtures", ROOT / "tools" / "make-loss-fixtures.py")
loss_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loss_fixtures)
write = loss_fixtures.write

# ---------------------------------------------------------------- parameters

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def deterministic_uniform(name, count):
    """u in [0, 1) per element: splitmix64(fnv1a64(name) ^ (i * golden)) >> 40, / 2^24.
    Integer-only, so Swift reproduces it bit for bit."""
    i = np.arange(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(fnv1a64(name)) ^ (i * np.uint64(GOLDEN))
        z = z + np.uint64(GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)


def deterministic_value(name, shape):
    """The test value of state_dict entry `name` (float32, then float64)."""
    count = int(np.prod(shape)) if len(shape) else 1
    u = deterministic_uniform(name, count)
    s = 2 * u - 1
    if name.endswith("num_batches_tracked"):
        v = np.zeros(count)
    elif name.endswith("running_mean"):
        v = 0.1 * s
    elif name.endswith("running_var"):
        v = 1 + 0.5 * u
    elif len(shape) == 4:                       # conv weight: He-uniform bound on fan_in
        v = s * np.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
    elif len(shape) == 2:                       # linear weight
        v = s / np.sqrt(shape[1])
    elif name.endswith(".weight"):              # batch-norm gamma
        v = 1 + 0.25 * s
    else:                                       # batch-norm beta, linear bias
        v = 0.1 * s
    return torch.from_numpy(v.astype(np.float32).reshape(shape)).to(torch.float64)


def fill(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            t.copy_(deterministic_value(name, tuple(t.shape)).to(t.dtype))

# ---------------------------------------------------------- torchvision topology


def make_divisible(v, divisor=8):
    n = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return n + divisor if n < 0.9 * v else n


class ConvBNAct(nn.Sequential):
    def __init__(self, inp, out, k, stride=1, groups=1):
        super().__init__(nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, t):
        super().__init__()
        hidden = int(round(inp * t))
        self.use_res = stride == 1 and inp == oup
        layers = [ConvBNAct(inp, hidden, 1)] if t != 1 else []
        layers += [ConvBNAct(hidden, hidden, 3, stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1)]

    def __init__(self, num_classes, width=1.0, dropout=0.2):
        super().__init__()
        inp = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        features = [ConvBNAct(3, inp, 3, 2)]
        for t, c, n, s in self.SETTING:
            out = make_divisible(c * width)
            for i in range(n):
                features.append(InvertedResidual(inp, out, s if i == 0 else 1, t))
                inp = out
        features.append(ConvBNAct(inp, last, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))

    def forward(self, x):
        f = torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1)
        return self.classifier(f), f


class BasicBlock(nn.Module):
    def __init__(self, inp, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inp != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inp, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, num_classes, small_input_stem=False):
        super().__init__()
        if small_input_stem:
            self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_input_stem else nn.MaxPool2d(3, 2, 1)
        inp = 64
        for i, planes in enumerate([64, 128, 256, 512]):
            blocks = [BasicBlock(inp, planes, 2 if i > 0 else 1), BasicBlock(planes, planes, 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            inp = planes
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        f = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(f), f


class SmallCNN(nn.Module):
    """StudentTrain's SmallCNN: conv-BN-ReLU blocks (stride 2 from the second), GAP, fc."""

    def __init__(self, num_classes, base=16, blocks=4):
        super().__init__()
        layers, inp, out = [], 3, base
        for i in range(blocks):
            layers.append(nn.Sequential(nn.Conv2d(inp, out, 3, 1 if i == 0 else 2, 1, bias=False),
                                        nn.BatchNorm2d(out), nn.ReLU(inplace=True)))
            inp, out = out, out * 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(inp, num_classes)

    def forward(self, x):
        f = torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1)
        return self.fc(f), f


def check_topology():
    """torchvision's documented sizes: mobilenet_v2 3,504,872, resnet18 11,689,512 parameters."""
    counts = {"mobilenet_v2": sum(p.numel() for p in MobileNetV2(1000).parameters()),
              "resnet18": sum(p.numel() for p in ResNet18(1000).parameters())}
    assert counts == {"mobilenet_v2": 3504872, "resnet18": 11689512}, counts

# -------------------------------------------------------------- train step


def train_step_fixture(name, model, input_shape, grad_names):
    torch.manual_seed(0)
    model = model.to(torch.float64)
    fill(model)
    g = torch.Generator().manual_seed(11)
    x = torch.randn(input_shape, generator=g).to(torch.float32).to(torch.float64)
    model.train()
    xr = x.clone().requires_grad_()
    logits, feature = model(xr)
    g_logits = torch.randn(logits.shape, generator=g).to(torch.float32).to(torch.float64)
    g_feature = (torch.randn(feature.shape, generator=g) * 0.1).to(torch.float32).to(torch.float64)
    ((logits * g_logits).sum() + (feature * g_feature).sum()).backward()
    e = {"input": x, "g_logits": g_logits, "g_feature": g_feature,
         "train.logits": logits, "train.feature": feature, "grad.input": xr.grad}
    params = dict(model.named_parameters())
    for p in grad_names:
        e[f"grad.{p}"] = params[p].grad
    for key, t in model.state_dict().items():
        if key.endswith("running_mean") or key.endswith("running_var") or key.endswith("num_batches_tracked"):
            e[f"state.{key}"] = t
    model.eval()
    with torch.no_grad():
        logits, feature = model(x)
    e.update({"eval.logits": logits, "eval.feature": feature})
    write(name, e)

# ------------------------------------------------------------------ ONNX


def onnx_fixture():
    import onnxruntime as ort
    from PIL import Image
    card = json.loads((SHARED / "models" / "mobilenet_v2_1.0_224.json").read_text())
    size = card["input"]["size"]
    paths = ["accordion/image_0002.jpg", "dalmatian/image_0001.jpg"]
    images = []
    for rel in paths:
        im = Image.open(SHARED / "data" / "caltech101" / "images" / rel).convert("RGB")
        w, h = im.size
        s = min(w, h)   # the shorter side becomes `size`, the other round(L * size / S)
        im = im.resize((size if w == s else round(w * size / s), size if h == s else round(h * size / s)),
                       Image.BILINEAR)
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        im = im.crop((left, top, left + size, top + size))
        a = np.asarray(im, dtype=np.float32)
        images.append(((a - 128.0) / 128.0).transpose(2, 0, 1))
    x = np.stack(images).astype(np.float32)
    sess = ort.InferenceSession(str(SHARED / "models" / card["file"]), providers=["CPUExecutionProvider"])
    emb, logits = sess.run(["embedding", "logits"], {card["input"]["name"]: x})
    write("network-onnx-mobilenet_v2", {"input": x, "embedding": emb, "logits": logits})


def main():
    check_topology()
    train_step_fixture("network-mobilenet_v2", MobileNetV2(10, width=0.35, dropout=0.0), (2, 3, 64, 64),
                       ["features.0.0.weight", "features.2.conv.1.0.weight", "features.7.conv.0.1.weight",
                        "features.7.conv.0.1.bias", "features.14.conv.2.weight", "features.18.1.weight", "features.18.1.bias",
                        "classifier.1.weight", "classifier.1.bias"])
    train_step_fixture("network-resnet18", ResNet18(10, small_input_stem=True), (2, 3, 16, 16),
                       ["conv1.weight", "bn1.weight", "layer1.0.bn1.bias", "layer2.0.downsample.0.weight",
                        "layer3.0.downsample.1.weight", "layer4.1.bn2.weight", "fc.weight", "fc.bias"])
    train_step_fixture("network-small_cnn", SmallCNN(5, base=8, blocks=3), (3, 3, 12, 10),
                       ["features.0.0.weight", "features.1.1.weight", "features.2.0.weight", "fc.weight", "fc.bias"])
    onnx_fixture()


if __name__ == "__main__":
    main()
