#!/usr/bin/env python3
"""onnxruntime reference for the Swift ONNX engine (tests and checks only).

Builds ONE preprocessed float32 batch from image files and runs onnxruntime on it;
both the batch and the outputs are written as tensor files, so the Swift side runs
on exactly the same floats:

  tools/ort-reference.py --model M.onnx --images a.jpg b.jpg --mean 127 127 127 --std 128 128 128 \
      --size 224 --outputs embedding logits --out-dir DIR [--threads 1]

Preprocessing (deliberately simple, documented here, not the product's image code):
PIL decode, convert RGB, resize so the shorter side is `size` (bilinear, other side
round(L*size/S)), center crop size x size (left=(w-size)//2, top=(h-size)//2),
x = (pixel - mean[c]) / std[c] in float32, HWC -> CHW, stacked to NCHW.

Tensor file: b"DTNS", uint32 version 1, uint32 rank, rank x int64 dims, float32
data, all little-endian. DIR/input.bin holds the batch, DIR/<output>.bin each output.

  tools/ort-reference.py --model M.onnx --input X.bin --outputs logits embedding --out-dir DIR

runs a batch the caller already prepared (a tensor file, e.g. a student's normalised
store pixels) instead of decoding images.
"""
import argparse
import os
import struct
import sys

import numpy as np


def read_tensor(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"DTNS" or struct.unpack("<I", data[4:8])[0] != 1:
        sys.exit(f"{path}: not a DTNS version 1 tensor file")
    rank = struct.unpack("<I", data[8:12])[0]
    shape = struct.unpack(f"<{rank}q", data[12:12 + 8 * rank])
    a = np.frombuffer(data, dtype="<f4", offset=12 + 8 * rank)
    if a.size != int(np.prod(shape)):
        sys.exit(f"{path}: {a.size} values for shape {shape}")
    return a.reshape(shape).astype(np.float32)


def write_tensor(path, a):
    a = np.ascontiguousarray(a, dtype="<f4")
    with open(path, "wb") as f:
        f.write(b"DTNS" + struct.pack("<II", 1, a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape))
        f.write(a.tobytes())


def preprocess(paths, size, mean, std):
    from PIL import Image
    batch = []
    for p in paths:
        im = Image.open(p).convert("RGB")
        w, h = im.size
        s = min(w, h)
        nw, nh = round(w * size / s), round(h * size / s)
        im = im.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
        x = np.asarray(im, dtype=np.float32)
        x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
        batch.append(x.transpose(2, 0, 1))
    return np.stack(batch).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", nargs="+")
    source.add_argument("--input", help="a prepared float32 batch (tensor file)")
    ap.add_argument("--mean", nargs=3, type=float)
    ap.add_argument("--std", nargs=3, type=float)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--outputs", nargs="+", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    import onnxruntime as ort
    if a.input:
        x = read_tensor(a.input)
    else:
        if a.mean is None or a.std is None:
            ap.error("--images needs --mean and --std")
        x = preprocess(a.images, a.size, a.mean, a.std)
    os.makedirs(a.out_dir, exist_ok=True)
    write_tensor(os.path.join(a.out_dir, "input.bin"), x)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    outs = sess.run(a.outputs, {sess.get_inputs()[0].name: x})
    for name, v in zip(a.outputs, outs):
        write_tensor(os.path.join(a.out_dir, name.replace("/", "_") + ".bin"), v)
    print(f"ort-reference: batch {x.shape}, outputs {[o.shape for o in outs]} -> {a.out_dir}")


if __name__ == "__main__":
    sys.exit(main())
