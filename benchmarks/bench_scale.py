"""Real competition size: the default recipe on resampled real rows, cold and then warm, timed.

    .venv/bin/python benchmarks/bench_scale.py                       # every size the scale table holds
    .venv/bin/python benchmarks/bench_scale.py lmsys:2000 law-tags:10000 --out scale.jsonl
    .venv/bin/python benchmarks/bench_scale.py wsdm:8000 --no-warm --set params.encoder=null

Data: the real rows in ../shared/data, resampled with replacement to the asked training size (test rows
a quarter of that, drawn the same way), written in each host's file layout. Every text gets a distinct
prefix (its row number), so no cache can serve one row for another; the texts' lengths stay those of the
real rows, plus a few characters. The WSDM rows are LMSYS rows without ties, in WSDM's layout (the real
WSDM training file is not in ../shared/data); law-tags gets Kaggle's train/test/sample_submission layout.
Copies of one real row land in different folds, so CV scores here are flattered: this measures time.

Each case runs the installed `submit` command twice in a fresh runs folder (cold: empty cache; warm: the
identical command again) and records wall time, CPU seconds (user + system, worker processes included)
and peak RSS (of the largest process), plus the stage times the run wrote to scores.json. One JSON line
per run goes to --out; Markdown tables are printed at the end: the runs, and the growth of CPU seconds,
wall time and peak RSS with rows (fitted as c * rows^b) with what that gives at the hosts' real sizes.
`--report FILE` prints those tables again from the JSON lines in FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZES = {"lmsys": (2000, 8000, 32000), "wsdm": (2000, 8000, 32000), "law-tags": (10000, 40000),
         "hansol": (2000, 8000)}
TEST_SHARE = 4  # test rows = training rows / 4
SEED = 0
# The hosts' real sizes (training rows, test rows), for the extrapolation. law-tags: a Stack Exchange tag
# competition's tens of thousands of titles; Hansol's real training file has 644 rows, so no extrapolation.
REAL_SIZES = {"lmsys": (57477, 25000), "wsdm": (48439, 25000), "law-tags": (40000, 10000)}


def _mark(text: str, mark: str) -> str:
    return f"{mark} {text}"


def _mark_turns(cell: str, mark: str) -> str:
    """An LMSYS cell (a JSON list of turns) with its first turn marked; a null turn becomes the mark."""
    turns = json.loads(cell)
    turns[0] = _mark(turns[0] or "", mark)
    return json.dumps(turns)


def _resample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    return frame.iloc[rng.integers(0, len(frame), size=n)].reset_index(drop=True)


def lmsys_data(out: Path, n: int, rng: np.random.Generator) -> None:
    real = pd.read_csv(SHARED / "lmsys" / "train.csv", dtype=str, keep_default_na=False)
    frames = {"train": _resample(real, n, rng), "test": _resample(real, n // TEST_SHARE, rng)}
    for split, frame in frames.items():
        frame["id"] = [str(1_000_000 * (split == "test") + i) for i in range(len(frame))]
        for column in ("prompt", "response_a", "response_b"):
            frame[column] = [_mark_turns(c, f"{split}{i}.") for i, c in enumerate(frame[column])]
    frames["train"].to_csv(out / "train.csv", index=False)
    test = frames["test"][["id", "prompt", "response_a", "response_b"]]
    test.to_csv(out / "test.csv", index=False)
    flags = ("winner_model_a", "winner_model_b", "winner_tie")
    test[["id"]].assign(**{f: 1 / 3 for f in flags}).to_csv(out / "sample_submission.csv", index=False)


def wsdm_data(out: Path, n: int, rng: np.random.Generator) -> None:
    real = pd.read_csv(SHARED / "lmsys" / "train.csv", dtype=str, keep_default_na=False)
    real = real[real["winner_tie"] == "0"].reset_index(drop=True)
    frames = {"train": _resample(real, n, rng), "test": _resample(real, n // TEST_SHARE, rng)}
    for split, frame in frames.items():
        frame["id"] = [f"{split}{i:08x}" for i in range(len(frame))]
        for column in ("prompt", "response_a", "response_b"):  # WSDM holds one text per side: turns joined
            frame[column] = [_mark("\n\n".join(t or "" for t in json.loads(c)), f"{split}{i}.")
                             for i, c in enumerate(frame[column])]
    train = frames["train"]
    train["winner"] = np.where(train["winner_model_a"] == "1", "model_a", "model_b")
    train[["id", "prompt", "response_a", "response_b", "winner", "model_a", "model_b"]].to_parquet(
        out / "train.parquet", index=False)
    test = frames["test"][["id", "prompt", "response_a", "response_b"]].assign(scored=True)
    test.to_parquet(out / "test.parquet", index=False)
    test[["id"]].assign(winner="model_a").to_csv(out / "sample_submission.csv", index=False)


def law_data(out: Path, n: int, rng: np.random.Generator) -> None:
    real = pd.read_csv(SHARED / "law" / "titles_tags.csv", dtype=str, keep_default_na=False)
    train, test = _resample(real, n, rng), _resample(real, n // TEST_SHARE, rng)
    train_ids, test_ids = np.arange(1, n + 1), np.arange(n + 1, n + 1 + len(test))
    marked = {split: [_mark(t, f"{i}.") for i, t in zip(ids, frame["Title"], strict=True)]
              for split, ids, frame in (("train", train_ids, train), ("test", test_ids, test))}
    pd.DataFrame({"id": train_ids, "title": marked["train"], "tags": train["Tags"]}).to_csv(out / "train.csv",
                                                                                             index=False)
    pd.DataFrame({"id": test_ids, "title": marked["test"]}).to_csv(out / "test.csv", index=False)
    pd.DataFrame({"id": test_ids, "tags": "united-states"}).to_csv(out / "sample_submission.csv", index=False)


def hansol_data(out: Path, n: int, rng: np.random.Generator) -> None:
    real = pd.read_csv(SHARED / "hansol" / "train.csv", dtype=str, keep_default_na=False)
    train, test = _resample(real, n, rng), _resample(real, n // TEST_SHARE, rng)
    train["id"] = [f"TRAIN_{i:05d}" for i in range(n)]
    for column in [c for c in train.columns if c.startswith(("질문", "답변"))]:
        train[column] = [_mark(t, f"{i}.") for i, t in enumerate(train[column])]
    train.to_csv(out / "train.csv", index=False)
    ids = [f"TEST_{i:05d}" for i in range(len(test))]
    pd.DataFrame({"id": ids, "질문": [_mark(t, f"t{i}.") for i, t in enumerate(test["질문_1"])]}).to_csv(
        out / "test.csv", index=False)
    vectors = pd.DataFrame(0.0, index=range(len(ids)), columns=[f"vec_{i}" for i in range(512)])
    vectors.insert(0, "id", ids)
    vectors.to_csv(out / "sample_submission.csv", index=False)


BUILDERS: dict[str, Callable[[Path, int, np.random.Generator], None]] = {
    "lmsys": lmsys_data, "wsdm": wsdm_data, "law-tags": law_data, "hansol": hansol_data}


def build_data(name: str, n: int, root: Path) -> Path:
    out = root / f"{name}-{n}"
    if not (out / ".done").exists():
        out.mkdir(parents=True, exist_ok=True)
        BUILDERS[name](out, n, np.random.default_rng(SEED))
        (out / ".done").touch()
    return out


def run_submit(args: list[str], log: Path) -> dict[str, float]:
    """One `submit` process: wall seconds, CPU seconds (its waited-for children too), peak RSS in MB."""
    start = time.perf_counter()
    with log.open("ab") as sink:  # python -m, so PYTHONPATH can point at another checkout (the "before" code)
        process = subprocess.Popen([sys.executable, "-m", "submit.cli", *args], stdout=sink, stderr=sink,
                                   cwd=log.parent)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"submit {' '.join(args)} failed (exit {os.waitstatus_to_exitcode(status)}); see {log}")
    return {"wall_s": round(wall, 1), "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def stage_times(runs: Path, name: str) -> dict[str, float]:
    """The stage times of the newest experiment's scores.json (older versions: fit and predict totals)."""
    scores = max((runs / name).glob("*/scores.json"), key=lambda p: p.stat().st_mtime)
    summary = json.loads(scores.read_text())
    stages = summary.get("stages") or {"fit": summary["fit_s"], "predict": summary["predict_s"]}
    return {k: round(float(v), 1) for k, v in stages.items()} | {"cv": summary["cv_mean"]}


