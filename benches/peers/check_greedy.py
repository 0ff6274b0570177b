#!/usr/bin/env python3
"""Checks that the ONNX export computes what Continuo computes, three ways:

1. logits: ORT against the numpy network of continuo_seed.py (float64 and float32) on random id
   windows, at batch 1 and 8 (max abs difference);
2. `continuo eval`: prompts cut from real pieces are scored by the CLI (candle network) and by
   ORT; mean NLL per step over the vocabulary's ids and top-1/top-5 counts must agree;
3. `continuo generate --temperature 0`: the same prompts are continued greedily by the CLI (fast
   batch-1 path) and by ORT with the CLI's decoding rules (UNK never taken; when no step of the
   window strikes a note, only a striking chord may come next); the continuations must be equal.

The prompts: `--prompts` pieces drawn (seeded) from the model's training corpus, put on the
model's grid by `continuo quantize` (so the CLI does all real MIDI reading, pedal included),
cut to `window + 14` steps at a random place and written as MIDI. The continuations are compared
as the chords the CLI's MIDI output reads back as: writing a roll to MIDI makes a held pitch
that did not sound the step before a struck one and drops trailing rests, so ORT's ids go
through the same projection (continuo_seed.project) before the comparison.

Exit status 1 when anything differs beyond the tolerance.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from continuo_seed import (REST, chord_str, greedy, load_seed, notes_to_roll, numpy_logits,  # noqa: E402
                           project, prompt_ids, read_midi, roll_to_notes, target_ids, window_at,
                           write_midi)

DEFAULT_CLI = os.environ.get("CONTINUO_BIN", "/work/runs/piano-step-d128/continuo-bin")


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stderr}{r.stdout}")
    return r.stdout


def ort_session(onnx_path, threads=1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])


def ort_logits(sess, windows):
    ids = np.asarray(windows, dtype=np.int64).reshape(len(windows), -1)
    return sess.run(["logits"], {"ids": ids})[0]


def check_logits(model, sess, rng, windows=16):
    """ORT vs numpy on random windows (ids anywhere in the vocabulary, UNK included)."""
    ids = rng.integers(0, model.vocab_size, size=(windows, model.window), dtype=np.int64)
    got8 = np.concatenate([ort_logits(sess, ids[i:i + 8]) for i in range(0, windows, 8)])
    got1 = np.concatenate([ort_logits(sess, ids[i:i + 1]) for i in range(windows)])
    ref64 = numpy_logits(model, ids, np.float64)
    ref32 = numpy_logits(model, ids, np.float32)
    return {
        "windows": windows,
        "max_abs_ort_vs_numpy_f64": float(np.abs(got8 - ref64).max()),
        "max_abs_ort_vs_numpy_f32": float(np.abs(got8 - ref32).max()),
        "max_abs_ort_batch1_vs_batch8": float(np.abs(got1 - got8).max()),
        "max_abs_logit": float(np.abs(ref64).max()),
        "argmax_equal": int((got8.argmax(1) == ref64.argmax(1)).sum()),
    }


def corpus_dir(model, override):
    if override:
        return Path(override)
    summary = json.loads(model.metadata.get("summary", "{}"))
    for d in summary.get("data", []):
        for base in (REPO, Path.cwd()):
            p = (base / d).resolve()
            if p.is_dir():
                return p
    return REPO / "tests/fixtures"


def make_prompts(model, cli, corpus, n, extra, work, seed):
    """`n` prompts of `window + extra` steps from pieces of `corpus`, as MIDI files in
    work/prompts, and the rolls the CLI reads from them."""
    files = sorted(p for p in corpus.rglob("*") if p.suffix.lower() in (".mid", ".midi"))
    if not files:
        raise SystemExit(f"no MIDI files under {corpus}")
    rng = random.Random(seed)
    rng.shuffle(files)
    length = model.window + extra
    prompts_dir = work / "prompts"
    prompts_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in files:
        if len(out) == n:
            break
        q = work / "quantized.mid"
        grid = ["--steps-per-beat", model.steps_per_beat] + ([] if model.onsets else ["--no-onsets"])
        try:
            run([cli, "quantize", path, "-o", q, *grid])
        except RuntimeError:
            continue
        notes, tempo, timesig = read_midi(q)
        roll = notes_to_roll(notes, model.steps_per_beat, model.onsets)
        if len(roll) < length + 1:
            continue
        # A cut that ends on a sounding step, so the window the CLI sees is the whole cut.
        for _ in range(20):
            start = rng.randrange(0, len(roll) - length)
            cut = roll[start:start + length]
            if cut[-1] != REST and sum(c != REST for c in cut) > length // 2:
                break
        else:
            continue
        p = prompts_dir / f"prompt{len(out):02d}.mid"
        write_midi(p, roll_to_notes(cut, model.steps_per_beat), tempo, timesig)
        notes_back, _, _ = read_midi(p)
        heard = notes_to_roll(notes_back, model.steps_per_beat, model.onsets)
        out.append({"file": p, "source": str(path), "start": start, "roll": heard})
    if len(out) < n:
        print(f"warning: only {len(out)} usable prompts under {corpus}", file=sys.stderr)
    return out


def check_eval(model, sess, cli, prompts, work):
    """`continuo eval` on the prompt files vs the same sums from ORT's logits."""
    report = json.loads(run([cli, "eval", "--model", model.path, "--data", work / "prompts",
                             "--baseline-data", work / "prompts", "--json", "--device", "cpu",
                             "--threads", "1"]))
    nll, top1, top5, steps = 0.0, 0, 0, 0
    for p in prompts:
        inputs, targets = prompt_ids(p["roll"], model.vocab), target_ids(p["roll"], model.vocab)
        windows = [window_at(inputs, t, model.window) for t in range(len(targets))]
        logits = np.concatenate([ort_logits(sess, windows[i:i + 64]) for i in range(0, len(windows), 64)])
        lp = logits.astype(np.float64)
        lp = lp - lp.max(1, keepdims=True)
        lp = lp - np.log(np.exp(lp).sum(1, keepdims=True))
        lp32 = lp.astype(np.float32)
        for i, tgt in enumerate(targets):
            nll -= lp[i, tgt]
            if tgt != 1:
                better = int((lp32[i] > lp32[i, tgt]).sum())
                top1 += better == 0
                top5 += better < 5
        steps += len(targets)
    return {
        "steps_cli": report["steps"], "steps_ort": steps,
        "id_nll_per_step_cli": report["id_nll_per_step"], "id_nll_per_step_ort": nll / steps,
        "abs_diff_nll_per_step": abs(report["id_nll_per_step"] - nll / steps),
        "top1_cli": round(report["top1"] * report["steps"]), "top1_ort": top1,
        "top5_cli": round(report["top5"] * report["steps"]), "top5_ort": top5,
    }


