"""Curation throughput on the real law titles: rows per second for each step alone and the whole pipeline.

    .venv/bin/python benchmarks/bench_curation.py                 # ../shared/data/law, the curated recipe's steps
    .venv/bin/python benchmarks/bench_curation.py --copies 10     # also 1 vs 2 worker processes on 10x the rows

Per step: the step alone over every row's text (transforms: apply; filters: measure). Pipeline: the
recipe's whole curation section through `curate_dataset` with an empty cache (cold), then again (warm:
every row read from the cache). With --copies, the titles are repeated (each copy made distinct) and
run cold with one process and with two worker processes. Prints Markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
from submit.competitions.law_tags import LawTags
from submit.curation.pipeline import curate_dataset
from submit.curation.steps import Filter, build_step
from submit.cv.recipe import load_recipe
from submit.models.cache import using_cache_dir

LAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "law"


def cold(dataset, config) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as cache, using_cache_dir(Path(cache)):
        start = time.perf_counter()
        curated = curate_dataset(dataset, config)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        curate_dataset(dataset, config)
        warm = time.perf_counter() - start
    return seconds, {"warm": warm, "report": curated.report}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=0, help="also time worker processes on this many copies")
    args = parser.parse_args()
    comp = LawTags()
    dataset = comp.load(LAW)
    config = load_recipe(comp, "curated").curation
    texts = ["\n".join(t for t in row if t) for row in dataset.train[config.columns].itertuples(index=False)]
    n = len(texts)
    print(f"cores: {os.cpu_count()}; {n:,} law titles\n")

    print("| step | rows/s |\n|---|---|")
    for name, params in config.steps.items():
        step = build_step(name, params)
        run = (lambda text, step=step: step.measure(text, None)) if isinstance(step, Filter) else step.apply
        run(texts[0])  # imports and engines (ftfy, Presidio) outside the clock
        start = time.perf_counter()
        for text in texts:
            run(text)
        print(f"| {name} | {n / (time.perf_counter() - start):,.0f} |")

    seconds, extra = cold(dataset, config)
    print(f"| whole pipeline, cold (cache empty; includes building the PII engine) | {n / seconds:,.0f} |")
    print(f"| whole pipeline, warm (every row from the cache) | {n / extra['warm']:,.0f} |")

    if args.copies:
        frames = [dataset.train.assign(id=lambda f, k=k: f["id"] + f"-{k}", title=lambda f, k=k: f["title"] + f" ({k})")
                  for k in range(args.copies)]
        big = dataclasses.replace(dataset, train=pd.concat(frames, ignore_index=True))
        print(f"\n| {len(big.train):,} rows, cold | seconds | rows/s |\n|---|---|---|")
        for workers in (1, 2):
            setting = dataclasses.replace(config, workers=workers, parallel_min_rows=0)
            seconds, _ = cold(big, setting)
            label = f"{workers} process{'es' if workers > 1 else ''}"
            print(f"| {label} | {seconds:.1f} | {len(big.train) / seconds:,.0f} |")


if __name__ == "__main__":
    main()
