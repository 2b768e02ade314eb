"""Reference Python export pipeline for tools/bench/export: Pillow + onnxruntime + h5py.

Produces the SAME views as a given distill store (it reads the crop box and flip of
every record from the store's augmentation rows, so both pipelines do identical
work), decodes with Pillow, renders teacher (224) and student inputs with Pillow's
bilinear resize, runs onnxruntime in batches, and writes float16 embeddings, uint8
pixels and the parameters to an HDF5 file with h5py. Colour jitter is not applied
(the benchmark exports without it). Prints one JSON object: views, seconds,
views_per_s, teacher_seconds.
usage: export_reference.py STORE.h5 IMAGE_ROOT MODEL.onnx OUT.h5 THREADS [BATCH]
"""
import hashlib
import json
import sys
import time

import h5py
import numpy as np
import onnxruntime as ort
from PIL import Image

store, image_root, model, out, threads = sys.argv[1:6]
batch_views = int(sys.argv[6]) if len(sys.argv) > 6 else 32
threads = int(threads)

with h5py.File(store, "r") as f:
    paths = [p.decode() for p in f["images/path"][:]]
    image_index = f["records/image_index"][:]
    aug = f["records/augmentation"][:]
    policy = json.loads(f.attrs["augmentation_policy"])
student = policy["student_size"]
teacher = policy["teacher"]
size, shorter = teacher["size"], teacher.get("resize_shorter", teacher["size"])
mean = np.array(teacher["mean"], np.float32)
std = np.array(teacher["std"], np.float32)

options = ort.SessionOptions()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name


def render(img, row, side, eval_shorter):
    kind, box, flip = int(row[0]), row[3:7], row[7] > 0.5
    if kind == 1:  # evaluation view: shorter side, centre crop
        w, h = img.size
        if w < h:
            nw, nh = eval_shorter, round(h * eval_shorter / w)
        else:
            nw, nh = round(w * eval_shorter / h), eval_shorter
        r = img.resize((nw, nh), Image.BILINEAR)
        left, top = (nw - side) // 2, (nh - side) // 2
        out = r.crop((left, top, left + side, top + side))
    else:
        x, y, bw, bh = (int(round(v)) for v in box)
        out = img.crop((x, y, x + bw, y + bh)).resize((side, side), Image.BILINEAR)
    if flip:
        out = out.transpose(Image.FLIP_LEFT_RIGHT)
    return np.asarray(out, dtype=np.uint8)


start = time.perf_counter()
teacher_s = 0.0
n = len(image_index)
with h5py.File(out, "w") as f:
    emb = f.create_dataset("embedding", (n, 0), maxshape=(n, None), dtype=np.float16, chunks=True)
    pix = f.create_dataset("pixels", (n, student, student, 3), dtype=np.uint8, chunks=(64, student, student, 3))
    f.create_dataset("augmentation", data=aug)
    hashes = []
    cache_index, cache_img = -1, None
    buf_t, buf_rows = [], []
    emb_rows = []

    def flush():
        global teacher_s
        t0 = time.perf_counter()
        e = session.run(None, {input_name: np.stack(buf_t)})[0]
        teacher_s += time.perf_counter() - t0
        emb_rows.append(e.astype(np.float16))
        buf_t.clear()

    for r in range(n):
        i = int(image_index[r])
        if i != cache_index:
            data = open(f"{image_root}/{paths[i]}", "rb").read()
            hashes.append(hashlib.sha256(data).hexdigest())
            from io import BytesIO
            cache_img = Image.open(BytesIO(data)).convert("RGB")
            cache_index = i
        t = render(cache_img, aug[r], size, shorter)
        buf_t.append(((t.astype(np.float32) - mean) / std).transpose(2, 0, 1))
        eval_student = round(student * shorter / size)
        pix[r] = render(cache_img, aug[r], student, eval_student)
        if len(buf_t) == batch_views:
            flush()
    if buf_t:
        flush()
    e = np.concatenate(emb_rows)
    emb.resize((n, e.shape[1]))
    emb[:] = e
    f.create_dataset("content_hash", data=np.array(hashes, dtype=object), dtype=h5py.string_dtype())
seconds = time.perf_counter() - start
print(json.dumps({"views": n, "seconds": seconds, "views_per_s": n / seconds, "teacher_seconds": teacher_s}))
