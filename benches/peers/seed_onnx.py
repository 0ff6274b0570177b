#!/usr/bin/env python3
"""Exports a Continuo seed model file (.safetensors) as an ONNX graph of the same network.

    ids [batch, window] (int64)
      → Gather(embedding)                                     [B, T, E]
      → [GRU(bidirectional, linear_before_reset=1) → SeqSelfAttention] × 2   (dropout: identity)
      → GRU(bidirectional), last states Y_h                    [B, 2H]
      → Gemm(dense) → LeakyRelu(0.3) → Gemm(output)            logits [B, vocab]

The logits are those of `FastNetwork::logits` / `Network::forward` for one window: the next step
after the window, read from the last GRU's final states (the forward direction after step T-1,
the backward one after it has read back to step 0). The batch dimension is symbolic, so one
file serves batch 1 and batch 8; the window is fixed by the model file.

Mapping details (checked against src/model/layers/gru.rs and src/model/seed/attention.rs):
- Our GRU stores PyTorch's layout, gates r, z, n; ONNX wants z, r, h: the gate blocks are
  reordered. Our candidate gate is tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), the reset gate
  applied after the recurrent product: ONNX's linear_before_reset=1.
- Attention (keras-self-attention's multiplicative form, sigmoid activation): e = σ(x W_a xᵀ
  + b_a), then -10000 added outside the band t - width/2 <= t' < t - width/2 + width, softmax
  over t', out = a x. The band is a constant [T, T] mask.

Usage: seed_onnx.py MODEL.safetensors [-o OUT.onnx] [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from continuo_seed import band_mask, load_seed, numpy_logits  # noqa: E402

OPSET = 17
IR_VERSION = 8


def _reorder_gates(w: np.ndarray, hidden: int) -> np.ndarray:
    """Rows (or entries) in r, z, n blocks → z, r, n."""
    r, z, n = w[:hidden], w[hidden:2 * hidden], w[2 * hidden:]
    return np.concatenate([z, r, n], axis=0)


def build_graph(model):
    from onnx import TensorProto, helper, numpy_helper

    cfg = model.config
    w = model.tensors
    h, t, v = cfg["hidden"], cfg["window"], cfg["vocab_size"]
    inits, nodes = [], []

    def const(name, array, dtype=np.float32):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=dtype), name))
        return name

    def node(op, inputs, outputs, **attrs):
        nodes.append(helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs[0]

    const("embedding", w["embedding.weight"])
    const("shape_btd", np.array([0, 0, 2 * h]), np.int64)  # [B, T, 2, H] → [B, T, 2H]
    const("shape_bd", np.array([0, 2 * h]), np.int64)  # [B, 2, H] → [B, 2H]
    const("band", band_mask(t, cfg["attention_width"]))

    def gru(layer, x_tbi):
        """Time-major input [T, B, I] → (Y [T, 2, B, H], Y_h [2, B, H])."""
        W, R, B = [], [], []
        for d in ("fwd", "bwd"):
            p = f"{layer}.{d}."
            W.append(_reorder_gates(w[p + "weight_ih"], h))
            R.append(_reorder_gates(w[p + "weight_hh"], h))
            B.append(np.concatenate([_reorder_gates(w[p + "bias_ih"], h),
                                     _reorder_gates(w[p + "bias_hh"], h)]))
        const(f"{layer}_W", np.stack(W))
        const(f"{layer}_R", np.stack(R))
        const(f"{layer}_B", np.stack(B))
        nodes.append(helper.make_node(
            "GRU", [x_tbi, f"{layer}_W", f"{layer}_R", f"{layer}_B"],
            [f"{layer}_Y", f"{layer}_Yh"], name=layer, hidden_size=h,
            direction="bidirectional", linear_before_reset=1))
        return f"{layer}_Y", f"{layer}_Yh"

    def sequence(layer, y):
        """Y [T, 2, B, H] → [B, T, 2H] (forward outputs, then backward, per step)."""
        btdh = node("Transpose", [y], [f"{layer}_btdh"], perm=[2, 0, 1, 3])
        return node("Reshape", [btdh, "shape_btd"], [f"{layer}_seq"])

    def attention(layer, x):
        """x [B, T, D] → [B, T, D]."""
        const(f"{layer}_wa", w[f"{layer}.wa"])
        const(f"{layer}_ba", w[f"{layer}.ba"].reshape(()))
        xw = node("MatMul", [x, f"{layer}_wa"], [f"{layer}_xw"])
        xt = node("Transpose", [x], [f"{layer}_xt"], perm=[0, 2, 1])
        e = node("MatMul", [xw, xt], [f"{layer}_e"])
        e = node("Add", [e, f"{layer}_ba"], [f"{layer}_eb"])
        e = node("Sigmoid", [e], [f"{layer}_es"])
        e = node("Add", [e, "band"], [f"{layer}_em"])
        a = node("Softmax", [e], [f"{layer}_a"], axis=-1)
        return node("MatMul", [a, x], [f"{layer}_out"])

    x = node("Gather", ["embedding", "ids"], ["embedded"], axis=0)  # [B, T, E]
    x = node("Transpose", [x], ["embedded_t"], perm=[1, 0, 2])  # [T, B, E]
    for i in (1, 2):
        y, _ = gru(f"gru{i}", x)
        x = attention(f"attention{i}", sequence(f"gru{i}", y))
        # Dropout is the identity at inference.
        x = node("Transpose", [x], [f"attention{i}_t"], perm=[1, 0, 2])  # [T, B, 2H]
    _, yh = gru("gru3", x)
    last = node("Transpose", [yh], ["gru3_last_b2h"], perm=[1, 0, 2])  # [B, 2, H]
    last = node("Reshape", [last, "shape_bd"], ["gru3_last"])  # [B, 2H]: fwd, then bwd
    const("dense_w", w["dense.weight"])
    const("dense_b", w["dense.bias"])
    y = node("Gemm", [last, "dense_w", "dense_b"], ["dense"], transB=1)
    y = node("LeakyRelu", [y], ["dense_act"], alpha=float(cfg["leaky_slope"]))
    const("output_w", w["output.weight"])
    const("output_b", w["output.bias"])
    node("Gemm", [y, "output_w", "output_b"], ["logits"], transB=1)

    graph = helper.make_graph(
        nodes, f"continuo-seed-{model.name}",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", t])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", v])],
        initializer=inits)
    onnx_model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="continuo benches/peers/seed_onnx.py", ir_version=IR_VERSION)
    onnx_model.doc_string = (f"Continuo seed model {model.name}: window {t}, vocabulary {v}, "
                             f"hidden {h}, attention width {cfg['attention_width']}")
    return onnx_model


def export(model_path, out_path) -> Path:
    import onnx

    model = load_seed(model_path)
    onnx_model = build_graph(model)
    onnx.checker.check_model(onnx_model, full_check=True)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(onnx_model, str(out_path))
    return out_path


def default_out(model_path) -> Path:
    import os

    cache = Path(os.environ.get("CONTINUO_PEERS_CACHE", Path.home() / ".cache/continuo-peers"))
    return cache / (Path(model_path).stem + ".onnx")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a Continuo seed model file (.safetensors)")
    ap.add_argument("-o", "--output", help="the .onnx to write (default: ~/.cache/continuo-peers/NAME.onnx)")
    ap.add_argument("--check", action="store_true",
                    help="also compare ORT's logits with the numpy network on random windows")
    args = ap.parse_args()
    out = export(args.model, args.output or default_out(args.model))
    model = load_seed(args.model)
    print(f"{args.model} → {out} ({out.stat().st_size / 1e6:.1f} MB; window {model.window}, "
          f"vocabulary {model.vocab_size}, opset {OPSET})")
    if args.check:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(0)
        for batch in (1, 8):
            ids = rng.integers(0, model.vocab_size, size=(batch, model.window), dtype=np.int64)
            got = sess.run(["logits"], {"ids": ids})[0]
            want = numpy_logits(model, ids)
            print(f"batch {batch}: max |ORT - numpy (f64)| = {np.abs(got - want).max():.3g}")


if __name__ == "__main__":
    main()
