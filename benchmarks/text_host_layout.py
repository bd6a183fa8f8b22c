"""Lay out a plain text-to-text export (MReD, Evol-Instruct) as the host's files, holding back test rows.

    python benchmarks/text_host_layout.py meta-review ../shared/data/meta_review data/meta-review --test 50
    submit meta-review --data data/meta-review          # CV on the rest, and a validated submission.csv

The real files are training rows only (`submit meta-review --data ../shared/data/meta_review` runs CV and
writes no submission). This writes train.csv (id, source column, target column) with the rows left,
test.csv (id, source column) and sample_submission.csv (id, target column) for `--test` rows drawn with
a seed, plus answers.csv (id, target column): the held-back references, to score a submission by hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from submit.competitions._generation import TextToText
from submit.kernel.plugins import get_competition


def write_host_layout(name: str, export_dir: Path, out_dir: Path, n_test: int, seed: int = 0) -> Path:
    comp = get_competition(name)
    if not isinstance(comp, TextToText):
        raise SystemExit(f"{name} is not a text-to-text competition")
    data = comp.load(export_dir)
    raw = pd.DataFrame({"id": data.train["id"], comp.source_column: data.train["source"],
                        comp.target_column: data.y})
    held = np.zeros(len(raw), dtype=bool)
    held[np.random.default_rng(seed).choice(len(raw), size=n_test, replace=False)] = True
    test = raw[held]
    comp.write_host_files(out_dir, raw[~held], test[["id", comp.source_column]], placeholder="-")
    test[["id", comp.target_column]].to_csv(out_dir / "answers.csv", index=False)
    return out_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("competition", choices=["meta-review", "code-instruct"])
    parser.add_argument("export", type=Path, help="folder holding the plain export")
    parser.add_argument("out", type=Path, help="folder to write the host's files to")
    parser.add_argument("--test", type=int, default=50, help="rows held back as the test set")
    args = parser.parse_args()
    print(write_host_layout(args.competition, args.export, args.out, args.test))


if __name__ == "__main__":
    main()
