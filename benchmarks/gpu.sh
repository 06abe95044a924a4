#!/usr/bin/env bash
# The GPU half of issue #7's measurements, as one short run for a lent GPU (device time is
# scarce). Not yet run: no GPU has been lent to this project's sessions so far.
#
#   bash benchmarks/gpu.sh [OUT]       # tables go to OUT (default: $OUT, else benchmarks/out)
#
# 1. naive vs fast vs amp (bf16/fp16 + channels_last) shared-weight steps at the tiny and the
#    paper search configs, 32 fixed architectures per path, the controller and the launch cost;
# 2. the paper micro final child, eager vs torch.compile (default, reduce-overhead).
# Each part has its own time limit, so a slow part cannot eat the other's time; copy the two
# Markdown files into BENCHMARKS.md with the GPU's name (printed on their first line).
set -euo pipefail
out="${1:-${OUT:-benchmarks/out}}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python -c "import enas_edu" 2>/dev/null || pip install -q -e .
timeout 330 python benchmarks/run.py --device cuda --configs tiny,paper --archs 32 --skip-proxies \
    | tee "$out/gpu_steps.md"
timeout 200 python benchmarks/run.py --device cuda --configs paper --spaces micro --archs 4 --skip-proxies --final \
    | tee "$out/gpu_final.md"
