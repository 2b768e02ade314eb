#!/usr/bin/env python3
"""Pillow reference fixtures for the TeacherExport image tests.

Writes Tests/TeacherExportTests/Fixtures/images/: reference.json (hashes and small
arrays computed with Pillow + numpy + hashlib from real Caltech-101 images under
../shared/data/caltech101/images) and a few PNG/JPEG files generated with Pillow.
The tests never run Python; re-run this script only to regenerate the fixtures:

    .venv/bin/python tools/make-image-fixtures.py

Conventions (mirrored by the Swift tests):
- "rgb_sha256" is hashlib.sha256 of Image.convert("RGB").tobytes() (HWC uint8).
- resize: Image.resize((w, h), BILINEAR or BICUBIC) of the decoded RGB image.
- eval: resize so the shorter side is S (other side round(L*S/short), Python round),
  centre crop SxS at ((w-S)//2, (h-S)//2): the model cards' rule.
- teacher tensor: (np.float32(pixels) - mean) / std in float32, HWC -> CHW.
- views: crop(box).resize((S, S), BILINEAR), then FLIP_LEFT_RIGHT if flipped, then the
  ImageEnhance ops (0 brightness, 1 contrast, 2 saturation=Color) in the listed order.
"""
import hashlib
import io
import json
import os
import sys

import numpy as np
from PIL import Image, ImageEnhance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "caltech101", "images"))
OUT = os.path.join(ROOT, "Tests", "TeacherExportTests", "Fixtures", "images")
BILINEAR = Image.Resampling.BILINEAR
BICUBIC = Image.Resampling.BICUBIC


def sha(b):
    return hashlib.sha256(b).hexdigest()


def load(rel):
    with Image.open(os.path.join(DATA, rel)) as im:
        return im.convert("RGB")


def eval_resize_size(w, h, s):
    short = min(w, h)
    if w <= h:
        return s, round(h * s / short)
    return round(w * s / short), s


def eval_crop(im, s):
    w, h = eval_resize_size(im.width, im.height, s)
    r = im.resize((w, h), BILINEAR)
    left, top = (w - s) // 2, (h - s) // 2
    return r, r.crop((left, top, left + s, top + s))


def teacher_tensor(crop, mean, std):
    a = np.asarray(crop, dtype=np.float32)
    x = (a - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)).astype(np.float32)


ENHANCERS = [ImageEnhance.Brightness, ImageEnhance.Contrast, ImageEnhance.Color]


