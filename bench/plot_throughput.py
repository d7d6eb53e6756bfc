"""Plot pub/sub throughput (MB/s, log scale) against message size, one line per system.

    python plot_throughput.py DATA.json OUT.png

DATA.json: {"title": str, "series": {system: [[size_bytes, median, lo, hi], ...]}}.
bench/run.py calls plot() in-process when matplotlib is importable, otherwise runs this file
with a Python that has it (e.g. Debian's /usr/bin/python3 with python3-matplotlib).
"""

import json
import sys

STYLE = {
    "yoton": dict(color="#d62728", marker="o", linewidth=2.5),
    "yoton-block": dict(color="#e377c2", marker="o", linestyle="--", linewidth=2),
    "yoton-sync": dict(color="#bcbd22", marker="o", linestyle=":"),
    "zmq": dict(color="#1f77b4", marker="s"),
    "nng-push": dict(color="#2ca02c", marker="^"),
    "nng-pub": dict(color="#2ca02c", marker="v", linestyle=":"),
    "rawtcp": dict(color="black", marker="D"),
    "rawtcp-batched": dict(color="gray", marker="d", linestyle="--"),
    "pyyoton": dict(color="#9467bd", marker="x"),
    "mixed C->py": dict(color="#ff7f0e", marker="<", linestyle="-."),
    "mixed py->C": dict(color="#8c564b", marker=">", linestyle="-."),
}


def size_label(n):
    if n >= 1 << 20:
        return "%d MiB" % (n >> 20)
    if n >= 1 << 10:
        return "%d KiB" % (n >> 10)
    return "%d B" % n


def plot(data, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    sizes = set()
    for name, pts in data["series"].items():
        pts = sorted(p for p in pts if p[1] and p[1] > 0)
        if not pts:
            continue
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        lo = [max(p[1] - p[2], 0) for p in pts]
        hi = [max(p[3] - p[1], 0) for p in pts]
        sizes.update(xs)
        ax.errorbar(xs, ys, yerr=[lo, hi], label=name, capsize=3, **STYLE.get(name, {}))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ticks = sorted(sizes)
    ax.set_xticks(ticks)
    ax.set_xticklabels([size_label(s) for s in ticks])
    ax.set_xlabel("message size")
    ax.set_ylabel("throughput at the subscriber, MB/s (10^6 B/s, log scale)")
    ax.set_title(data.get("title", "pub/sub throughput"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        plot(json.load(f), sys.argv[2])
