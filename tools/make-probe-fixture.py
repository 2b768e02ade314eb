#!/usr/bin/env python3
"""Writes Tests/StudentTrainTests/Fixtures/probe-caltech.dlfx: real teacher
embeddings for a small linear-probe test.

EfficientNet-Lite0 (../shared/models/efficientnet_lite0.onnx, run with
onnxruntime) embeds every train and test image of 8 Caltech-101 animal classes
(../shared/data/caltech101, fixed split), preprocessed exactly as the model
card says: PIL RGB, shorter side resized to 224 (bilinear), centre crop
224x224, (pixel - 127) / 128. Embeddings are stored as float16 (~0.9 MB); the
reference optimum of the probe objective (sklearn LogisticRegression(C=0.5)
semantics, solved in float64 by make-loss-fixtures.reference_probe on the
float16-rounded embeddings) and its train/test top-1 are stored beside them.

Run from the package root:  .venv/bin/python tools/make-probe-fixture.py
"""
import importlib.util
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CLASSES = ["crocodile", "crocodile_head", "gerenuk", "okapi", "cougar_body", "wild_cat", "beaver", "platypus"]

spec = importlib.util.spec_from_file_location("fixtures", ROOT / "tools" / "make-loss-fixtures.py")
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)


def preprocess(path):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.resize((round(w * 224 / s), round(h * 224 / s)), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    x = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
    return x.transpose(2, 0, 1)


def split(name, session):
    rows = [line.strip() for line in (SHARED / "data" / "caltech101" / name).read_text().splitlines()]
    rows = [r for r in rows if r.split("/")[0] in CLASSES]
    labels = [CLASSES.index(r.split("/")[0]) for r in rows]
    embeddings = []
    for i in range(0, len(rows), 32):
        batch = np.stack([preprocess(SHARED / "data" / "caltech101" / "images" / r) for r in rows[i:i + 32]])
        embeddings.append(session.run(["embedding"], {"image": batch})[0])
    # Round to float16 here so the reference sees exactly what the test reads.
    e = np.concatenate(embeddings).astype(np.float16).astype(np.float32)
    return torch.from_numpy(e), torch.tensor(labels)


def main():
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(SHARED / "models" / "efficientnet_lite0.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    x, y = split("train.txt", session)
    xt, yt = split("test.txt", session)
    mean, std, w, b, objective = fixtures.reference_probe(x, y, len(CLASSES))
    xt64 = xt.to(torch.float64)
    train_acc = (((x.to(torch.float64) - mean) / std @ w.T + b).argmax(1) == y).double().mean()
    test_acc = (((xt64 - mean) / std @ w.T + b).argmax(1) == yt).double().mean()
    print(f"{len(y)} train, {len(yt)} test images; reference probe train {train_acc:.4f}, test {test_acc:.4f}")
    fixtures.write("probe-caltech", {"x": x, "y": y, "x_test": xt, "y_test": yt, "objective": objective,
                                     "train_accuracy": train_acc, "test_accuracy": test_acc},
                   half=("x", "x_test"))


if __name__ == "__main__":
    torch.set_default_dtype(torch.float64)
    main()