def check_generate(model, sess, cli, prompts, steps, work):
    results = []
    for i, p in enumerate(prompts):
        out = work / f"continued{i:02d}.mid"
        run([cli, "generate", "--model", model.path, "--prompt", p["file"], "--output", out,
             "--steps", steps, "--temperature", 0, "--device", "cpu"])
        notes, _, _ = read_midi(out)
        cli_roll = notes_to_roll(notes, model.steps_per_beat, model.onsets)
        cli_roll = (cli_roll + [REST] * steps)[:steps]
        margins = []
        ids = greedy(lambda w: ort_logits(sess, [w])[0], prompt_ids(p["roll"], model.vocab), steps,
                     model.vocab, model.window, margins)
        ort_chords = [model.vocab.chord(t) for t in ids]
        ort_roll = project(ort_chords, model.steps_per_beat, model.onsets)
        ort_roll = (ort_roll + [REST] * steps)[:steps]
        first = next((k for k in range(steps) if cli_roll[k] != ort_roll[k]), None)
        results.append({
            "prompt": p["file"].name, "source": p["source"], "start": p["start"],
            "equal": first is None, "first_difference": first,
            "distinct_chords": len(set(ort_chords)),
            "min_top2_margin": min(margins),
            "projection_changed_steps": sum(a != b for a, b in zip(ort_chords, ort_roll)),
            "ort_head": " ".join(chord_str(c) for c in ort_roll[:6]),
            "cli_head": " ".join(chord_str(c) for c in cli_roll[:6]),
        })
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(REPO / "models/piano-seed.safetensors"))
    ap.add_argument("--onnx", help="the exported graph (default: export now to ~/.cache/continuo-peers)")
    ap.add_argument("--cli", default=DEFAULT_CLI, help="a built continuo binary (env CONTINUO_BIN)")
    ap.add_argument("--corpus", help="MIDI folder to cut prompts from (default: the model's training data)")
    ap.add_argument("--prompts", type=int, default=10)
    ap.add_argument("--steps", type=int, default=64, help="greedy steps per prompt")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--tolerance", type=float, default=1e-3,
                    help="largest allowed |logit| and NLL-per-step difference")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    from seed_onnx import default_out, export

    model = load_seed(args.model)
    onnx_path = Path(args.onnx) if args.onnx else export(args.model, default_out(args.model))
    sess = ort_session(onnx_path)
    cli = Path(args.cli)
    rng = np.random.default_rng(args.seed)
    ok = True

    print(f"model {model.path} (window {model.window}, vocabulary {model.vocab_size}); graph {onnx_path}")
    logits = check_logits(model, sess, rng)
    print(f"logits, {logits['windows']} random windows: max |ORT - numpy f64| {logits['max_abs_ort_vs_numpy_f64']:.3g}, "
          f"|ORT - numpy f32| {logits['max_abs_ort_vs_numpy_f32']:.3g}, |batch 1 - batch 8| "
          f"{logits['max_abs_ort_batch1_vs_batch8']:.3g} (largest |logit| {logits['max_abs_logit']:.1f}); "
          f"argmax equal {logits['argmax_equal']}/{logits['windows']}")
    ok &= logits["max_abs_ort_vs_numpy_f64"] < args.tolerance

    result = {"model": str(model.path), "onnx": str(onnx_path), "cli": str(cli), "logits": logits}
    if not cli.exists():
        print(f"no CLI at {cli}: skipping the eval and greedy comparisons (set --cli or CONTINUO_BIN)")
    else:
        with tempfile.TemporaryDirectory(prefix="continuo-peers-") as tmp:
            work = Path(tmp)
            corpus = corpus_dir(model, args.corpus)
            prompts = make_prompts(model, cli, corpus, args.prompts, 14, work, args.seed)
            print(f"{len(prompts)} prompts of {model.window + 14} steps cut from {corpus}")
            ev = check_eval(model, sess, cli, prompts, work)
            print(f"continuo eval vs ORT over {ev['steps_cli']}/{ev['steps_ort']} steps: id NLL/step "
                  f"{ev['id_nll_per_step_cli']:.6f} vs {ev['id_nll_per_step_ort']:.6f} "
                  f"(|diff| {ev['abs_diff_nll_per_step']:.2g}); top-1 {ev['top1_cli']} vs {ev['top1_ort']}, "
                  f"top-5 {ev['top5_cli']} vs {ev['top5_ort']}")
            ok &= ev["steps_cli"] == ev["steps_ort"] and ev["abs_diff_nll_per_step"] < args.tolerance
            gen = check_generate(model, sess, cli, prompts, args.steps, work)
            for g in gen:
                state = "equal" if g["equal"] else f"DIFFER from step {g['first_difference']}"
                print(f"  {g['prompt']} ({Path(g['source']).name} from step {g['start']}): {args.steps} "
                      f"greedy steps {state}; {g['distinct_chords']} distinct chords, closest top-2 logit gap "
                      f"{g['min_top2_margin']:.3g}; {g['ort_head']} …")
                if not g["equal"]:
                    print(f"      CLI: {g['cli_head']} …")
            same = sum(g["equal"] for g in gen)
            print(f"greedy continuations identical on {same}/{len(gen)} prompts ({args.steps} steps each; "
                  f"closest top-2 logit gap met {min(g['min_top2_margin'] for g in gen):.3g})")
            ok &= same == len(gen) and len(gen) > 0
            result.update({"eval": ev, "generate": gen})
    result["ok"] = bool(ok)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    print("OK" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
