#!/usr/bin/env python3
"""Plots for a bench/run.sh results directory, with gnuplot.

    bench/plot.py OUT_DIR

Reads OUT_DIR/results.json and writes:
  patch_size.png        patch bytes as % of the new image, per pair and tool
                        (log scale: the tools differ by orders of magnitude)
  apply_vs_memory.png   apply time against peak RSS, one point per pair and
                        tool (log-log; lower left is better)
The data files and the gnuplot script are kept beside them (plots/), so a
figure can be re-made or restyled without re-running the benchmark.
"""
import json
import os
import subprocess
import sys

TOOLS = ["updelta", "updelta-inplace", "bsdiff", "xdelta3", "zstd-patch", "zstd-19"]
LABEL = {
    "updelta": "updelta (out of place)",
    "updelta-inplace": "updelta (in place, journaled)",
    "bsdiff": "bsdiff / bspatch",
    "xdelta3": "xdelta3 -9 -S lzma",
    "zstd-patch": "zstd -19 --long=27 --patch-from",
    "zstd-19": "zstd -19 (no delta)",
}


def main(out):
    with open(os.path.join(out, "results.json")) as f:
        res = json.load(f)["results"]
    rows = {(r["pair"], r["tool"]): r for r in res if r.get("status") == "ok"}
    pairs = []
    for r in res:
        if r["pair"] not in pairs:
            pairs.append(r["pair"])
    tools = [t for t in TOOLS if any((p, t) in rows for p in pairs)]
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)

    # patch size: one row per pair, one column per tool (the in-place row
    # repeats the out-of-place package, so it is left out here)
    size_tools = [t for t in tools if t != "updelta-inplace"]
    with open(os.path.join(pdir, "patch_size.dat"), "w") as f:
        f.write("# pair " + " ".join(size_tools) + "\n")
        for p in pairs:
            vals = []
            for t in size_tools:
                r = rows.get((p, t))
                vals.append("%.4f" % r["patch_pct_of_new"] if r else "NaN")
            f.write(p + " " + " ".join(vals) + "\n")

    # apply time vs peak RSS: one block per tool
    with open(os.path.join(pdir, "apply.dat"), "w") as f:
        for t in tools:
            f.write("# %s\n" % t)
            for p in pairs:
                r = rows.get((p, t))
                a = r.get("apply") if r else None
                if a and a.get("elapsed_s"):
                    f.write("%s %.4f %.1f\n" % (p, a["elapsed_s"]["median"],
                                                a["rss_kib"]["median"] / 1024.0))
            f.write("\n\n")

    cols = ", ".join(
        "'patch_size.dat' using %d:xtic(1) title '%s'" % (i + 2, LABEL[t])
        for i, t in enumerate(size_tools))
    pts = ", ".join(
        "'apply.dat' index %d using 3:2 with points pt %d ps 1.6 title '%s'"
        % (i, 5 + i, LABEL[t]) for i, t in enumerate(tools) if t != "zstd-19")
    script = """
set terminal pngcairo size 1200,600 font ',11'
set output '../patch_size.png'
set title 'Patch size, %% of the new image (log scale; lower is better)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [0.01:*]
set ylabel '%% of new image'
set key outside bottom center horizontal
set grid ytics
plot %s

set output '../apply_vs_memory.png'
set title 'Apply: wall time against peak RSS (median; lower left is better)'
unset style
set logscale xy
set autoscale
set xlabel 'peak RSS, MiB'
set ylabel 'apply, seconds'
set key outside right
plot %s
""" % (cols, pts)
    with open(os.path.join(pdir, "plots.gp"), "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", "plots.gp"], cwd=pdir, check=True)
    print("plots: %s, %s" % (os.path.join(out, "patch_size.png"),
                             os.path.join(out, "apply_vs_memory.png")))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench/plot.py OUT_DIR")
    main(sys.argv[1])
