#!/usr/bin/env bash
# Creates the peer-benchmark venv and installs benches/peers/requirements.txt into it.
# Idempotent: does nothing when the venv already holds exactly these pins.
#
#   CONTINUO_PEERS_VENV  where the venv goes (default: ~/.cache/continuo-peers/venv)
#   PYTHON               the interpreter to build it from (default: python3.11, else python3)
set -euo pipefail
export TF_CPP_MIN_LOG_LEVEL=2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${CONTINUO_PEERS_VENV:-$HOME/.cache/continuo-peers/venv}"
requirements="$here/requirements.txt"
stamp="$venv/.continuo-peers-requirements"

python="${PYTHON:-}"
if [ -z "$python" ]; then
    if command -v python3.11 >/dev/null 2>&1; then python=python3.11; else python=python3; fi
fi

if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$requirements" \
    && "$venv/bin/python" -c 'import numpy, safetensors, onnx, onnxruntime, keras, tensorflow, mido' 2>/dev/null; then
    echo "peers venv up to date: $venv"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating the peers venv at $venv with $("$python" --version 2>&1)"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$requirements"
"$venv/bin/python" -c 'import numpy, safetensors, onnx, onnxruntime, keras, mido; print("numpy", numpy.__version__, "| onnx", onnx.__version__, "| onnxruntime", onnxruntime.__version__, "| keras", keras.__version__)'
cp "$requirements" "$stamp"
echo "peers venv ready: $venv"
