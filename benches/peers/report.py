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
    loads = [o.get("load_average", [float("nan")])[0] for o in ort]
    if loads:
        lines.append("")
        lines.append(f"load average at the ORT rounds: {', '.join(f'{x:.2f}' for x in loads)} "
                     f"(above ~0.5 on this machine means another job shared the cores)")
    text = "\n".join(lines)
    print(text)
    return text


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