def render_view(im, box, size, flip, factors, order):
    x, y, w, h = box
    out = im.crop((x, y, x + w, y + h)).resize((size, size), BILINEAR)
    if flip:
        out = out.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for op in order:
        f = float(np.float32(factors[op]))
        if f != 1.0:
            out = ENHANCERS[op](out).enhance(f)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    train = [l.strip() for l in open(os.path.join(DATA, "..", "train.txt")) if l.strip()]
    grey = ["scissors/image_0003.jpg", "mayfly/image_0040.jpg", "Motorbikes/image_0512.jpg"]
    extremes = ["flamingo/image_0002.jpg", "Leopards/image_0001.jpg", "Faces/image_0163.jpg",
                "airplanes/image_0493.jpg"]
    picks = train[::450] + grey + extremes
    ref = {"pillow_version": Image.__version__, "images_root": "../shared/data/caltech101/images"}

    ref["file_sha256"] = [{"path": p, "sha256": sha(open(os.path.join(DATA, p), "rb").read())}
                          for p in picks[:6]]

    ref["decode"] = []
    for p in picks:
        with Image.open(os.path.join(DATA, p)) as im:
            mode = im.mode
            rgb = im.convert("RGB")
        ref["decode"].append({"path": p, "mode": mode, "width": rgb.width, "height": rgb.height,
                              "rgb_sha256": sha(rgb.tobytes())})
    # Full decoded arrays of two small images (one greyscale) for element-wise diagnostics.
    for p, name in [("flamingo/image_0002.jpg", "decode_flamingo_0002.rgb"),
                    ("scissors/image_0003.jpg", "decode_scissors_0003.rgb")]:
        open(os.path.join(OUT, name), "wb").write(load(p).tobytes())

    ref["resize"] = []
    for p in picks:
        im = load(p)
        w, h = im.size
        targets = [eval_resize_size(w, h, 224), (96, 96), (57, 41), (2 * w + 1, (3 * h) // 2),
                   (w // 3, h + 7)]
        for filt, fname in [(BILINEAR, "bilinear"), (BICUBIC, "bicubic")]:
            for tw, th in targets:
                if filt == BICUBIC and (tw, th) != targets[0] and (tw, th) != (57, 41):
                    continue
                ref["resize"].append({"path": p, "filter": fname, "width": tw, "height": th,
                                      "rgb_sha256": sha(im.resize((tw, th), filt).tobytes())})

    # Pass order (Pillow 13: vertical first when the height shrinks by more than twice
    # as many pixels as the width) on a 200x200 crop of a real image, around the boundary.
    square = load("Faces/image_0163.jpg").crop((100, 50, 300, 250))
    ref["resize_order"] = []
    for tw, th in [(150, 99), (150, 100), (150, 101), (100, 10), (300, 40), (60, 199), (200, 120)]:
        for filt, fname in [(BILINEAR, "bilinear"), (BICUBIC, "bicubic")]:
            ref["resize_order"].append({"path": "Faces/image_0163.jpg", "crop": [100, 50, 200, 200],
                                        "filter": fname, "width": tw, "height": th,
                                        "rgb_sha256": sha(square.resize((tw, th), filt).tobytes())})

    ref["eval"] = []
    for p in picks:
        im = load(p)
        for s in (224, 112):
            r, c = eval_crop(im, s)
            ref["eval"].append({"path": p, "size": s, "resized_width": r.width, "resized_height": r.height,
                                "crop_sha256": sha(c.tobytes())})

    cards = {"efficientnet_lite0": ([127.0] * 3, [128.0] * 3), "mobilenet_v2_1.0_224": ([128.0] * 3, [128.0] * 3),
             "imagenet_style": ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])}
    ref["teacher"] = []
    for i, p in enumerate(picks[:5]):
        _, c = eval_crop(load(p), 224)
        for name, (mean, std) in cards.items():
            t = teacher_tensor(c, mean, std)
            entry = {"path": p, "card": name, "mean": mean, "std": std, "size": 224,
                     "tensor_sha256": sha(t.tobytes())}
            if i == 0 and name == "imagenet_style":
                entry["tensor_file"] = "teacher_tensor_0.f32"
                t.tofile(os.path.join(OUT, entry["tensor_file"]))
            ref["teacher"].append(entry)

    # Colour-jitter ops on a small real image (64x48), each op and factor alone.
    base = load("Leopards/image_0001.jpg").resize((64, 48), BILINEAR)
    base.save(os.path.join(OUT, "jitter_base.png"))
    ref["jitter"] = []
    for op in range(3):
        for f in (0.0, 0.37, 0.81, 1.0, 1.29, 1.6, 2.5):
            out = ENHANCERS[op](base).enhance(float(np.float32(f)))
            ref["jitter"].append({"op": op, "factor": float(np.float32(f)), "rgb_sha256": sha(out.tobytes())})

    # Views: fixed parameter sets rendered with Pillow at teacher 224 and student 112/96.
    views = [
        ("accordion/image_0002.jpg", (10, 20, 150, 120), False, (1.0, 1.0, 1.0), (0, 1, 2)),
        ("accordion/image_0002.jpg", (0, 0, 232, 250), True, (1.0, 1.0, 1.0), (0, 1, 2)),
        ("Faces/image_0163.jpg", (101, 37, 404, 301), True, (0.7, 1.3, 0.6), (2, 0, 1)),
        ("scissors/image_0003.jpg", (5, 60, 90, 140), False, (1.35, 0.75, 1.2), (1, 2, 0)),
        ("flamingo/image_0002.jpg", (3, 4, 40, 30), True, (0.9, 1.1, 1.4), (0, 2, 1)),
        ("airplanes/image_0493.jpg", (0, 0, 397, 104), False, (1.0, 0.6, 1.0), (1, 0, 2)),
    ]
    ref["views"] = []
    for p, box, flip, factors, order in views:
        im = load(p)
        entry = {"path": p, "box": list(box), "flip": flip,
                 "factors": [float(np.float32(f)) for f in factors], "order": list(order)}
        for s in (224, 112, 96):
            entry[f"sha256_{s}"] = sha(render_view(im, box, s, flip, factors, order).tobytes())
        ref["views"].append(entry)

    # PNG variants of a real 37x23 crop, each with Pillow's convert("RGB") reference.
    src = load("Faces/image_0163.jpg").crop((200, 100, 237, 123))
    a = np.asarray(src)
    alpha = Image.fromarray(((np.arange(37)[None, :] * 7 + np.arange(23)[:, None] * 11) % 256).astype(np.uint8))
    rgba = src.copy(); rgba.putalpha(alpha)
    la = src.convert("L").copy(); la.putalpha(alpha)
    pal = src.quantize(colors=50)
    pal_t = pal.copy(); pal_t.info["transparency"] = 3
    grey16 = Image.fromarray(np.asarray(src.convert("L")).astype(np.uint16) * 257)
    pngs = [("png_rgb.png", src, {}), ("png_rgba.png", rgba, {}), ("png_l.png", src.convert("L"), {}),
            ("png_la.png", la, {}), ("png_p.png", pal, {}), ("png_p_trns.png", pal_t, {"transparency": 3}),
            ("png_1bit.png", src.convert("L").point(lambda v: 255 if v > 120 else 0).convert("1"), {})]
    ref["png"] = []
    for name, im, opts in pngs:
        path = os.path.join(OUT, name)
        im.save(path, **opts)
        with Image.open(path) as re:
            mode = re.mode
            rgb = re.convert("RGB")
        ref["png"].append({"file": name, "mode": mode, "width": rgb.width, "height": rgb.height,
                           "rgb_sha256": sha(rgb.tobytes())})
    # 16-bit greyscale: Pillow's convert("RGB") clips I;16 values at 255 (it does not
    # scale), so the reference here is the 8-bit source the 16-bit values were made from
    # (v16 = v8 * 257), which is what scaling to 8 bits must give back.
    grey16.save(os.path.join(OUT, "png_grey16.png"))
    ref["png16"] = {"file": "png_grey16.png", "width": 37, "height": 23,
                    "rgb_sha256": sha(src.convert("L").convert("RGB").tobytes())}

    # CMYK JPEG (Pillow writes an Adobe marker and inverted CMYK).
    cmyk_path = os.path.join(OUT, "cmyk.jpg")
    load("Faces/image_0163.jpg").crop((150, 80, 230, 140)).convert("CMYK").save(cmyk_path, quality=90)
    with Image.open(cmyk_path) as re:
        ref["cmyk"] = {"file": "cmyk.jpg", "mode": re.mode, "width": re.width, "height": re.height,
                       "rgb_sha256": sha(re.convert("RGB").tobytes())}

    json.dump(ref, open(os.path.join(OUT, "reference.json"), "w"), indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
