#!/usr/bin/env python3
"""Summary of a `tools/paper-table` run: results.md and its plots (matplotlib).

Usage: paper_table.py OUT EPOCHS ONLINE_EPOCHS VIEWS SIZE STUDENT THREADS FINETUNE_LR

Reads OUT/times.txt (step wall times), OUT/probe.json and OUT/runs/*/{summary.json,
metrics.jsonl}; writes OUT/results.md, OUT/test_top1_per_epoch.png and OUT/cost.png.
"""
import json
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_sweep import plot_curves  # noqa: E402

ROWS = [("fresh (CE only)", "fresh", False),
        ("pre-trained + finetuned (ImageNet MobileNetV2)", "pretrained", False),
        ("CE + KD", "kd", True),
        ("CE + A/U + KD (the paper's method)", "au", True)]


def duration(seconds):
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"{path}: {e}")


def epoch_seconds(run_dir):
    """Wall seconds of each epoch (training + test evaluation) from metrics.jsonl."""
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    return [e["seconds"] for e in lines if e.get("type") == "epoch" and "seconds" in e]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main():
    if len(sys.argv) != 9:
        sys.exit(__doc__)
    out, epochs, online_epochs, views, size, student, threads, finetune_lr = sys.argv[1:]
    epochs, online_epochs = int(epochs), int(online_epochs)
    times = {}
    with open(os.path.join(out, "times.txt")) as f:
        for line in f:
            name, seconds = line.split()
            times[name] = float(seconds)
    probe = load_json(os.path.join(out, "probe.json"))
    runs = {run: load_json(os.path.join(out, "runs", run, "summary.json")) for _, run, _ in ROWS}
    online = load_json(os.path.join(out, "runs", "au-online", "summary.json"))
    teacher_s = times["export_train"] + times["export_test"] + times["probe"]
    # Student cost = the whole `distill train` command (training plus the test-set
    # evaluation after every epoch), as times.txt measured it.
    online_epoch_s = times["au_online"] / online_epochs
    online_total = online_epoch_s * epochs + times["probe"]

    lines = ["| row | test top-1 (last) | best | student run | median training epoch | teacher cost | total |",
             "|---|---|---|---|---|---|---|"]
    totals = []
    for label, run, uses_teacher in ROWS:
        s = runs[run]
        t = teacher_s if uses_teacher else 0
        run_s = times[run]
        totals.append((label, run_s, t))
        median = statistics.median(epoch_seconds(os.path.join(out, "runs", run)))
        lines.append(f"| {label} | {s['lastTop1'] * 100:.2f}% | {s['bestTop1'] * 100:.2f}% | "
                     f"{duration(run_s)} | {median:.0f} s | {duration(t)} | "
                     f"{duration(run_s + t)} |")
    table = lines

    au, pre = runs["au"], runs["pretrained"]
    verdict = ("matches or beats" if au["lastTop1"] >= pre["lastTop1"] else "falls short of")
    gap = (au["lastTop1"] - pre["lastTop1"]) * 100
    au_s = times["au"]
    au_total = au_s + teacher_s
    curves = plot_curves([{"run": label, "run_dir": os.path.join(out, "runs", run)} for label, run, _ in ROWS], out)

    fig, ax = plt.subplots(figsize=(8, 4))
    names = [label for label, _, _ in totals] + ["CE + A/U + KD, teacher online (projected)"]
    student_min = [s / 60 for _, s, _ in totals] + [online_epoch_s * epochs / 60]
    teacher_min = [t / 60 for _, _, t in totals] + [times["probe"] / 60]
    ax.barh(names, student_min, label="student training")
    ax.barh(names, teacher_min, left=student_min, label="teacher export + probe (once)")
    ax.set_xlabel("wall minutes")
    ax.set_title(f"cost per row, {epochs} epochs")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    cost_png = os.path.join(out, "cost.png")
    fig.savefig(cost_png, dpi=120)
    plt.close(fig)

    text = [
        "# Results: distillation vs pre-training on Caltech-101", "",
        f"Student {student} (width 1.0) at {size}x{size} (reduced from the paper's 224 for CPU), teacher "
        f"EfficientNet-Lite0 (ImageNet weights from ../shared/models; its linear probe on the cached "
        f"embeddings reaches **{probe['test_top1'] * 100:.2f}%** test top-1 and gives the KD logits), "
        f"{views} cached augmented views per training image, {epochs} epochs per row, AdamW (peak lr 1e-3; "
        f"{finetune_lr}, the usual 10x lower fine-tuning rate, for the pre-trained row), weight decay 0.01, "
        f"batch 64, cosine schedule, seed 0, {threads} threads. The pre-trained row loads the ImageNet "
        f"MobileNetV2 of ../shared/models (batch norm folded into its convolutions) and re-derives batch-norm "
        f"statistics from 128 training records before fine-tuning (`distill train --init-from`). Caltech-101 split of ../shared/data: "
        f"{probe['train_records'] // int(views)} training images, {probe['test_records']} test images, "
        f"{probe['classes']} classes.", "",
        f"Machine: {os.cpu_count()} cores ({cpu_model()}), Debian 12, Swift 6.3.1, OpenBLAS.", "",
        *table, "",
        f"**Answer to the paper's question, at this budget:** the distilled student (CE + A/U + KD) "
        f"{verdict} the pre-trained + finetuned one ({au['lastTop1'] * 100:.2f}% vs {pre['lastTop1'] * 100:.2f}%, "
        f"{gap:+.2f} points), at a total cost of {duration(au_total)} on this machine, teacher export included, "
        f"without any ImageNet pre-training of the student (the pre-trained row's ImageNet training is not "
        f"counted here: it was done elsewhere, on far more compute). Against the fresh student trained "
        f"from the same store, CE + KD is {(runs['kd']['lastTop1'] - runs['fresh']['lastTop1']) * 100:+.2f} "
        f"and CE + A/U + KD {(au['lastTop1'] - runs['fresh']['lastTop1']) * 100:+.2f} points.", "",
        f"Teacher export (once, both splits, plus the probe): {duration(teacher_s)}; every distilled run reuses it, "
        f"so a sweep of N distilled runs pays it once.",
        f"Same A/U run with the teacher run online at every step (`distill train --online-teacher`): "
        f"{online_epoch_s:.0f} s per epoch measured over {online_epochs} epoch(s) (start-up included), i.e. {duration(online_epoch_s * epochs)} "
        f"for {epochs} epochs, against {duration(au_s)} from the cache "
        f"(the cached run takes {au_s / (online_epoch_s * epochs):.2f}x the online run's time; "
        f"with the export counted, {au_total / online_total:.2f}x for one run and "
        f"{(au_s + teacher_s / 10) / online_total:.2f}x per run in a 10-run sweep). Student run times "
        f"are whole `distill train` commands (training plus a test-set evaluation after every epoch); "
        f"the median training epoch excludes the evaluation.", "",
        f"Wall time of all steps: {duration(sum(times.values()))} "
        f"({', '.join(f'{k} {duration(v)}' for k, v in times.items())}).", "",
        "![test top-1 per epoch](test_top1_per_epoch.png)", "",
        "![cost per row](cost.png)", "",
        "## Reproduce", "",
        "On a checkout with ../shared beside it (PUBLISH=1 rewrites this page and its plots):", "",
        "```bash",
        " ".join(f"{k}={os.environ[k]}" for k in ["EPOCHS", "VIEWS", "SIZE", "STUDENT", "THREADS", "ONLINE_EPOCHS",
                                                  "CLASSES", "OUT"] if os.environ.get(k)) + " tools/paper-table",
        "```", "",
    ]
    commands = os.path.join(out, "commands.txt")
    if os.path.exists(commands):
        with open(commands) as f:
            text += ["The steps it ran, in order (each one's wall time above):", "", "```bash",
                     *[line.rstrip() for line in f if line.strip()], "```", ""]
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(text) + "\n")
    print("\n".join(text))
    print(curves)
    print(cost_png)


if __name__ == "__main__":
    main()
