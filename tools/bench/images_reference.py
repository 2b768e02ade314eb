#!/usr/bin/env python3
"""Pillow + numpy reference for tools/bench/images, and the comparison with ours.

usage: images_reference.py LIST ROOT OURS_JSONL
Times the same stages with Pillow (read + hashlib + open/convert; eval resize + crop +
numpy normalise; the same view: crop + resize 224 and 112, flip, ImageEnhance in the
recorded order, normalise the 224 one), checks every hash ours printed, prints a table
and ends with one JSON line.
"""
import hashlib
import io
import json
import sys
import time

import numpy as np
from PIL import Image, ImageEnhance

ENH = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]
MEAN = np.float32(127.0)
STD = np.float32(128.0)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def view(im, box, size, flip, factors, order):
    x, y, w, h = box
    out = im.crop((x, y, x + w, y + h)).resize((size, size), Image.BILINEAR)
    if flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for op in order:
        if factors[op] != 1.0:
            out = ENH[op](out).enhance(factors[op])
    return out


def main():
    paths = [l for l in open(sys.argv[1]).read().split("\n") if l]
    root = sys.argv[2]
    ours = {}
    timing = None
    for line in open(sys.argv[3]):
        d = json.loads(line)
        if d.get("timing"):
            timing = d
        else:
            ours[d["path"]] = d
    t_dec = t_eval = t_view = 0.0
    mism = {"rgb": [], "eval224": [], "student112": [], "sha256": []}
    for rel in paths:
        o = ours[rel]
        t0 = time.perf_counter()
        data = open(f"{root}/{rel}", "rb").read()
        digest = sha(data)
        im = Image.open(io.BytesIO(data)).convert("RGB")
        t1 = time.perf_counter()
        w, h = im.size
        s = 224
        rw, rh = (s, round(h * s / w)) if w <= h else (round(w * s / h), s)
        r = im.resize((rw, rh), Image.BILINEAR)
        left, top = (rw - s) // 2, (rh - s) // 2
        crop = r.crop((left, top, left + s, top + s))
        tensor = ((np.asarray(crop, dtype=np.float32) - MEAN) / STD).transpose(2, 0, 1).copy()
        t2 = time.perf_counter()
        tv = view(im, o["box"], 224, o["flip"], o["factors"], o["order"])
        tvt = ((np.asarray(tv, dtype=np.float32) - MEAN) / STD).transpose(2, 0, 1).copy()
        sv = view(im, o["box"], 112, o["flip"], o["factors"], o["order"])
        t3 = time.perf_counter()
        t_dec += t1 - t0; t_eval += t2 - t1; t_view += t3 - t2
        for key, value in [("sha256", digest), ("rgb", sha(im.tobytes())), ("eval224", sha(crop.tobytes())),
                           ("student112", sha(sv.tobytes()))]:
            if o[key] != value:
                mism[key].append(rel)
        del tensor, tvt
    n = len(paths)
    ref = {"decode_ms": 1e3 * t_dec / n, "eval_ms": 1e3 * t_eval / n, "view_ms": 1e3 * t_view / n}
    print(f"images: {n} (Caltech-101; timings single-threaded, noisy on a shared 2-core machine)")
    print(f"{'stage':<34}{'ours ms':>10}{'Pillow ms':>11}{'ratio':>8}")
    rows = [("read + sha256 + decode", "decode_ms"), ("eval 224 (resize+crop+normalise)", "eval_ms"),
            ("view: teacher 224 + student 112", "view_ms")]
    for label, key in rows:
        print(f"{label:<34}{timing[key]:>10.3f}{ref[key]:>11.3f}{ref[key] / timing[key]:>8.2f}")
    ours_total = sum(timing[k] for _, k in rows)
    ref_total = sum(ref[k] for _, k in rows)
    print(f"{'total per image':<34}{ours_total:>10.3f}{ref_total:>11.3f}{ref_total / ours_total:>8.2f}")
    for key, bad in mism.items():
        print(f"exactness {key}: {n - len(bad)}/{n} identical to Pillow" + (f" (first: {bad[:3]})" if bad else ""))
    result = {"images": n, "ours_ms_per_image": round(ours_total, 4), "pillow_ms_per_image": round(ref_total, 4),
              "ratio_vs_pillow": round(ref_total / ours_total, 3),
              "images_per_s_one_core": round(1e3 / ours_total, 1)}
    for key, bad in mism.items():
        result[f"identical_{key}"] = n - len(bad)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
