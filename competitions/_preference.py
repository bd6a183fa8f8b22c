"""Shared code of the chatbot-arena plugins (wsdm, lmsys): readers, metrics, the LMSYS->WSDM conversion, samples.

    from submit.competitions._preference import read_lmsys_train, lmsys_to_wsdm
    frame, y = read_lmsys_train(Path("data/lmsys/train.csv"))     # canonical columns, y one-hot (n, 3)
    wsdm_frame, wsdm_y = lmsys_to_wsdm(frame, y)                  # ties dropped, y (n, 2)

Canonical columns of every preference frame: id, prompt, response_a, response_b, n_turns (plus language
where the host gives it). Model identities (model_a, model_b) are read for checking only and never
reach a head: on the hosts' test sets they are hidden, so a head that learnt from them would not transfer.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.checks import Column, DataError, check_table, list_length, read_any
from submit.kernel.competition import Metric, subset_rows

CANONICAL = ("id", "prompt", "response_a", "response_b", "n_turns")
LMSYS_FLAGS = ("winner_model_a", "winner_model_b", "winner_tie")
WSDM_LABELS = ("model_a", "model_b")
TURN_SEPARATOR = "\n\n"


# --- metrics ------------------------------------------------------------------------------------------

def accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.argmax(y, axis=1) == np.argmax(pred, axis=1)))


def log_loss(y: np.ndarray, pred: np.ndarray) -> float:
    """Multi-class log loss as Kaggle scores it: clip at 1e-15, renormalise each row."""
    p = np.clip(np.asarray(pred, dtype=np.float64), 1e-15, 1 - 1e-15)
    p = p / p.sum(axis=1, keepdims=True)
    return float(-np.mean(np.sum(y * np.log(p), axis=1)))


ACCURACY = Metric("accuracy", accuracy, higher_is_better=True)
LOG_LOSS = Metric("log_loss", log_loss, higher_is_better=False)


# --- helpers ------------------------------------------------------------------------------------------

def clean_text(text: str) -> str:
    """Replace lone UTF-16 surrogates (seen in the LMSYS JSON) so the text can be hashed and embedded."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def prompt_groups(prompts: pd.Series) -> np.ndarray:
    """A hash of each prompt's text: the same prompt (asked of many model pairs) stays in one fold."""
    return np.array([hashlib.sha1(p.encode("utf-8")).hexdigest()[:16] for p in prompts], dtype=object)


def keep_subset(frame: pd.DataFrame, y: np.ndarray, limit: int | None) -> tuple[pd.DataFrame, np.ndarray]:
    keep = subset_rows(len(frame), limit)
    return frame.iloc[keep].reset_index(drop=True), y[keep]


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [*CANONICAL, *(["language"] if "language" in frame.columns else [])]
    out = frame[columns].reset_index(drop=True)
    out["n_turns"] = out["n_turns"].astype(np.int64)
    return out


def parse_turns(value: str, path: Path, column: str, row: int) -> list[str]:
    """One LMSYS cell: a JSON list of turns; null turns (a model that answered nothing) become ""."""
    try:
        turns = json.loads(value)
    except json.JSONDecodeError:
        turns = None
    if not isinstance(turns, list) or not turns:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise DataError(path, f"{shown!r} is not a non-empty JSON list of turns", column=column, row=row,
                        expected='a JSON list of strings, e.g. ["first turn", "second turn"]')
    for turn in turns:
        if turn is not None and not isinstance(turn, str):
            raise DataError(path, f"turn {turn!r} is not a string", column=column, row=row,
                            expected="each turn a string or null")
    return [clean_text(t) if t is not None else "" for t in turns]


def join_turn_column(frame: pd.DataFrame, path: Path, column: str) -> tuple[list[str], list[int]]:
    texts, counts = [], []
    for row, value in enumerate(frame[column], start=1):
        turns = parse_turns(value, path, column, row)
        texts.append(TURN_SEPARATOR.join(turns))
        counts.append(len(turns))
    return texts, counts


# --- LMSYS files --------------------------------------------------------------------------------------

LMSYS_TEXT_COLUMNS = [Column("id", "id"), Column("prompt", "text"), Column("response_a", "text"),
                      Column("response_b", "text")]


def _turns_as_json(value: object) -> object:
    """A list cell of turns (Parquet, JSON lines) as the JSON text the CSV holds; other cells as they are."""
    if isinstance(value, (list, tuple, np.ndarray)) and all(t is None or isinstance(t, str) for t in value):
        return json.dumps(list(value))
    return value  # anything else is checked, and refused with its row, as a cell


