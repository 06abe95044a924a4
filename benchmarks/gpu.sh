#!/usr/bin/env bash
# The GPU half of issue #7's measurements, as one short run for a lent GPU (device time is
# scarce). Not yet run: no GPU has been lent to this project's sessions so far.
#
#   bash benchmarks/gpu.sh [OUT]       # tables go to OUT (default: $OUT, else benchmarks/out)
#
# 1. naive vs fast vs amp (bf16/fp16 + channels_last) shared-weight steps at the tiny and the
#    paper search configs, 32 fixed architectures per path, the controller and the launch cost;
# 2. the paper micro final child, eager vs torch.compile (default, reduce-overhead);
# 3. fp32 against bf16 for the RNN and micro searches: loss and reward drift (issue #27).
# Each part has its own time limit, so a slow part cannot eat the other's time; copy the two
# Markdown files into BENCHMARKS.md with the GPU's name (printed on their first line). Run it
# from the repository root with a Python that has a CUDA build of torch, numpy and tqdm.
set -euo pipefail
out="${1:-${OUT:-benchmarks/out}}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
# the GPU machine may have no package index: use the package from this working tree as it is
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -c "import torch, enas_edu; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.__version__)"
timeout 300 python benchmarks/run.py --device cuda --configs tiny,paper --archs 32 --skip-proxies \
    | tee "$out/gpu_steps.md"
timeout 170 python benchmarks/run.py --device cuda --configs paper --spaces micro --archs 4 --skip-proxies --final \
    | tee "$out/gpu_final.md"
timeout 110 python benchmarks/precision.py --device cuda --steps 200 | tee "$out/gpu_precision.md"