def run_case(name: str, n: int, data_root: Path, runs_root: Path, extra: list[str], warm: bool) -> list[dict]:
    data = build_data(name, n, data_root.resolve())
    runs = Path(tempfile.mkdtemp(prefix=f"{name}-{n}-", dir=runs_root.resolve()))
    args = [name, "--data", str(data), "--runs", str(runs), *extra]
    env_note = {"case": f"{name}:{n}", "train": n, "test": n // TEST_SHARE, "args": extra, "cores": os.cpu_count(),
                "load": round(os.getloadavg()[0], 1)}
    out = []
    for phase in ("cold", "warm")[: 2 if warm else 1]:
        figures = run_submit(args, runs / "bench.log")
        out.append(env_note | {"phase": phase} | figures | {"stages": stage_times(runs, name)})
        print(json.dumps(out[-1]), flush=True)
    return out


def _stage_summary(stages: dict[str, float]) -> dict[str, float]:
    """The stages that took a second or more, each fold's fit and predict folded into their mean a fold."""
    per_fold = {kind: [v for k, v in stages.items() if k.startswith("fold ") and k.endswith(kind)]
                for kind in ("fit", "predict held-out", "predict test")}
    out = {k: v for k, v in stages.items() if not k.startswith("fold ") and k != "cv" and v >= 1}
    return out | {f"{kind} a fold": round(sum(v) / len(v), 1) for kind, v in per_fold.items() if v}


