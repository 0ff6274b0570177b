#!/usr/bin/env python3
"""Times training of the same network in Keras 3 (TensorFlow backend, CPU): windows per second
for `model.fit` (forward, backward through time, AdamW update) at window 50, vocabulary 4096,
batch 500 by default (the issue's figure), on `--threads` threads.

    Embedding(4096, 100)
      → [Bidirectional(GRU(128, reset_after=True, return_sequences=True)) → SeqSelfAttention
         → Dropout(0.3)] × 2
      → Bidirectional(GRU(128)) → Dropout(0.3) → Dense(64) → LeakyReLU(0.3) → Dense(4096, softmax)

SeqSelfAttention is written here in keras.ops exactly as src/model/seed/attention.rs computes it
(e = σ(x W_a xᵀ + b_a), -10000 outside the band, softmax, a x). The optimiser is AdamW with the
settings of benches/train.rs (lr 1e-3, weight decay 0.01, β 0.9/0.999, ε 1e-7, global clip norm
5). The data are random ids (the arithmetic does not depend on them).

After a warm-up fit (tracing, and XLA compilation when jit is on), `--rounds` epochs of
`--steps` batches each are timed one by one (epoch begin to end); prints the min, median and max
windows per second over the rounds.

`--check MODEL.safetensors` instead loads a Continuo seed model's weights into this Keras network
and compares its probabilities with continuo_seed.numpy_logits: the proof that the timed
architecture is ours.

Usage: time_keras.py [--batch 500] [--threads 2] [--seconds 60] [--rounds 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))


def build(keras, vocab=4096, window=50, embedding=100, hidden=128, width=50, dense=64,
          dropout=0.3, slope=0.3):
    from keras import layers, ops

    from continuo_seed import band_mask

    class SeqSelfAttention(layers.Layer):
        """keras-self-attention's multiplicative SeqSelfAttention, sigmoid activation, band
        `width`, bias on: as src/model/seed/attention.rs."""

        def __init__(self, width, **kw):
            super().__init__(**kw)
            self.width = width

        def build(self, input_shape):
            d = input_shape[-1]
            self.wa = self.add_weight(name="wa", shape=(d, d), initializer="glorot_normal")
            self.ba = self.add_weight(name="ba", shape=(1,), initializer="zeros")
            self.band = band_mask(input_shape[1], self.width)

        def call(self, x):
            e = ops.matmul(ops.matmul(x, self.wa), ops.transpose(x, (0, 2, 1))) + self.ba
            e = ops.sigmoid(e) + ops.convert_to_tensor(self.band)
            return ops.matmul(ops.softmax(e, axis=-1), x)

    def bigru(sequences, name):
        return layers.Bidirectional(
            layers.GRU(hidden, return_sequences=sequences, reset_after=True), name=name)

    ids = keras.Input((window,), dtype="int32", name="ids")
    x = layers.Embedding(vocab, embedding, name="embedding")(ids)
    for i in (1, 2):
        x = bigru(True, f"gru{i}")(x)
        x = SeqSelfAttention(width, name=f"attention{i}")(x)
        x = layers.Dropout(dropout)(x)
    x = bigru(False, "gru3")(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(dense, name="dense")(x)
    x = layers.LeakyReLU(negative_slope=slope)(x)
    out = layers.Dense(vocab, activation="softmax", name="output")(x)
    return keras.Model(ids, out, name="continuo_seed")


def load_weights(model, seed):
    """A Continuo seed model's tensors into the Keras network (gates r, z, n → Keras' z, r, h;
    Keras' kernels are transposed; reset-after biases are [input, recurrent])."""
    w = seed.tensors
    h = seed.config["hidden"]

    def zrh(a):
        return np.concatenate([a[h:2 * h], a[:h], a[2 * h:]], axis=0)

    model.get_layer("embedding").set_weights([w["embedding.weight"]])
    for i in (1, 2, 3):
        layer = model.get_layer(f"gru{i}")
        weights = []
        for d in ("fwd", "bwd"):
            p = f"gru{i}.{d}."
            weights += [zrh(w[p + "weight_ih"]).T, zrh(w[p + "weight_hh"]).T,
                        np.stack([zrh(w[p + "bias_ih"]), zrh(w[p + "bias_hh"])])]
        layer.set_weights(weights)
    for i in (1, 2):
        model.get_layer(f"attention{i}").set_weights([w[f"attention{i}.wa"], w[f"attention{i}.ba"]])
    model.get_layer("dense").set_weights([w["dense.weight"].T, w["dense.bias"]])
    model.get_layer("output").set_weights([w["output.weight"].T, w["output.bias"]])


