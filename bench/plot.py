#!/usr/bin/env python3
"""Plots for a bench/run.sh results directory, with gnuplot.

    bench/plot.py OUT_DIR

Reads OUT_DIR/results.json and writes:
  patch_size.png        patch bytes as % of the new image, per pair and tool
                        (log scale: the tools differ by orders of magnitude)
  apply_vs_memory.png   apply throughput (new bytes / apply s) against peak
                        RSS, one point per pair and tool (log-log; upper
                        left is better)
  scaling.png           (when the run had --scaling) diff and apply time and
                        peak RSS against image size, one line per tool
The data files and the gnuplot script are kept beside them (plots/), so a
figure can be re-made or restyled without re-running the benchmark.
"""
import json
import os
import subprocess
import sys

LABEL = {
    "updelta": "updelta (out of place)",
    "updelta-inplace": "updelta (in place, journaled)",
    "bsdiff": "bsdiff / bspatch",
    "xdelta3": "xdelta3 -9 -S lzma",
    "zstd-patch": "zstd -19 --long --patch-from",
    "zstd-ultra": "zstd --ultra -22 --long --patch-from",
    "zstd-19": "zstd -19 (no delta)",
}


def label(t):
    if t.startswith("updelta-inplace-"):
        return "updelta (in place, journaled, %s)" % t[len("updelta-inplace-"):]
    return LABEL.get(t, t)


def in_order(res):
    """Tool names in the order of results.json (run.sh's table order)."""
    seen = []
    for r in res:
        if r["tool"] not in seen:
            seen.append(r["tool"])
    return seen


def scaling(doc, pdir):
    """scaling.dat (one block per tool) and its gnuplot script; False if
    the run had no scaling series."""
    res = doc.get("scaling") or []
    if not res:
        return False
    drawable = set()    # (tool, column) with a value the log scale can show

    def val(t, col, v):
        if v is not None and v > 0:
            drawable.add((t, col))
            return "%.4f" % v
        return "NaN"
    with open(os.path.join(pdir, "scaling.dat"), "w") as f:
        f.write("# new MiB, diff s, diff RSS MiB, apply s, apply RSS MiB, diff CPU s, apply CPU s"
                " (NaN: not ok; CPU seconds under GNU time's 0.01 s resolution drawn at 0.005)\n")
        for t in in_order(res):
            f.write("# %s\n" % t)
            for r in res:
                if r["tool"] != t:
                    continue
                ok = r["status"] == "ok"
                d, a = r.get("diff") or {}, r.get("apply") or {}

                def med(x, k, div=1.0):
                    v = x.get(k)
                    return v["median"] / div if v else None

                def cpu(x):
                    u, s = x.get("user_s"), x.get("sys_s")
                    return max(u["median"] + s["median"], 0.005) if u and s else None
                cols = [med(d, "elapsed_s"), med(d, "rss_kib", 1024.0),
                        med(a, "elapsed_s") if ok else None,
                        med(a, "rss_kib", 1024.0) if ok else None,
                        cpu(d), cpu(a) if ok else None]
                f.write("%.1f %s\n" % (r["new_bytes"] / 1048576.0,
                                       " ".join(val(t, i + 2, v) for i, v in enumerate(cols))))
            f.write("\n\n")
    tools = in_order(res)

    def panel(col, title, ylabel, diff):
        # the in-place rows repeat updelta's diff: one line for it is enough
        lines = ", ".join("'scaling.dat' index %d using 1:%d with linespoints lt %d pt %d title '%s'"
                          % (i, col, i + 1, 5 + i, label(t)) for i, t in enumerate(tools)
                          if not (diff and t.startswith("updelta-inplace"))
                          and (t, col) in drawable)
        if not lines:    # gnuplot refuses a plot with no defined point
            return "set title '%s'\nset ylabel '%s'\nset label 1 'no successful run' at graph 0.5,0.5 center\nplot 1 notitle lc rgb 'white'\nunset label 1\n" % (title, ylabel)
        return "set title '%s'\nset ylabel '%s'\nplot %s\n" % (title, ylabel, lines)
    script = """
set terminal pngcairo size 1800,1000 font ',10'
set output '../scaling.png'
set logscale xy
set xlabel 'new image, MiB'
set grid
set key top left font ',8'
set multiplot layout 2,3 title 'Scaling: synthetic exe-like pairs, one run per point (log-log; missing point = TIMEOUT/OOM/FAIL)'
%s%s%s%s%s%sunset multiplot
""" % (panel(2, "diff: wall seconds", "seconds", True),
       panel(6, "diff: user + system CPU seconds", "seconds", True),
       panel(3, "diff: peak RSS", "MiB", True),
       panel(4, "apply: wall seconds", "seconds", False),
       panel(7, "apply: user + system CPU seconds", "seconds", False),
       panel(5, "apply: peak RSS", "MiB", False))
    with open(os.path.join(pdir, "scaling.gp"), "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", "scaling.gp"], cwd=pdir, check=True)
    return True