def table(records: list[dict]) -> str:
    lines = ["| data | train / test rows | run | wall | CPU s | peak RSS | stages (s) |",
             "|---|---|---|---|---|---|---|"]
    for r in records:
        minutes, seconds = divmod(r["wall_s"], 60)
        stages = ", ".join(f"{k} {v}" for k, v in _stage_summary(r["stages"]).items())
        lines.append(f"| {r['case'].split(':')[0]} | {r['train']:,} / {r['test']:,} | {r['phase']} | "
                     f"{int(minutes)} min {seconds:.0f} s | {r['cpu_s']:.0f} | {r['peak_rss_mb']:,} MB | {stages} |")
    return "\n".join(lines)


def growth(records: list[dict]) -> str:
    """Per competition, cold runs: CPU seconds, wall and peak RSS fitted as c * rows^b over the measured
    sizes (rows: training plus test, since every row is embedded), and what the fit gives at the real size."""
    lines = ["| data | sizes | CPU s ~ rows^b | wall ~ rows^b | peak RSS ~ rows^b | real size | CPU s there | "
             "wall there (2 cores) | peak RSS there |", "|---|---|---|---|---|---|---|---|---|"]
    cold = [r for r in records if r["phase"] == "cold"]
    for name in dict.fromkeys(r["case"].split(":")[0] for r in cold):
        runs = sorted((r for r in cold if r["case"].startswith(f"{name}:")), key=lambda r: r["train"])
        if len({r["train"] for r in runs}) < 2:  # a growth needs two sizes
            continue
        rows = np.log([r["train"] + r["test"] for r in runs])
        fits = {key: np.polyfit(rows, np.log([r[key] for r in runs]), 1) for key in ("cpu_s", "wall_s", "peak_rss_mb")}
        sizes = " / ".join(f"{r['train']:,}" for r in runs)
        cells = [f"{fits[key][0]:.2f}" for key in fits]
        if name in REAL_SIZES:
            real = sum(REAL_SIZES[name])
            at = {key: float(np.exp(np.polyval(fit, np.log(real)))) for key, fit in fits.items()}
            cells += [f"{REAL_SIZES[name][0]:,} / {REAL_SIZES[name][1]:,}", f"{at['cpu_s']:,.0f}",
                      f"{at['wall_s'] / 60:.0f} min", f"{at['peak_rss_mb']:,.0f} MB"]
        else:
            cells += ["", "", "", ""]
        lines.append(f"| {name} | {sizes} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help="name:rows, e.g. lmsys:2000 (default: every size in SIZES)")
    parser.add_argument("--no-warm", dest="warm", action="store_false", help="cold run only")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="a recipe override")
    parser.add_argument("--recipe", default=None)
    parser.add_argument("--data-root", type=Path, default=Path(tempfile.gettempdir()) / "bench_scale_data",
                        help="where the resampled data is written (kept and reused between calls)")
    parser.add_argument("--runs-root", type=Path, default=Path(tempfile.gettempdir()) / "bench_scale_runs")
    parser.add_argument("--out", type=Path, default=None, help="append each run's JSON line to this file")
    parser.add_argument("--report", type=Path, default=None,
                        help="run nothing: the tables (runs, growth fit) of the JSON lines in this file")
    args = parser.parse_args()
    if args.report:
        records = [json.loads(line) for line in args.report.read_text().splitlines() if line.strip()]
        print(table(records), growth(records), sep="\n\n")
        return
    cases = [(c.split(":")[0], int(c.split(":")[1])) for c in args.cases] or \
        [(name, n) for name, sizes in SIZES.items() for n in sizes]
    extra = [*(["--recipe", args.recipe] if args.recipe else []), *(f"--set={o}" for o in args.overrides)]
    args.runs_root.mkdir(parents=True, exist_ok=True)
    records = []
    for name, n in cases:
        if name not in BUILDERS:
            raise SystemExit(f"unknown competition '{name}'; known: {', '.join(BUILDERS)}")
        for record in run_case(name, n, args.data_root, args.runs_root, extra, args.warm):
            records.append(record)
            if args.out:
                with args.out.open("a") as sink:
                    sink.write(json.dumps(record) + "\n")
    print(table(records), growth(records), sep="\n\n")


if __name__ == "__main__":
    main()
