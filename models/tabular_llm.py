"""The LLM classifier on a table's free-text columns: the same QLoRA head as preference, with the text columns as
its prompt and the classes as its output, for users with a GPU (a recipe: `--recipe llm` of described
competitions).

    head = LlmTextClassifier(model="smollm2-135m", quantization="4bit-nf4", max_steps=200)
    head.fit(X, y, task=tabular_task("multiclass", "logloss"))   # X: typed columns; its text columns are read
    probabilities = head.predict(X_new)

Each row is one user turn in the model's chat template: an instruction naming the number of classes, then each
text column in a section tagged with its name; the class is read from the last token. Too long for
`max_length`: each column is cut in proportion to its length, marked where words were removed (`cut`).
Numbers, categoricals and dates are not read: ensemble it with the tabular heads for those.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from submit.models.llm.classifier import LlmClassifier
from submit.models.tabular_features import column_roles


class LlmTextClassifier(LlmClassifier):
    name = "llm-text-classifier"
    tasks = frozenset({"binary", "multiclass"})

    def _instruction(self, n_classes: int) -> str:
        return f"Read the text below and answer with its class, one of {n_classes}."

    def _layout(self, parts: tuple[str, ...], n_classes: int) -> str:
        sections = "\n\n".join(f"<{name}>\n{text}\n</{name}>" for name, text in zip(self.columns_, parts, strict=True))
        return self.tokenizer_.apply_chat_template(
            [{"role": "user", "content": f"{self._instruction(n_classes)}\n\n{sections}"}], tokenize=False,
            add_generation_prompt=True)

    def _encode_all(self, X: pd.DataFrame, n_classes: int) -> tuple[list[list[int]], int]:
        rows = zip(*(X[c].fillna("").astype(str) for c in self.columns_), strict=True)
        encoded = [self._encode(row, n_classes) for row in rows]
        return [ids for ids, _ in encoded], sum(cut for _, cut in encoded)

    def _fit(self, X, y, X_valid, y_valid, sample_weight: np.ndarray | None = None) -> None:
        self.columns_ = [name for name, role in column_roles(X).items() if role == "text"]
        if not self.columns_:
            raise ValueError(f"{self.name}: the table has no text column to read (see competition.yaml's features)")
        super()._fit(X, y, X_valid, y_valid, sample_weight)  # soft targets and weights: LlmClassifier's loss

    def _save(self, path: Path) -> None:
        (path / "columns.json").write_text(json.dumps(self.columns_), encoding="utf-8")
        super()._save(path)

    def _load(self, path: Path) -> None:
        self.columns_ = json.loads((path / "columns.json").read_text(encoding="utf-8"))
        super()._load(path)
