#!/usr/bin/env python3
"""Plots of a `distill sweep` directory (matplotlib, Agg backend).

Usage: plot_sweep.py OUT/results.csv [--out OUT/plots]

Reads results.csv (columns: run, the varied parameters, status, best_top1, best_epoch,
last_top1, last_top5, wall_seconds, run_dir) and each run's run_dir/metrics.jsonl, and writes
  test_top1_per_epoch.png    test top-1 against epoch, one line per run
  top1_vs_<parameter>.png    best and last test top-1 against each varied parameter
Exits non-zero with a message naming the file when an input is missing or malformed.
"""
import argparse
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

FIXED = ["run", "status", "best_top1", "best_epoch", "last_top1", "last_top5", "wall_seconds", "run_dir"]


def read_results(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in FIXED if c not in header]
        if missing:
            sys.exit(f"{path}: missing columns {missing} (not a distill sweep results.csv?)")
        varied = header[1:header.index("status")]
        return varied, list(reader)


def epoch_curve(run_dir):
    """(epoch numbers 1-based, test top-1 in %) from the run's metrics.jsonl epoch lines."""
    path = os.path.join(run_dir, "metrics.jsonl")
    xs, ys = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON: {e}")
            if obj.get("type") == "epoch" and "test_top1" in obj:
                xs.append(obj["epoch"] + 1)
                ys.append(100 * obj["test_top1"])
    return xs, ys


def as_number(s):
    try:
        x = float(s)
        return x if math.isfinite(x) else None
    except ValueError:
        return None


def plot_curves(rows, out):
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in rows:
        xs, ys = epoch_curve(r["run_dir"])
        if xs:
            ax.plot(xs, ys, marker="o", markersize=3, label=r["run"])
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test top-1 (%)")
    ax.set_title("test top-1 per epoch")
    ax.grid(alpha=0.3)
    if len(rows) <= 20:
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = os.path.join(out, "test_top1_per_epoch.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_parameter(rows, name, out):
    values = [r[name] for r in rows]
    numbers = [as_number(v) for v in values]
    best = [100 * float(r["best_top1"]) for r in rows]
    last = [100 * float(r["last_top1"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    if all(x is not None for x in numbers):
        xs = numbers
        positive = all(x > 0 for x in xs)
        if positive and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
    else:
        labels = sorted(set(values))
        xs = [labels.index(v) for v in values]
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=20)
    ax.scatter(xs, best, label="best", marker="o")
    ax.scatter(xs, last, label="last", marker="x")
    ax.set_xlabel(name)
    ax.set_ylabel("test top-1 (%)")
    ax.set_title(f"test top-1 vs {name}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    path = os.path.join(out, f"top1_vs_{safe}.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", help="results.csv of a distill sweep")
    ap.add_argument("--out", help="output directory (default: plots/ beside results.csv)")
    args = ap.parse_args()
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.results)), "plots")
    os.makedirs(out, exist_ok=True)
    varied, rows = read_results(args.results)
    rows = [r for r in rows if r["status"] == "finished"]
    if not rows:
        sys.exit(f"{args.results}: no finished runs to plot")
    written = [plot_curves(rows, out)] + [plot_parameter(rows, name, out) for name in varied]
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
