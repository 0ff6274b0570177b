#!/usr/bin/env bash
# Continuo against its peers (issue 13), in one command:
#   1. the venv (setup.sh);
#   2. the ONNX export of models/piano-seed and models/chorale-seed (seed_onnx.py);
#   3. the check that the exports compute what Continuo computes (check_greedy.py);
#   4. PEERS_ROUNDS interleaved rounds of: our generate bench, the roofline bench (the machine's
#      FMA peak and L2 read rate), ONNX Runtime, our train bench, Keras fit at batch 500 and 128;
#   5. the table of ratios (report.py), with the date and the CPU, and the ceiling: how far
#      any fp32 implementation could go on this machine, and how close each contender comes.
# Takes several minutes (each round ~3-4 min on 2 cores, plus the first `cargo bench` build).
# It is not part of the test suite. Run it on an otherwise idle machine.
#
# Environment:
#   CONTINUO_BIN          a built continuo CLI for the checks (default: cargo build --release)
#   CONTINUO_PEERS_VENV   the venv (default ~/.cache/continuo-peers/venv)
#   CONTINUO_PEERS_CACHE  exported graphs and results (default ~/.cache/continuo-peers)
#   PEERS_ROUNDS          interleaved rounds (default 3)
#   PEERS_ORT_SECONDS     ONNX Runtime measuring time per round, all 4 configs (default 20)
#   PEERS_KERAS_SECONDS   Keras measuring time per round and batch size (default 40)
#   PEERS_KERAS_BATCHES   Keras batch sizes (default "500 128")
#   PEERS_THREADS         threads for Keras (default 2)
#   PEERS_SKIP_CARGO=1    peers only: no cargo build, no criterion rounds (needs CONTINUO_BIN)
#   PEERS_CRITERION_ARGS  extra criterion arguments, e.g. "--measurement-time 3"
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${CONTINUO_PEERS_CACHE:-$HOME/.cache/continuo-peers}"
venv="${CONTINUO_PEERS_VENV:-$cache/venv}"
export CONTINUO_PEERS_VENV="$venv" CONTINUO_PEERS_CACHE="$cache"
export TF_CPP_MIN_LOG_LEVEL=2 KERAS_BACKEND=tensorflow
rounds="${PEERS_ROUNDS:-3}"
ort_seconds="${PEERS_ORT_SECONDS:-20}"
keras_seconds="${PEERS_KERAS_SECONDS:-40}"
keras_batches="${PEERS_KERAS_BATCHES:-500 128}"
threads="${PEERS_THREADS:-2}"
skip_cargo="${PEERS_SKIP_CARGO:-0}"
target="${CARGO_TARGET_DIR:-$repo/target}"
out="$cache/results/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
log="$out/run.log"
say() { echo "== $*" | tee -a "$log"; }
trap 'echo "run.sh failed (line $LINENO); the whole log is $log" >&2' ERR

say "setup"
"$here/setup.sh" 2>&1 | tee -a "$log"
py="$venv/bin/python"

say "ONNX export"
for m in piano-seed chorale-seed; do
    "$py" "$here/seed_onnx.py" "$repo/models/$m.safetensors" -o "$cache/$m.onnx" 2>&1 | tee -a "$log"
done

if [ -z "${CONTINUO_BIN:-}" ]; then
    if [ "$skip_cargo" = 1 ]; then
        echo "PEERS_SKIP_CARGO=1 needs CONTINUO_BIN (a built continuo)" >&2
        exit 2
    fi
    say "cargo build --release (the CLI for the checks)"
    (cd "$repo" && cargo build --release --bin continuo) 2>&1 | tee -a "$log"
    CONTINUO_BIN="$target/release/continuo"
fi

say "checks against $CONTINUO_BIN"
checks_ok=1
for m in piano-seed chorale-seed; do
    "$py" "$here/check_greedy.py" --model "$repo/models/$m.safetensors" --onnx "$cache/$m.onnx" \
        --cli "$CONTINUO_BIN" --json "$out/check-$m.json" 2>&1 | tee -a "$log" || checks_ok=0
done
[ "$checks_ok" = 1 ] || say "WARNING: a check failed; the timings below may not compare the same network"
# The network's arithmetic (multiply-adds per token and per trained window), for the ceiling.
"$CONTINUO_BIN" info --model "$repo/models/piano-seed.safetensors" --json >"$out/arithmetic.json" 2>>"$log"

criterion_args=(${PEERS_CRITERION_ARGS:-})
for r in $(seq 1 "$rounds"); do
    if [ "$skip_cargo" != 1 ]; then
        say "round $r/$rounds: cargo bench --bench generate (reference sizes)"
        since=$(date +%s)
        (cd "$repo" && cargo bench --bench generate -- 'reference sizes' "${criterion_args[@]}") >>"$log" 2>&1
        "$py" "$here/report.py" snapshot "$target/criterion" "$out/round$r-generate.json" --since "$since" | tee -a "$log"
    fi

    if [ "$skip_cargo" != 1 ]; then
        say "round $r/$rounds: cargo bench --bench roofline (what the machine can do at most)"
        since=$(date +%s)
        (cd "$repo" && cargo bench --bench roofline) >>"$log" 2>&1
        "$py" "$here/report.py" snapshot "$target/criterion" "$out/round$r-roofline.json" --since "$since" | tee -a "$log"
    fi

    say "round $r/$rounds: ONNX Runtime"
    "$py" "$here/time_ort.py" --model "$repo/models/piano-seed.safetensors" --onnx "$cache/piano-seed.onnx" \
        --seconds "$ort_seconds" --rounds 1 --json "$out/round$r-ort.json" 2>&1 | tee -a "$log"

    if [ "$skip_cargo" != 1 ]; then
        say "round $r/$rounds: cargo bench --bench train (AdamW step)"
        since=$(date +%s)
        (cd "$repo" && cargo bench --bench train -- 'AdamW' "${criterion_args[@]}") >>"$log" 2>&1
        "$py" "$here/report.py" snapshot "$target/criterion" "$out/round$r-train.json" --since "$since" | tee -a "$log"
    fi

    for b in $keras_batches; do
        say "round $r/$rounds: Keras fit, batch $b"
        "$py" "$here/time_keras.py" --batch "$b" --threads "$threads" --seconds "$keras_seconds" --rounds 1 \
            --json "$out/round$r-keras$b.json" 2>&1 | tee -a "$log"
    done
done

say "table"
"$py" "$here/report.py" table "$out" | tee "$out/table.txt"
echo "(everything above, and the raw numbers, in $out)"
[ "$checks_ok" = 1 ]
