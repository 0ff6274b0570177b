#!/usr/bin/env python3
"""Times ONNX Runtime on the exported seed network: one forward pass per generated token (the
bidirectional GRUs recompute the whole window for every token, as Continuo's fast path does).

Configurations: batch 1 and 8 × intra-op threads 1 and 2 (inter-op 1, sequential execution,
all graph optimisations). Every round runs each configuration once, in a rotated order, so
slow phases of a loaded machine fall on all of them alike. Prints, per configuration, the min and
median over rounds of the mean time per forward call and per window (= per token: at batch 8 one
call gives 8 sequences one token each).

Usage: time_ort.py [--model models/piano-seed.safetensors] [--seconds 60] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from continuo_seed import load_seed  # noqa: E402


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def session(onnx_path, threads, spin):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    return ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "models/piano-seed.safetensors"))
    ap.add_argument("--onnx", help="the exported graph (default: export now to ~/.cache/continuo-peers)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--seconds", type=float, default=60.0, help="measuring time in all (after warm-up)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-spin", action="store_true", help="intra-op threads sleep instead of spinning")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    import onnxruntime as ort
    from seed_onnx import default_out, export

    model = load_seed(args.model)
    onnx_path = Path(args.onnx) if args.onnx else export(args.model, default_out(args.model))
    rng = np.random.default_rng(1)
    inputs = {b: rng.integers(2, model.vocab_size, size=(b, model.window), dtype=np.int64)
              for b in args.batches}
    sessions = {n: session(onnx_path, n, not args.no_spin) for n in args.threads}
    configs = [(b, n) for n in args.threads for b in args.batches]

    def call(cfg):
        b, n = cfg
        sessions[n].run(["logits"], {"ids": inputs[b]})

    # Warm-up, then the number of calls that fills one configuration's share of a round.
    share = args.seconds / (args.rounds * len(configs))
    calls = {}
    for cfg in configs:
        for _ in range(5):
            call(cfg)
        t0, k = time.perf_counter(), 0
        while time.perf_counter() - t0 < min(0.5, share):
            call(cfg)
            k += 1
        per_call = (time.perf_counter() - t0) / k
        calls[cfg] = max(3, int(share / per_call))

    per_call_ms = {cfg: [] for cfg in configs}
    for r in range(args.rounds):
        order = configs[r % len(configs):] + configs[:r % len(configs)]
        for cfg in order:
            t0 = time.perf_counter()
            for _ in range(calls[cfg]):
                call(cfg)
            per_call_ms[cfg].append(1000 * (time.perf_counter() - t0) / calls[cfg])

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"ONNX Runtime {ort.__version__} on {cpu_model()} ({os.cpu_count()} logical CPUs), "
          f"load average {load[0]:.2f}; {model.name}: window {model.window}, vocabulary {model.vocab_size}; "
          f"{args.rounds} rounds, spinning {'off' if args.no_spin else 'on'}")
    print(f"{'batch':>5} {'threads':>7} {'calls/round':>11} {'ms/call min':>11} {'median':>8} "
          f"{'ms/token min':>12} {'median':>8} {'tokens/s (median)':>17}")
    results = []
    for cfg in configs:
        b, n = cfg
        xs = per_call_ms[cfg]
        mn, md = min(xs), statistics.median(xs)
        results.append({"batch": b, "threads": n, "calls_per_round": calls[cfg], "ms_per_call": xs,
                        "ms_per_call_min": mn, "ms_per_call_median": md,
                        "ms_per_token_min": mn / b, "ms_per_token_median": md / b})
        print(f"{b:>5} {n:>7} {calls[cfg]:>11} {mn:>11.3f} {md:>8.3f} {mn / b:>12.3f} {md / b:>8.3f} "
              f"{1000 * b / md:>17.0f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "onnxruntime": ort.__version__, "cpu": cpu_model(), "load_average": load,
            "model": str(model.path), "window": model.window, "rounds": args.rounds,
            "spinning": not args.no_spin, "results": results}, indent=2))


if __name__ == "__main__":
    main()
