#!/usr/bin/env python3
"""The bookkeeping of run.sh.

    report.py snapshot CRITERION_DIR OUT.json [--since EPOCH]
        Copies what criterion wrote (`<group>/<name>/new/{benchmark,estimates}.json`, the
        benchmarks updated since EPOCH) into one file, before the next `cargo bench` overwrites it.

    report.py table RESULTS_DIR
        Reads run.sh's rounds (roundN-generate.json, roundN-ort.json, roundN-train.json,
        roundN-keras*.json, check-*.json) and prints the comparison: Continuo vs ONNX Runtime for
        inference, Continuo vs Keras for training, min and median over the rounds.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import re
import subprocess
import sys
from pathlib import Path

# The benchmarks compared (group id, function id) as in benches/generate.rs and benches/train.rs.
FAST_TOKEN = ("one token, reference sizes (window 50)", "fast path (runtime-detected SIMD)")
GENERATE_32 = ("generate, reference sizes (window 50)", "32 tokens, batch 1, one thread")
TRAIN_STEP = ("train", "AdamW step, batch 128, reference sizes")
TRAIN_BATCH = 128
W = 48  # label width of the table


def snapshot(criterion_dir: Path, out: Path, since: float):
    found = []
    for bench in criterion_dir.glob("**/new/benchmark.json"):
        est = bench.with_name("estimates.json")
        if not est.exists() or est.stat().st_mtime < since:
            continue
        b = json.loads(bench.read_text())
        e = json.loads(est.read_text())
        found.append({
            "group_id": b.get("group_id"), "function_id": b.get("function_id"),
            "full_id": b.get("full_id"), "throughput": b.get("throughput"),
            "mean_ns": e["mean"]["point_estimate"], "median_ns": e["median"]["point_estimate"],
            "mean_ci_ns": [e["mean"]["confidence_interval"]["lower_bound"],
                           e["mean"]["confidence_interval"]["upper_bound"]],
        })
    out.write_text(json.dumps(found, indent=2))
    print(f"{len(found)} criterion estimates → {out}")


def _criterion(rounds, key):
    """Median-point-estimate nanoseconds of benchmark `key` in each round that has it."""
    xs = []
    for r in rounds:
        for b in r:
            if (b["group_id"], b["function_id"]) == key:
                xs.append(b["median_ns"])
    return xs


def _load(results: Path, pattern):
    return [json.loads(p.read_text()) for p in sorted(results.glob(pattern))]


def _fmt(xs, scale=1.0, digits=3):
    if not xs:
        return "—", "—"
    return f"{min(xs) * scale:.{digits}f}", f"{statistics.median(xs) * scale:.{digits}f}"


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def table(results: Path):
    gen = _load(results, "round*-generate.json")
    train = _load(results, "round*-train.json")
    ort = _load(results, "round*-ort.json")
    keras = {}
    for k in _load(results, "round*-keras*.json"):
        keras.setdefault(k["batch"], []).append(k)
    checks = _load(results, "check-*.json")

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Continuo vs peers, {now}, {cpu_model()}; {max(len(gen), len(ort), 1)} interleaved rounds",
             f"(results: {results})",
             "Ratios above 1 mean Continuo is faster.", ""]
    for c in checks:
        lg = c.get("logits", {})
        gen_ok = c.get("generate", [])
        same = sum(g["equal"] for g in gen_ok)
        ev = c.get("eval", {})
        lines.append(f"check {Path(c['model']).name}: max |ORT - numpy| logit {lg.get('max_abs_ort_vs_numpy_f64', float('nan')):.2g}; "
                     f"eval NLL/step |diff| {ev.get('abs_diff_nll_per_step', float('nan')):.2g}; "
                     f"greedy equal on {same}/{len(gen_ok)} prompts; {'OK' if c.get('ok') else 'MISMATCH'}")
    if checks:
        lines.append("")

    # Inference: ms per token.
    fast = [x / 1e6 for x in _criterion(gen, FAST_TOKEN)]
    gen32 = [x / 1e6 / 32 for x in _criterion(gen, GENERATE_32)]
    ref = statistics.median(fast) if fast else None
    lines.append("Inference, window 50, vocabulary 4096 (ms per token: min / median over rounds)")
    lines.append(f"  {'':{W}} {'min':>8} {'median':>8}  {'peer / Continuo fast path':>26}")
    mn, md = _fmt(fast)
    one = "1.00" if fast else "— (no criterion rounds)"
    lines.append(f"  {'Continuo fast path, batch 1, 1 thread':{W}} {mn:>8} {md:>8}  {one:>26}")
    mn, md = _fmt(gen32)
    r = f"{statistics.median(gen32) / ref:.2f}" if gen32 and ref else "—"
    lines.append(f"  {'Continuo generate (sampling incl.), b1, 1 thread':{W}} {mn:>8} {md:>8}  {r:>26}")
    configs = sorted({(x["batch"], x["threads"]) for o in ort for x in o["results"]}, key=lambda c: (c[1], c[0]))
    for b, n in configs:
        xs = [x["ms_per_token_median"] for o in ort for x in o["results"] if (x["batch"], x["threads"]) == (b, n)]
        mn, md = _fmt(xs)
        r = f"{statistics.median(xs) / ref:.2f}" if xs and ref else "—"
        label = f"ONNX Runtime, batch {b}, {n} thread{'s' if n > 1 else ''}" + (" (per window)" if b > 1 else "")
        lines.append(f"  {label:{W}} {mn:>8} {md:>8}  {r:>26}")
    lines.append("")

    # Training: windows per second. Ours two ways: products split over the cores (batch 128,
    # round 1's way) and data-parallel workers (what `continuo train` does), at each batch size;
    # each compared with Keras at the same batch size.
    ours = {}
    split = [TRAIN_BATCH / (x / 1e9) for x in _criterion(train, TRAIN_STEP)]
    workers_re = re.compile(r"AdamW step, batch (\d+), reference sizes, (\d+) workers")
    for r in train:
        for b in r:
            m = workers_re.fullmatch(b["function_id"]) if b["group_id"] == "train" else None
            if m:
                batch = int(m.group(1))
                ours.setdefault((batch, int(m.group(2))), []).append(batch / (b["median_ns"] / 1e9))
    lines.append("Training, window 50, vocabulary 4096 (windows/s: min / median over rounds; higher is faster)")
    lines.append(f"  {'':{W}} {'min':>8} {'median':>8}  {'Continuo / Keras, same batch':>26}")
    rows = [(f"Continuo, batch {TRAIN_BATCH}, products split over the cores", TRAIN_BATCH, split)]
    rows += [(f"Continuo, batch {b}, {n} data-parallel workers", b, xs) for (b, n), xs in sorted(ours.items())]
    for label, batch, xs in rows:
        mn, md = _fmt(xs, digits=1)
        kx = [k["windows_per_second_median"] for k in keras.get(batch, [])]
        r = f"{statistics.median(xs) / statistics.median(kx):.2f}" if xs and kx else "—"
        lines.append(f"  {label:{W}} {mn:>8} {md:>8}  {r:>26}")
    for batch in sorted(keras):
        xs = [k["windows_per_second_median"] for k in keras[batch]]
        mn, md = _fmt(xs, digits=1)
        k0 = keras[batch][0]
        label = f"Keras {k0['keras']} fit, batch {batch}, {k0['threads']} threads"
        lines.append(f"  {label:{W}} {mn:>8} {md:>8}  {'1.00':>26}")
    lines += ceiling(results, fast, ort, ours, keras)
    loads = [o.get("load_average", [float("nan")])[0] for o in ort]
    if loads:
        lines.append("")
        lines.append(f"load average at the ORT rounds: {', '.join(f'{x:.2f}' for x in loads)} "
                     f"(above ~0.5 on this machine means another job shared the cores)")
    text = "\n".join(lines)
    print(text)
    return text


ROOF = "roofline"


def _rate(rounds, which):
    """Median over rounds of the throughput per second (flop/s or bytes/s) of the roofline
    benchmark whose function id satisfies `which`."""
    xs = []
    for r in rounds:
        for b in r:
            if b["group_id"] == ROOF and which(b["function_id"]):
                (n,) = b["throughput"].values()
                xs.append(n / (b["median_ns"] / 1e9))
    return statistics.median(xs) if xs else None


def ceiling(results: Path, fast, ort, ours, keras):
    """What this machine allows at most (benches/roofline.rs) for the network's arithmetic
    (`continuo info --json`: seed::Arithmetic), and how close each contender comes."""
    roof = _load(results, "round*-roofline.json")
    arith = results / "arithmetic.json"
    if not roof or not arith.exists():
        return []
    a = json.loads(arith.read_text())
    m = a["multiply_adds"]
    fast_token = a["multiply_adds_fast_token"]
    peak1 = _rate(roof, lambda f: f == "fp32 FMA peak, one core")
    peak_all = _rate(roof, lambda f: f.startswith("fp32 FMA peak") and f.endswith("cores at once"))
    l2 = _rate(roof, lambda f: f.startswith("read 192 KiB"))
    if not (peak1 and peak_all and l2):
        return []
    G = 1e9
    out = ["", "Ceiling of this machine (benches/roofline.rs, medians over rounds; `continuo info --json` counts)",
           f"  fp32 FMA peak: {peak1 / G:.1f} GFLOP/s on one core, {peak_all / G:.1f} on all cores at once; "
           f"a GRU direction's recurrent weights read from L2 at {l2 / G:.1f} GB/s",
           f"  inference: {fast_token / 1e6:.1f} M multiply-adds per token in Continuo's fast path "
           f"({m['forward'] / 1e6:.1f} M as ORT computes it), {m['recurrent'] / 1e6:.1f} M of them "
           f"in {m['recurrent_bytes'] / 1e6:.1f} MB of sequential recurrent reads"]
    rec_ms = m["recurrent_bytes"] / l2 * 1e3
    rest_ms = 2 * (fast_token - m["recurrent"]) / peak1 * 1e3
    floor = rec_ms + rest_ms
    ort1 = [x["ms_per_token_median"] for o in ort for x in o["results"] if (x["batch"], x["threads"]) == (1, 1)]
    line = (f"    floor, one thread: recurrent reads at the L2 rate {rec_ms:.3f} ms + the other products "
            f"at the one-core peak {rest_ms:.3f} ms = {floor:.3f} ms per token")
    if ort1:
        line += f"; ORT median / floor = {statistics.median(ort1) / floor:.2f}× (the most any fp32 path could be ahead)"
    out.append(line)
    if fast:
        f = statistics.median(fast)
        out.append(f"    Continuo fast path: {2 * fast_token / (f / 1e3) / G:.1f} GFLOP/s "
                   f"({100 * 2 * fast_token / (f / 1e3) / peak1:.0f}% of one core's peak), {f / floor:.2f}× the floor")
    if ort1:
        o = statistics.median(ort1)
        out.append(f"    ONNX Runtime, batch 1, 1 thread: {2 * m['forward'] / (o / 1e3) / G:.1f} GFLOP/s "
                   f"({100 * 2 * m['forward'] / (o / 1e3) / peak1:.0f}%)")
    best = peak_all / (2 * m["training"])
    out.append(f"  training: {m['training'] / 1e6:.1f} M multiply-adds per window (forward + both backward "
               f"products): at the all-core peak at most {best:.0f} windows/s")
    for (batch, n), xs in sorted(ours.items()):
        w = statistics.median(xs)
        out.append(f"    Continuo, batch {batch}, {n} workers: {2 * m['training'] * w / G:.1f} GFLOP/s "
                   f"({100 * 2 * m['training'] * w / peak_all:.0f}% of the peak)")
    for batch in sorted(keras):
        w = statistics.median([k["windows_per_second_median"] for k in keras[batch]])
        out.append(f"    Keras, batch {batch}: {2 * m['training'] * w / G:.1f} GFLOP/s "
                   f"({100 * 2 * m['training'] * w / peak_all:.0f}%); 2× Keras would be "
                   f"{100 * 4 * m['training'] * w / peak_all:.0f}% of the peak")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("criterion_dir", type=Path)
    s.add_argument("out", type=Path)
    s.add_argument("--since", type=float, default=0.0)
    t = sub.add_parser("table")
    t.add_argument("results", type=Path)
    args = ap.parse_args()
    if args.cmd == "snapshot":
        snapshot(args.criterion_dir, args.out, args.since)
    else:
        table(args.results)


if __name__ == "__main__":
    sys.exit(main())