def read_lmsys(path: Path, *, train: bool) -> tuple[pd.DataFrame, np.ndarray | None]:
    """LMSYS train.csv or test.csv -> canonical frame (turns joined) and, for train, y one-hot (a, b, tie).
    Turns come as JSON lists in text (the host's CSV) or as list cells (Parquet, JSON lines)."""
    flags = [Column(name, "choice", choices=("0", "1")) for name in LMSYS_FLAGS] if train else []
    frame = read_any(path)
    for column in ("prompt", "response_a", "response_b"):
        if column in frame.columns:
            frame[column] = frame[column].map(_turns_as_json)
    raw = check_table(path, frame, LMSYS_TEXT_COLUMNS + flags, min_rows=1 if train else 0)
    out = pd.DataFrame({"id": raw["id"]})
    for column in ("prompt", "response_a", "response_b"):
        out[column], counts = join_turn_column(raw, path, column)
        if column == "prompt":
            out["n_turns"] = counts
    if not train:
        return canonical(out), None
    y = raw[list(LMSYS_FLAGS)].astype(int).to_numpy()
    bad = y.sum(axis=1) != 1
    if bad.any():
        row = int(bad.nonzero()[0][0])
        raise DataError(path, f"{int(y[row].sum())} winner flags are set", column=", ".join(LMSYS_FLAGS),
                        row=row + 1, expected="exactly one of winner_model_a, winner_model_b, winner_tie equal to 1")
    return canonical(out), y.astype(np.float64)


def lmsys_to_wsdm(frame: pd.DataFrame, y: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """LMSYS rows as WSDM training rows: ties dropped (WSDM has none), winner kept, ids prefixed."""
    decided = y[:, 2] == 0
    out = frame[decided].reset_index(drop=True)
    out["id"] = "lmsys-" + out["id"].astype(str)  # WSDM ids are hex strings; keep the two id spaces apart
    return out, y[decided][:, :2]


# --- WSDM files ---------------------------------------------------------------------------------------

def read_wsdm(path: Path, *, train: bool) -> tuple[pd.DataFrame, np.ndarray | None]:
    """WSDM train or test table -> canonical frame and, for train, y one-hot (model_a, model_b). Cells are
    texts; list cells (turns of a multi-turn chat) are joined as LMSYS turns are, and counted in n_turns."""
    # Responses may be empty (a model that answered nothing still lost or won); an empty prompt is an error.
    turns = {"join_lists": TURN_SEPARATOR}
    columns = [Column("id", "id"), Column("prompt", "text", **turns), Column("response_a", "optional_text", **turns),
               Column("response_b", "optional_text", **turns),
               Column("language", "optional_text", required=False)]
    if train:
        columns.append(Column("winner", "choice", choices=WSDM_LABELS))
    else:
        columns.append(Column("scored", "bool", required=False))
    frame = read_any(path)
    n_turns = frame["prompt"].map(list_length).to_numpy() if "prompt" in frame.columns else 1
    raw = check_table(path, frame, columns, min_rows=1 if train else 0)
    for column in ("prompt", "response_a", "response_b"):
        raw[column] = [clean_text(t) for t in raw[column]]
    raw["n_turns"] = n_turns
    y = None
    if train:
        y = np.stack([(raw["winner"] == label).to_numpy() for label in WSDM_LABELS], axis=1).astype(np.float64)
    return canonical(raw), y


# --- synthetic samples --------------------------------------------------------------------------------
# Each response has a hidden quality q; better responses tend to be longer, to use markdown (lists,
# headers, code, bold) and to reuse the prompt's words. The winner is drawn from a logistic in the quality
# gap, and ties are likely when the gap is small: learnable from the text, but far from perfectly.

_LANGUAGES = {  # name: (weight, topics, verbs, prompt template, sentence templates, refusal, list intro)
    "English": (0.45, ["garden", "pasta", "python", "budget", "battery", "guitar", "resume", "marathon", "database",
                       "vacation", "interview", "coffee"], ["improve", "fix", "plan", "learn", "clean", "choose"],
                "How can I {v} my {t1} and my {t2}?",
                ["The key to a good {t} is patience.", "Many people {v} their {t} every week.",
                 "You should look at the {t} first.", "A simple routine for the {t} works well.",
                 "Think about how the {t} fits your goals.", "Experts often {v} the {t} step by step."],
                "I'm sorry, but I can't help with that.", "Here are some steps:"),
    "Korean": (0.15, ["정원", "파스타", "파이썬", "예산", "배터리", "기타", "이력서", "마라톤", "데이터베이스", "여행"],
               ["개선", "정리", "계획", "공부"], "{t1}와 {t2}를 어떻게 {v}할 수 있을까요?",
               ["{t}는 꾸준함이 가장 중요합니다.", "많은 사람들이 매주 {t}를 {v}합니다.", "먼저 {t}를 확인해 보세요.",
                "{t}에 대한 간단한 방법이 효과적입니다."],
               "죄송하지만 도와드릴 수 없습니다.", "다음 단계를 따라 보세요:"),
    "Spanish": (0.12, ["jardín", "pasta", "python", "presupuesto", "batería", "guitarra", "currículum", "maratón"],
                ["mejorar", "arreglar", "planificar", "aprender"], "¿Cómo puedo {v} mi {t1} y mi {t2}?",
                ["La clave del {t} es la paciencia.", "Mucha gente suele {v} su {t} cada semana.",
                 "Primero revisa el {t}.", "Una rutina sencilla para el {t} funciona bien."],
                "Lo siento, no puedo ayudar con eso.", "Aquí tienes algunos pasos:"),
    "German": (0.1, ["Garten", "Nudeln", "Python", "Budget", "Akku", "Gitarre", "Lebenslauf", "Marathon"],
               ["verbessern", "reparieren", "planen", "lernen"], "Wie kann ich meinen {t1} und {t2} {v}?",
               ["Der Schlüssel zum {t} ist Geduld.", "Viele Menschen {v} ihren {t} jede Woche.",
                "Prüfe zuerst den {t}.", "Eine einfache Routine für den {t} hilft."],
               "Tut mir leid, dabei kann ich nicht helfen.", "Hier sind einige Schritte:"),
    "Chinese": (0.1, ["花园", "意面", "编程", "预算", "电池", "吉他", "简历", "马拉松"],
                ["改进", "修理", "规划", "学习"],
                "我怎样才能{v}我的{t1}和{t2}？",
                ["{t}的关键是耐心。", "很多人每周都会{v}他们的{t}。", "先检查一下{t}。", "一个简单的{t}计划很有效。"],
                "抱歉，我无法帮助你。", "以下是一些步骤："),
    "Russian": (0.08, ["сад", "паста", "питон", "бюджет", "батарея", "гитара", "резюме", "марафон"],
                ["улучшить", "починить", "спланировать", "изучить"], "Как мне {v} мой {t1} и мой {t2}?",
                ["Главное в теме {t} это терпение.", "Многие люди хотят {v} свой {t} каждую неделю.",
                 "Сначала проверьте {t}.", "Простой план для темы {t} работает хорошо."],
                "Извините, я не могу с этим помочь.", "Вот несколько шагов:"),
}
_MODELS = {"gpt-4-1106-preview": 0.8, "claude-2.1": 0.5, "gemini-pro": 0.3, "mixtral-8x7b-instruct-v0.1": 0.2,
           "llama-2-70b-chat": 0.0, "vicuna-13b": -0.3, "gemma-7b-it": -0.4, "chatglm3-6b": -0.7}


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + np.exp(-x))


