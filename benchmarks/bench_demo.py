"""Wall time of each competition's default recipe on its bundled sample, cold and again warm.

    .venv/bin/python benchmarks/bench_demo.py            # all four competitions
    .venv/bin/python benchmarks/bench_demo.py wsdm hansol

Each competition runs twice through the installed `submit` command in a fresh runs folder: the first run
makes folds, fills the embedding/feature cache and fits every fold; the second, identical run should
reuse all of that. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMPETITIONS = ["wsdm", "lmsys", "hansol", "law-tags"]


def timed_run(name: str, runs: Path) -> float:
    exe = Path(sys.executable).with_name("submit")
    env = {**os.environ, "SUBMIT_CACHE_DIR": str(runs / "cache")}
    start = time.perf_counter()
    subprocess.run([exe, name, "--runs", str(runs)], check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main(names: list[str]) -> None:
    print(f"cores: {os.cpu_count()}\n")
    print("| competition | first run (s) | identical second run (s) | second / first |")
    print("|---|---|---|---|")
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            cold = timed_run(name, Path(tmp))
            warm = timed_run(name, Path(tmp))
        print(f"| {name} | {cold:.1f} | {warm:.1f} | {warm / cold:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:] or COMPETITIONS)
