#!/usr/bin/env bash
# The GPU checks of issue 15 as one prepared run, for a machine with a CUDA GPU (the
# `device` tool runs it in the repository root: `bash benchmarks/gpu_check.sh`). It needs
# Typer, Rich, NumPy and PyYAML, torch with CUDA, and for ONNX Runtime on the GPU the
# onnxruntime-gpu package (without its CUDAExecutionProvider the ORT rows say so and the
# torch ones still run). It writes nothing outside $OUT (or /tmp when OUT is unset).
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT="${OUT:-$(mktemp -d)}"
PY="${PYTHON:-python3}"
$PY - <<'PY'
import importlib
for name in ("torch", "onnxruntime"):
    try:
        m = importlib.import_module(name)
    except ImportError as exc:
        print(f"{name}: not importable ({exc})")
        continue
    if name == "torch":
        gpu = m.cuda.get_device_name(0) if m.cuda.is_available() else "no CUDA device"
        print(f"torch {m.__version__}: {gpu}")
    else:
        print(f"onnxruntime {m.__version__}: {', '.join(m.get_available_providers())}")
PY
# agreement on the GPU first (skips what this machine cannot run)
$PY -m pytest -q -p no:cacheprovider -o addopts="" tests/test_runtimes.py -k "gpu" 2>&1 | tail -5
# the issue's layer on every runtime the GPU has, then the two MobileNets per layer
for runtime in torch onnxruntime; do
  $PY -m sepconv_cli cost -i 56x56x128 -k 3 -f 128 -p 1 --time --time-budget 2 \
    --runtime "$runtime" --device cuda --format json -o "$OUT/cost_$runtime.json" -q \
    && echo "cost on $runtime (cuda): $OUT/cost_$runtime.json"
done
for model in mobilenet_v1 mobilenet_v2; do
  $PY benchmarks/bench_runtimes.py --device cuda --budget 0.5 --model "$model" \
    --runtimes numpy,onnxruntime,torch 2>&1 | tee "$OUT/bench_$model.txt"
done
