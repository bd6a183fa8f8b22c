"""Meta-review summarisation (MReD-style): a paper's peer reviews -> the area chair's meta-review.

    from submit.competitions.meta_review import MetaReview
    data = MetaReview().load(Path("data/meta-review"))            # or the real MReD export, see below
    data.train["source"][0]                                       # the reviews, one paragraph each
    MetaReview().score(data.y[:5], predicted)                     # rougeLsum, rouge1, rouge2, rougeL

Files in the host's layout: train.csv (id, text, summary), test.csv (id, text), sample_submission.csv
(id, summary); `text` holds the reviews joined by `<sep>`, which the loader turns into blank lines (one
paragraph per review). A plain export with columns text and summary (MReD's `val_longest.csv`, as in
../shared/data/meta_review) loads as training rows only, for cross-validation:

    submit meta-review --data ../shared/data/meta_review --recipe lead

Scored with rouge-score (Porter stemmer on), mean F1 over rows: ROUGE-Lsum (the leaderboard's; sentences
split by competitions.text.split_sentences), ROUGE-1, ROUGE-2, and ROUGE-L (what ROUGE-Lsum gives when the
texts are not split into sentences, the figure some reports call ROUGE-Lsum).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from submit.competitions._generation import TextToText, generation_task
from submit.kernel.text import ROUGE_1, ROUGE_2, ROUGE_L, ROUGE_LSUM, rouge_similarity

SEPARATOR = "<sep>"
_SEPARATOR = re.compile(r"\s*<sep>\s*")
N_SAMPLE_TRAIN, N_SAMPLE_TEST = 120, 24


class MetaReview(TextToText):
    name = "meta-review"
    title = "Meta-review summarisation (MReD): reviews -> meta-review"
    host = "local"
    task = generation_task(rouge_similarity("rougeLsum"))  # MBR selects by the leaderboard's metric
    metrics = (ROUGE_LSUM, ROUGE_1, ROUGE_2, ROUGE_L)
    source_column, target_column = "text", "summary"
    max_chars = 10_000  # real meta-reviews run to about 2,600 characters

    def source_text(self, raw: pd.Series) -> pd.Series:
        return raw.map(lambda text: "\n\n".join(p for p in _SEPARATOR.split(text.strip()) if p))

    def write_sample(self, out_dir: Path, seed: int = 0) -> None:
        """train.csv (120 papers), test.csv (24) and sample_submission.csv; reviews span several lines."""
        rng = np.random.default_rng(seed)
        papers = [_paper(rng, i) for i in range(N_SAMPLE_TRAIN + N_SAMPLE_TEST)]
        frame = pd.DataFrame(papers, columns=["id", "text", "summary"])
        self.write_host_files(out_dir, frame.iloc[:N_SAMPLE_TRAIN], frame.iloc[N_SAMPLE_TRAIN:][["id", "text"]],
                              placeholder="The reviewers agree that the paper is interesting.")


# --- the synthetic sample ---------------------------------------------------------------------------------
# Each paper has a method, a field and three judgements (novelty, experiments, clarity). Each review opens
# by restating the contribution and then judges some of the three; the meta-review restates the
# contribution, the reviewers' consensus on each judgement and the decision that follows from them. The
# words of the reviews predict the meta-review: the signal a head can learn and a constant text cannot.

_METHODS = ("a graph attention network", "a contrastive pretraining objective", "a sparse mixture of experts",
            "a diffusion model", "a meta-learning algorithm", "a spectral normalisation layer",
            "a variational autoencoder", "a reinforcement learning agent")
_FIELDS = ("molecule property prediction", "image classification", "machine translation", "speech recognition",
           "text summarisation", "robot control", "recommendation", "time series forecasting")
_JUDGEMENTS = {  # aspect: (review sentence if good, if bad; meta-review phrasings if good, if bad)
    "novelty": (("The idea is novel and clearly differs from prior work.",
                 "The novelty is limited, since similar ideas appeared in prior work."),
                (("The reviewers agree that the idea is novel.", "All reviewers find the approach original."),
                 ("The reviewers find the novelty limited compared with prior work.",
                  "Several reviewers point out that the idea is not new."))),
    "experiments": (("The experiments are thorough and the baselines are strong.",
                     "The experiments are weak and important baselines are missing."),
                    (("The experiments are convincing.", "The empirical results are strong and thorough."),
                     ("The experimental evaluation is not convincing and lacks baselines.",
                      "Important baselines are missing from the experiments."))),
    "clarity": (("The paper is well written and easy to follow.",
                 "The paper is hard to follow and the notation is confusing."),
                (("The paper is clearly written.", "The presentation is clear."),
                 ("The presentation needs substantial work.", "The writing is hard to follow in places."))),
}
_DECISIONS = (("Overall, the reviewers recommend acceptance.", "I therefore recommend accepting this paper."),
              ("In its current form the paper is not ready for publication, and I recommend rejection.",
               "I recommend rejecting the paper and encourage the authors to resubmit."))
_FILLERS = ("I have a few minor comments below.", "Some details of the setup are unclear to me.",
            "The appendix answers most of my questions.", "I read the author response carefully.")
_MINOR = ("Minor: the figure labels are too small.", "Minor: a few typos remain in the related work.",
          "Minor: please report the variance over seeds.")


def _review(rng: np.random.Generator, method: str, field: str, verdicts: dict[str, bool]) -> str:
    opening = rng.choice([f"This paper proposes {method} for {field}.",
                          f"The authors present {method} and apply it to {field}.",
                          f"This submission introduces {method} for {field}."])
    aspects = [a for a in _JUDGEMENTS if rng.random() < 0.8] or ["novelty"]
    body = [_JUDGEMENTS[a][0][0 if verdicts[a] else 1] for a in aspects]
    lines = [opening, *body, str(rng.choice(_FILLERS))]
    text = " ".join(lines)
    if rng.random() < 0.5:  # a multi-line cell, as real reviews with lists are
        text += "\n" + "\n".join(f"- {m}" for m in rng.choice(_MINOR, size=2, replace=False))
    return text


def _paper(rng: np.random.Generator, i: int) -> tuple[str, str, str]:
    method, field = str(rng.choice(_METHODS)), str(rng.choice(_FIELDS))
    verdicts = {a: bool(rng.random() < 0.6) for a in _JUDGEMENTS}
    reviews = [_review(rng, method, field, verdicts) for _ in range(int(rng.integers(2, 4)))]
    accepted = sum(verdicts.values()) >= 2
    summary = " ".join([
        str(rng.choice([f"This paper proposes {method} for {field}.", f"The paper studies {field} with {method}."])),
        *(str(rng.choice(_JUDGEMENTS[a][1][0 if verdicts[a] else 1])) for a in _JUDGEMENTS),
        str(rng.choice(_DECISIONS[0 if accepted else 1])),
    ])
    return f"paper-{i:04d}", f" {SEPARATOR} ".join(reviews), summary
