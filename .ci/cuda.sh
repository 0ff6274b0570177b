#!/usr/bin/env bash
# Sets up what `cargo build --features cuda` needs on a machine without a GPU or the CUDA
# toolkit, once per machine, and prints the environment to build with (`eval "$(.ci/cuda.sh)"`):
#   - NVIDIA's CUDA 13.4 compiler, headers and libraries from PyPI (nvcc, NVVM, the C runtime
#     headers, CCCL, cuBLAS, cuRAND, NVRTC), in a venv in ~/.cache/continuo-cuda
#     (CONTINUO_CUDA=DIR for another folder). 13.4, not the newest: cudarc 0.19 (under candle)
#     knows CUDA up to 13.4 and reads the version from `nvcc --version`.
#   - the unversioned .so names the linker wants (the wheels ship only libcublas.so.13 etc.);
#   - a link stub for the driver library, libcuda.so (SONAME libcuda.so.1), with one empty
#     function for each driver entry point cudarc declares, as the toolkit's own lib64/stubs
#     does. candle links cudarc's libraries at build time ("dynamic-linking"), so a binary built
#     here needs the NVIDIA driver's libcuda.so.1 when it starts: it runs only where a driver
#     is installed (the stub is for linking, never loaded).
#   - CUDA_COMPUTE_CAP (default 80), so candle's kernels build without asking nvidia-smi.
set -euo pipefail
out=${CONTINUO_CUDA:-$HOME/.cache/continuo-cuda}
log() { printf '%s\n' "$*" >&2; }
version=13.4.92
mkdir -p "$out"

if [ ! -f "$out/ready-$version" ]; then
  log "installing the CUDA $version compiler and libraries from PyPI into $out/venv"
  rm -rf "$out/venv" "$out/lib"
  python3 -m venv "$out/venv" >&2
  "$out/venv/bin/pip" install -q nvidia-cuda-nvcc==$version nvidia-nvvm==$version \
    nvidia-cuda-crt==$version nvidia-cuda-runtime==$version nvidia-cuda-nvrtc==$version \
    nvidia-cuda-cccl==13.3.5.0.6 nvidia-cublas==13.10.0.20 nvidia-curand==10.4.5.25 >&2
  touch "$out/ready-$version"
fi
root=$(ls -d "$out"/venv/lib/python3*/site-packages/nvidia/cu13 | head -1)
[ -x "$root/bin/nvcc" ] || { log "no nvcc in $root"; exit 1; }

# The stub and the unversioned names in lib/stubs, which cudarc's build script gives the linker
# (as it does a toolkit's), so no RUSTFLAGS change invalidates the cached dependencies.
stubs="$root/lib/stubs"
cudarc_src=$(ls -d "$HOME"/.cargo/registry/src/*/cudarc-0.19.* 2>/dev/null | tail -1 || true)
if [ ! -f "$stubs/libcuda.so" ]; then
  [ -n "$cudarc_src" ] || { log "cudarc's sources are not fetched yet: run cargo fetch first"; exit 1; }
  mkdir -p "$stubs"
  for lib in cublas cublasLt curand nvrtc cudart; do
    so=$(ls "$root/lib/lib$lib.so."* | grep -E "lib$lib\.so\.[0-9]+$" | head -1)
    ln -sf "$so" "$stubs/lib$lib.so"
  done
  grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$cudarc_src/src/driver/sys/mod.rs" | sort -u \
    | sed -E 's/^pub unsafe fn (.*)/int \1(void) { return 999; }/' >"$stubs/cuda-stub.c"
  cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$stubs/libcuda.so" "$stubs/cuda-stub.c"
  log "libcuda.so link stub: $(grep -c . "$stubs/cuda-stub.c") entry points"
fi

cat <<EOF
export CUDA_ROOT="$root"
export CUDA_PATH="$root"
export PATH="$root/bin:\$PATH"
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-80}"
EOF
