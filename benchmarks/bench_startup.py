"""Start-up of `submit --help` and `submit list`: CPU and wall seconds of each, the median of several runs.

    .venv/bin/python benchmarks/bench_startup.py                  # the harness this Python imports
    .venv/bin/python benchmarks/bench_startup.py --tree OTHER     # another checkout, for a before/after

`--tree` builds that checkout's wheel (as `submit package` does), installs it into a temporary folder and
puts the folder first on PYTHONPATH, so the same Python and packages import the other version of the harness.
CPU seconds (user + system of the child) are steadier than wall time on a shared machine. Prints a
Markdown table for BENCHMARKS.md; `python -X importtime -m submit --help` shows where the time goes.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

COMMANDS = (["--help"], ["list"])


def timed(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one `python -m submit ARGS`, run in `cwd`: not in a checkout, whose
    submit/ folder `python -m` would import instead."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "submit", *args], env=env, cwd=cwd, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, wall


def install_tree(tree: Path, into: Path) -> None:
    """That checkout's harness, installed into `into` without dependencies."""
    import submit.package as package

    package.PROJECT_ROOT = tree.resolve()
    wheel = package.build_wheel(into / "wheel")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                    str(into / "site"), str(wheel)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, help="a checkout of the harness to measure instead")
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (the median is shown)")
    args = parser.parse_args()
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if args.tree is not None:
            install_tree(args.tree, Path(tmp))
            env["PYTHONPATH"] = os.pathsep.join([str(Path(tmp) / "site"), env.get("PYTHONPATH", "")])
        timed(["--help"], env, Path(tmp))  # the first run reads the files from disk; the others find them cached
        print("| command | CPU s (median) | wall s (median) |\n|---|---|---|")
        for command in COMMANDS:
            cpu, wall = zip(*(timed(command, env, Path(tmp)) for _ in range(args.runs)), strict=True)
            print(f"| submit {' '.join(command)} | {statistics.median(cpu):.2f} | {statistics.median(wall):.2f} |")


if __name__ == "__main__":
    main()