def check(keras, path):
    from continuo_seed import load_seed, numpy_logits

    seed = load_seed(path)
    c = seed.config
    model = build(keras, c["vocab_size"], c["window"], c["embedding"], c["hidden"],
                  c["attention_width"], c["dense"], c["dropout"], c["leaky_slope"])
    load_weights(model, seed)
    ids = np.random.default_rng(0).integers(0, seed.vocab_size, size=(8, seed.window))
    got = model.predict(ids.astype(np.int32), verbose=0)
    logits = numpy_logits(seed, ids)
    want = np.exp(logits - logits.max(1, keepdims=True))
    want /= want.sum(1, keepdims=True)
    diff = float(np.abs(got - want).max())
    same = int((got.argmax(1) == want.argmax(1)).sum())
    print(f"Keras with {seed.path.name}'s weights vs the numpy network, 8 random windows: "
          f"max |Δ probability| {diff:.3g}, argmax equal {same}/8")
    return diff < 1e-4 and same == 8


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    ap.add_argument("--inter-threads", type=int, help="TensorFlow inter-op threads (default: --threads)")
    ap.add_argument("--seconds", type=float, default=60.0, help="measuring time in all (after warm-up)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, help="batches per round (default: from --seconds)")
    ap.add_argument("--jit", choices=["auto", "on", "off"], default="auto",
                    help="Keras' jit_compile (XLA); auto is Keras' default")
    ap.add_argument("--check", metavar="MODEL", help="compare with a seed model's weights and exit")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.inter_threads or args.threads)
    import keras

    if args.check:
        sys.exit(0 if check(keras, args.check) else 1)

    keras.utils.set_random_seed(1)
    model = build(keras, vocab=args.vocab, window=args.window)
    jit = {"auto": "auto", "on": True, "off": False}[args.jit]
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.01, beta_1=0.9,
                                         beta_2=0.999, epsilon=1e-7, global_clipnorm=5.0),
        loss="sparse_categorical_crossentropy", jit_compile=jit)
    rng = np.random.default_rng(1)

    def data(batches):
        n = batches * args.batch
        return (rng.integers(0, args.vocab, size=(n, args.window), dtype=np.int32),
                rng.integers(0, args.vocab, size=(n,), dtype=np.int32))

    # Warm-up: tracing/compilation, then two batches to size the rounds.
    t0 = time.perf_counter()
    x, y = data(2)
    model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    per_batch = (time.perf_counter() - t0) / 2
    steps = args.steps or max(1, int(args.seconds / args.rounds / per_batch))

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.t0)

    timer = Timer()
    x, y = data(steps)
    model.fit(x, y, batch_size=args.batch, epochs=args.rounds, verbose=0, shuffle=False,
              callbacks=[timer])
    rates = [steps * args.batch / s for s in timer.seconds]
    load = os.getloadavg()
    print(f"Keras {keras.__version__} / TensorFlow {tf.__version__} ({keras.backend.backend()}), "
          f"intra-op {args.threads}, inter-op {args.inter_threads or args.threads} threads, "
          f"jit_compile {model.jit_compile}; load average {load[0]:.2f}")
    print(f"batch {args.batch}, window {args.window}, vocabulary {args.vocab}, "
          f"{model.count_params()} parameters; warm-up {warm:.1f} s; {args.rounds} rounds of {steps} batches")
    print(f"windows/s: min {min(rates):.1f}, median {statistics.median(rates):.1f}, max {max(rates):.1f} "
          f"({1000 * args.batch / statistics.median(rates):.0f} ms per batch at the median)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "keras": keras.__version__, "tensorflow": tf.__version__, "threads": args.threads,
            "inter_threads": args.inter_threads or args.threads, "jit_compile": bool(model.jit_compile),
            "batch": args.batch, "window": args.window, "vocab": args.vocab, "rounds": args.rounds,
            "steps_per_round": steps, "warmup_seconds": warm, "windows_per_second": rates,
            "windows_per_second_min": min(rates), "windows_per_second_median": statistics.median(rates),
            "load_average": load}, indent=2))


if __name__ == "__main__":
    main()
