"""benchmarks/gpu_check.sh, the device check of the LLM heads: its shell is valid and its CPU fallback (a tiny
random model, a few rows) runs the whole path and writes every figure; the GPU sizes run on a GPU machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("peft", reason="the LLM heads need the `llm` extra (pip install -e '.[llm]')")

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"


def test_the_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


@pytest.mark.slow
def test_the_cpu_fallback_trains_predicts_and_reports_every_figure(tmp_path):
    out = tmp_path / "figures.json"
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run([str(SCRIPT), "--cpu", "--rows", "8", "--out", str(out)], env=env, capture_output=True,
                          text=True, timeout=470)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["device"] == "cpu" and figures["rows"] == 8 and figures["peak_gib"] is None
    for key in ("train_tokens_per_s", "infer_tokens_per_s", "plain_loop_tokens_per_s"):
        assert figures[key] > 0, key
    assert set(figures["planned_gib"]) == {"weights", "lora", "gradients", "optimizer", "activations"}
    assert "| training tokens/s (plain loop) |" in done.stdout