def main(out):
    with open(os.path.join(out, "results.json")) as f:
        doc = json.load(f)
    res = doc["results"]
    pdir = os.path.join(out, "plots")
    os.makedirs(pdir, exist_ok=True)
    drawn = []
    if scaling(doc, pdir):
        drawn.append(os.path.join(out, "scaling.png"))
    if not res:
        print("plots: %s" % ", ".join(drawn))
        return
    rows = {(r["pair"], r["tool"]): r for r in res if r.get("status") == "ok"}
    pairs = []
    for r in res:
        if r["pair"] not in pairs:
            pairs.append(r["pair"])
    tools = [t for t in in_order(res) if any((p, t) in rows for p in pairs)]

    # patch size: one row per pair, one column per tool (the in-place rows
    # repeat the out-of-place package, so they are left out here)
    size_tools = [t for t in tools if not t.startswith("updelta-inplace")]
    with open(os.path.join(pdir, "patch_size.dat"), "w") as f:
        f.write("# pair " + " ".join(size_tools) + "\n")
        for p in pairs:
            vals = []
            for t in size_tools:
                r = rows.get((p, t))
                vals.append("%.4f" % r["patch_pct_of_new"] if r else "NaN")
            f.write(p + " " + " ".join(vals) + "\n")

    # apply MB/s (new bytes / median apply s) vs peak RSS: one block per tool
    with open(os.path.join(pdir, "apply.dat"), "w") as f:
        for t in tools:
            f.write("# %s\n" % t)
            for p in pairs:
                r = rows.get((p, t))
                a = r.get("apply") if r else None
                if a and a.get("elapsed_s") and a["elapsed_s"]["median"] > 0:
                    f.write("%s %.2f %.1f\n" % (p, r["new_bytes"] / 1e6 / a["elapsed_s"]["median"],
                                                a["rss_kib"]["median"] / 1024.0))
            f.write("\n\n")

    cols = ", ".join(
        "'patch_size.dat' using %d:xtic(1) title '%s'" % (i + 2, label(t))
        for i, t in enumerate(size_tools))
    pts = ", ".join(
        "'apply.dat' index %d using 3:2 with points pt %d ps 1.6 title '%s'"
        % (i, 5 + i, label(t)) for i, t in enumerate(tools) if t != "zstd-19")
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
set title 'Apply: throughput against peak RSS, one point per pair (median; upper left is better)'
unset style
set logscale xy
set autoscale
set xlabel 'peak RSS, MiB'
set ylabel 'apply, MB/s of new image'
set key outside right
plot %s
""" % (cols, pts)
    with open(os.path.join(pdir, "plots.gp"), "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", "plots.gp"], cwd=pdir, check=True)
    drawn += [os.path.join(out, "patch_size.png"), os.path.join(out, "apply_vs_memory.png")]
    print("plots: %s" % ", ".join(drawn))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bench/plot.py OUT_DIR")
    main(sys.argv[1])
