#!/usr/bin/env bash
# The device check of the LLM heads (benchmarks/gpu_check.py): a QLoRA classifier on 2,000 WSDM-shaped rows
# with the largest packaged small model (Gemma-3-270M), training and inference tokens/s,
# torch.cuda.max_memory_allocated beside the planner's estimate, and a plain PyTorch loop for comparison.
# Under 8 minutes on one NVIDIA GPU; stopped at 8 minutes whatever happens.
#
#   benchmarks/gpu_check.sh                          # on a GPU machine, from the repository root or anywhere
#   benchmarks/gpu_check.sh --cpu                    # tiny sizes without a GPU: the plumbing (CI runs this)
#   benchmarks/gpu_check.sh --out gpu_check.json     # the figures as JSON too
#   PYTHON=python3 benchmarks/gpu_check.sh           # another interpreter than .venv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-.venv/bin/python}"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
exec timeout 480 "$python" benchmarks/gpu_check.py "$@"
