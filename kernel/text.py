"""Text metrics of the generation competitions, from the field's packages, and the sentence splitter they share.

    from submit.kernel.text import ROUGE_LSUM, CHRF, rouge_f1, split_sentences
    ROUGE_LSUM(y, pred)                         # mean ROUGE-Lsum F1 over rows (rouge-score, Porter stemmer on)
    CHRF(y, pred)                               # corpus chrF of sacrebleu, 0-100
    rouge_f1("rougeLsum", "a reference.", "a candidate.")     # one pair
    rouge_similarity("rougeLsum")(candidates, references)     # per pair, in [0, 1]: MBR's similarity
    split_sentences("First one. Second one (Fig. 3) here.")   # ['First one.', 'Second one (Fig. 3) here.']

y and predictions are 1-D arrays of str. ROUGE is the mean over rows of each row's F1, as the summarisation
literature reports it (rouge-score's aggregate without bootstrap). ROUGE-Lsum reads sentences from line
breaks, so both texts are split into sentences first (nltk's Punkt with common abbreviations; nltk's
trained Punkt model would be a download). chrF is sacrebleu's corpus score (character 6-grams, beta 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cache, lru_cache, partial

import numpy as np
from submit.kernel.competition import Metric

# Abbreviations Punkt must not end a sentence at (lower case, without the final dot), as seen in reviews.
ABBREVIATIONS = ("e.g", "i.e", "et al", "etc", "fig", "figs", "eq", "eqs", "sec", "tab", "vs", "cf", "resp", "approx",
                 "no", "dr", "mr", "ms", "prof", "al", "ref", "refs", "app", "ch", "pp", "vol")
_LINE_BREAKS = re.compile(r"\s*\n\s*")


@cache
def _punkt():
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


def split_sentences(text: str) -> list[str]:
    """The sentences of a text: line breaks always end one; within a line, Punkt decides."""
    return [s for line in _LINE_BREAKS.split(str(text).strip()) if line for s in _punkt().tokenize(line)]


class _CachedTokenizer:
    """rouge-score's tokenizer (lower case, alphanumeric tokens, Porter stems) remembering recent texts:
    MBR scores every candidate against every other, so each text is tokenised once instead of many times."""

    def __init__(self) -> None:
        from rouge_score.tokenizers import DefaultTokenizer

        self._tokenize = lru_cache(maxsize=65_536)(DefaultTokenizer(use_stemmer=True).tokenize)

    def tokenize(self, text: str) -> list[str]:
        return list(self._tokenize(text))


@cache
def _rouge_scorer(rouge_type: str):
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer([rouge_type], tokenizer=_CachedTokenizer())


@lru_cache(maxsize=65_536)  # MBR and Caruana meet each text many times: split it into sentences once
def _for_rouge(rouge_type: str, text: str) -> str:
    return "\n".join(split_sentences(text)) if rouge_type == "rougeLsum" else str(text)


@lru_cache(maxsize=262_144)  # Caruana and the nested fits score the same pairs again with other weights
def rouge_f1(rouge_type: str, reference: str, candidate: str) -> float:
    """One pair's ROUGE F1 (rouge1, rouge2, rougeL or rougeLsum), stemmer on."""
    score = _rouge_scorer(rouge_type).score(_for_rouge(rouge_type, reference), _for_rouge(rouge_type, candidate))
    return float(score[rouge_type].fmeasure)


def _mean_of_rows(sums: np.ndarray, n: int) -> float:
    return float(sums[0] / n) if n else 0.0


def mean_rouge(rouge_type: str) -> Callable[[np.ndarray, np.ndarray], float]:
    def metric(y: np.ndarray, pred: np.ndarray) -> float:
        return float(np.mean(rouge_pairs(rouge_type, pred, y))) if len(y) else 0.0

    metric.__name__ = rouge_type
    return metric


@cache
def _chrf():
    from sacrebleu.metrics import CHRF as SacreChrf

    return SacreChrf()


def chrf(y: np.ndarray, pred: np.ndarray) -> float:
    """sacrebleu's corpus chrF (0-100) of the predictions against one reference each."""
    return float(_chrf().corpus_score([str(p) for p in pred], [[str(r) for r in y]]).score)


def chrf_rows(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Each row's chrF statistics (character and word n-gram counts), as sacrebleu's corpus_score sums them
    (its own significance tests resample these too)."""
    return np.array(_chrf()._extract_corpus_statistics([str(p) for p in pred], [[str(r) for r in y]]),
                    dtype=np.int64).reshape(len(y), -1)


def chrf_from_rows(sums: np.ndarray, n: int) -> float:
    """The corpus chrF of rows whose statistics add up to `sums`."""
    return float(_chrf()._compute_score_from_stats([int(v) for v in sums]).score)


@lru_cache(maxsize=262_144)
def chrf_pair(reference: str, candidate: str) -> float:
    """One pair's sentence chrF (0-100), for MBR selection."""
    return float(_chrf().sentence_score(str(candidate), [str(reference)]).score)


def rouge_pairs(rouge_type: str, candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
    return np.array([rouge_f1(rouge_type, r, c) for c, r in zip(candidates, references, strict=True)])


def rouge_similarity(rouge_type: str) -> Callable[[Sequence[str], Sequence[str]], np.ndarray]:
    """(candidates, references) -> each pair's ROUGE F1 in [0, 1]: a generation task's `similarity`
    (a partial, so a task holding it can be pickled to another process)."""
    return partial(rouge_pairs, rouge_type)


def chrf_similarity(candidates: Sequence[str], references: Sequence[str]) -> np.ndarray:
    """(candidates, references) -> each pair's sentence chrF scaled to [0, 1]: a generation task's `similarity`."""
    return np.array([chrf_pair(r, c) / 100 for c, r in zip(candidates, references, strict=True)])


def _rouge_rows(rouge_type: str, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    return rouge_pairs(rouge_type, pred, y).reshape(-1, 1)


def _rouge_metric(rouge_type: str) -> Metric:
    """A mean ROUGE F1 metric, with its per-row scores for resampling."""
    return Metric(rouge_type, mean_rouge(rouge_type), higher_is_better=True, rows=partial(_rouge_rows, rouge_type),
                  from_rows=_mean_of_rows)


ROUGE_1 = _rouge_metric("rouge1")
ROUGE_2 = _rouge_metric("rouge2")
ROUGE_L = _rouge_metric("rougeL")  # ROUGE-Lsum on texts not split
ROUGE_LSUM = _rouge_metric("rougeLsum")
CHRF = Metric("chrf", chrf, higher_is_better=True, rows=chrf_rows, from_rows=chrf_from_rows)
