"""Training curves: each logged step as a JSON line while training runs, a PNG at the end.

    callback = CurvesCallback(folder / "curves.jsonl")     # given to the transformers Trainer
    draw_curves(folder / "curves.jsonl", folder / "curves.png")

A line holds the step, epoch and whatever the Trainer logged then (loss, learning_rate, eval_loss,
grad_norm). A fold resumed from a checkpoint logs its steps after the checkpoint again; the drawing
keeps the last record of each step.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback


class CurvesCallback(TrainerCallback):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "epoch": state.epoch, **logs}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:  # closed at once: a killed run keeps its lines
            out.write(json.dumps(record) + "\n")


def read_curves(path: Path) -> list[dict]:
    by_step: dict[tuple[int, bool], dict] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_step[(record["step"], "eval_loss" in record)] = record
    return [by_step[k] for k in sorted(by_step)]


def draw_curves(path: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_curves(path)
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "eval_loss" in r]
    fig, (ax_loss, ax_lr) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_loss.plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss")
    if evals:
        ax_loss.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], "o-", label="eval loss")
    ax_loss.set_xlabel("step")
    ax_loss.legend()
    ax_lr.plot([r["step"] for r in train if "learning_rate" in r],
               [r["learning_rate"] for r in train if "learning_rate" in r])
    ax_lr.set_xlabel("step")
    ax_lr.set_title("learning rate")
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
