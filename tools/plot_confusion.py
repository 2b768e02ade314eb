#!/usr/bin/env python3
"""Draws the confusion matrix written by `distill eval --out DIR` as a PNG.

  .venv/bin/python tools/plot_confusion.py DIR/confusion.csv DIR/confusion.png [--title T]

Input: the CSV of `distill eval` (header `true\\predicted,<classes>`, one row per true
class with counts per predicted class). Cells are coloured by the row-normalised rate
(recall per true class); counts are printed in the cells when there are at most 30 classes.
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--title", default="confusion matrix")
    a = ap.parse_args()
    with open(a.csv, newline="") as f:
        rows = list(csv.reader(f))
    classes = rows[0][1:]
    counts = np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64)
    if counts.shape != (len(classes), len(classes)) or [r[0] for r in rows[1:]] != classes:
        sys.exit(f"{a.csv}: expected a square matrix over {len(classes)} classes, got {counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, dtype=float), where=totals > 0)
    k = len(classes)
    side = min(max(4.0, 0.28 * k + 2.5), 30.0)
    fig, ax = plt.subplots(figsize=(side, side))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(a.title, fontsize=9)
    fontsize = max(3, min(9, 300 // max(k, 1)))
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(classes, rotation=90, fontsize=fontsize)
    ax.set_yticklabels(classes, fontsize=fontsize)
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if counts[i, j]:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=fontsize,
                            color="white" if rates[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    fig.tight_layout()
    fig.savefig(a.png, dpi=120)


if __name__ == "__main__":
    main()
