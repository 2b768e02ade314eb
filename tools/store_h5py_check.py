#!/usr/bin/env python3
"""Interop check: open an embedding store with h5py and compare every dataset and
attribute with the expected values written by the Swift test.

usage: store_h5py_check.py STORE.h5 EXPECTED.json
EXPECTED.json: {"attrs": {name: value}, "class_names": [...],
                "images": {"path": [...], "content_hash": [...], "label": [...],
                           "synthetic": [...], "provenance": [...]},
                "records": {"embedding": [[...]], "logits": [[...]] or null, "label": [...],
                            "image_index": [...], "view_index": [...], "synthetic": [...],
                            "augmentation": [[...]], "pixels": [flat uint8 list]},
                "embedding_dtype": "float16" | "float32", "input_shape": [H, W, 3]}
Prints "ok" and exits 0 when everything matches; otherwise prints one line per
mismatch and exits 1.
"""
import json
import sys

import h5py
import numpy as np


def main():
    store, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        exp = json.load(f)
    problems = []

    def check(what, ok):
        if not ok:
            problems.append(what)

    with h5py.File(store, "r") as h5:
        for name, value in exp["attrs"].items():
            got = h5.attrs.get(name)
            if isinstance(got, bytes):
                got = got.decode("utf-8")
            if isinstance(value, str):
                check(f"attr {name}: {got!r} != {value!r}", isinstance(got, str) and got == value)
            else:
                check(f"attr {name}: {got!r} != {value!r}", got is not None and int(got) == value)
        for name in ("preprocessing", "augmentation_policy", "augmentation_fields", "export_metadata"):
            json.loads(h5.attrs[name])  # every JSON attribute parses

        names = [s.decode("utf-8") if isinstance(s, bytes) else s for s in h5["class_names"].asstr()[()]]
        check(f"class_names {names} != {exp['class_names']}", names == exp["class_names"])

        for name, values in exp["images"].items():
            ds = h5["images"][name]
            if name in ("path", "content_hash", "provenance"):
                got = list(ds.asstr()[()])
                check(f"images/{name} differs", got == values)
            else:
                dtype = np.int32 if name == "label" else np.uint8
                check(f"images/{name} dtype {ds.dtype}", ds.dtype == dtype)
                check(f"images/{name} differs", np.array_equal(ds[()], np.array(values, dtype=dtype)))

        rec = h5["records"]
        emb = rec["embedding"]
        check(f"embedding dtype {emb.dtype} != {exp['embedding_dtype']}", emb.dtype == np.dtype(exp["embedding_dtype"]))
        want = np.array(exp["records"]["embedding"], dtype=np.float32)
        check(f"embedding shape {emb.shape} != {want.shape}", emb.shape == want.shape)
        check("embedding values differ", np.array_equal(emb[()].astype(np.float32), want))
        check("embedding has no Fletcher32", emb.fletcher32 and emb.chunks is not None)
        if exp["records"]["logits"] is None:
            check("unexpected records/logits", "logits" not in rec)
        else:
            want = np.array(exp["records"]["logits"], dtype=np.float32)
            check("logits differ", rec["logits"].dtype == np.float32 and np.array_equal(rec["logits"][()], want))
        for name, dtype in (("label", np.int32), ("image_index", np.int64), ("view_index", np.int32),
                            ("synthetic", np.uint8)):
            ds = rec[name]
            check(f"records/{name} dtype {ds.dtype}", ds.dtype == dtype)
            check(f"records/{name} differs", np.array_equal(ds[()], np.array(exp["records"][name], dtype=dtype)))
            check(f"records/{name} has no Fletcher32", ds.fletcher32)
        aug = rec["augmentation"]
        check("augmentation differs", aug.dtype == np.float32 and
              np.array_equal(aug[()], np.array(exp["records"]["augmentation"], dtype=np.float32)))
        pix = rec["pixels"]
        n = len(exp["records"]["label"])
        shape = (n, *exp["input_shape"])
        check(f"pixels shape {pix.shape} != {shape}", pix.shape == shape and pix.dtype == np.uint8)
        check("pixels differ", np.array_equal(pix[()].reshape(-1), np.array(exp["records"]["pixels"], dtype=np.uint8)))

    if problems:
        for p in problems:
            print(p)
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