def _response(rng: np.random.Generator, lang: tuple, q: float, prompt_topics: list[str]) -> str:
    _, topics, verbs, _, sentences, refusal, list_intro = lang
    s = _sigmoid(q)
    if q < -1.5 and rng.random() < 0.5:
        return refusal

    def sentence() -> str:
        topic = rng.choice(prompt_topics) if rng.random() < 0.1 + 0.6 * s else rng.choice(topics)
        if rng.random() < 0.1 + 0.4 * s:
            topic = f"**{topic}**"
        return str(rng.choice(sentences)).format(t=topic, v=rng.choice(verbs))

    parts = [" ".join(sentence() for _ in range(1 + rng.poisson(0.5 + 3 * s)))]
    if rng.random() < 0.02 + 0.3 * s:
        parts.insert(0, f"## {rng.choice(prompt_topics)}")
    if rng.random() < 0.05 + 0.55 * s:
        marker = "-" if rng.random() < 0.6 else "1."
        parts.append(list_intro + "\n" + "\n".join(f"{marker} {sentence()}" for _ in range(2 + rng.poisson(1.5))))
    if rng.random() < 0.02 + 0.25 * s:
        parts.append(f"```python\nsteps = {rng.integers(2, 9)}\nprint('{rng.choice(verbs)}', steps)\n```")
    return "\n\n".join(parts)


def synthetic_pairs(n: int, rng: np.random.Generator, *, ties: bool, max_turns: int) -> pd.DataFrame:
    """n arena battles: language, model_a, model_b, lists of prompt/response turns, label (0 a, 1 b, 2 tie)."""
    names = list(_LANGUAGES)
    weights = np.array([_LANGUAGES[name][0] for name in names])
    models = list(_MODELS)
    rows = []
    for _ in range(n):
        lang_name = names[rng.choice(len(names), p=weights / weights.sum())]
        lang = _LANGUAGES[lang_name]
        model_a, model_b = (models[i] for i in rng.choice(len(models), size=2, replace=False))
        q_a, q_b = _MODELS[model_a] + rng.normal(), _MODELS[model_b] + rng.normal()
        prompts, resp_a, resp_b = [], [], []
        for _turn in range(min(max_turns, 1 + rng.poisson(0.4))):
            t1, t2 = (str(t) for t in rng.choice(lang[1], size=2, replace=False))
            prompts.append(lang[3].format(t1=t1, t2=t2, v=rng.choice(lang[2])))
            resp_a.append(_response(rng, lang, q_a, [t1, t2]))
            resp_b.append(_response(rng, lang, q_b, [t1, t2]))
        gap = q_a - q_b
        if ties and rng.random() < 0.7 * np.exp(-((gap / 0.9) ** 2)):
            label = 2
        else:
            label = 0 if rng.random() < _sigmoid(2.0 * gap) else 1
        rows.append({"language": lang_name, "model_a": model_a, "model_b": model_b, "prompt": prompts,
                     "response_a": resp_a, "response_b": resp_b, "label": label})
    return pd.DataFrame(rows)


def synthetic_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unique, shuffled integer ids in the style of the hosts' files."""
    return rng.permutation(100_000 + np.cumsum(rng.integers(1, 50_000, size=n)))
