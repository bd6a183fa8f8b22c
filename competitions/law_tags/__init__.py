"""Law Stack Exchange tag prediction: a question's title (and body) -> its set of tags.

    from submit.competitions.law_tags import LawTags
    comp = LawTags()
    data = comp.load(Path("../shared/data/law"), min_tag_count=2)   # data.y: (n, n_tags) 0/1
    decision = comp.fit_decision(data.y, oof_scores)                # {"threshold": t}, fitted on OOF
    frame = comp.format_submission(data, comp.decide(test_scores, decision))   # id, "tag-a tag-b"

Two layouts load:

- Kaggle (the Stack Exchange tag competitions' format): train, test and sample_submission tables
  (.csv, .parquet or .jsonl). train: id, title, body (optional), tags, score (optional int); test: the
  same without tags; sample_submission: id, tags.
- A plain Stack Exchange export: the folder's only table, with columns Title, Tags and optionally Body,
  Score, Id (ids are the data row numbers, from 1, when there is no Id). There is no test set:
  `Dataset.test` is empty and `sample_submission` None, so a run does cross-validation only.

Tags are written `<a><b>` or space-separated; they are stripped and lowercased. A training row with no
tag is an error. The vocabulary (`Dataset.label_names`) is the sorted set of training tags.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from submit.kernel.checks import Column, DataError, check_ids_covered, find_table, only_table, read_table
from submit.kernel.competition import Competition, Dataset, LoadOptionError, Metric, subset_rows
from submit.kernel.submissions import TAGS, SubmissionSpec
from submit.kernel.tasks import TAGGING, mean_row_f1, micro_f1

_BRACKETED = re.compile(r"(?:\s*<[^<>]*>)+\s*")
_TAG = re.compile(r"[\w+#.\-]+")  # Stack Exchange tags: letters, digits and + # . - (no spaces or quotes)
_TAGS_EXPECTED = "tags written <a><b> or 'a b' (letters, digits, + # . -)"


def parse_tags(text: str) -> list[str]:
    """'<a><b>' or 'a b' -> ['a', 'b'], stripped, lowercased, without repeats; ValueError when malformed."""
    text = str(text).strip()
    if "<" in text or ">" in text:
        if not _BRACKETED.fullmatch(text):
            raise ValueError(f"malformed tags {text!r}")
        raw = re.findall(r"<([^<>]*)>", text)
    else:
        raw = text.split()
    tags = [t.strip().lower() for t in raw if t.strip()]
    for tag in tags:
        if not _TAG.fullmatch(tag):
            raise ValueError(f"tag {tag!r} in {text!r} holds characters a tag cannot have")
    return list(dict.fromkeys(tags))


def _parse_tag_column(path: Path, column: str, values: pd.Series) -> list[list[str]]:
    parsed = []
    for row, value in enumerate(values, start=1):
        try:
            tags = parse_tags(value)
        except ValueError as err:
            raise DataError(path, str(err), column=column, row=row, expected=_TAGS_EXPECTED) from None
        if not tags:
            raise DataError(path, "the row has no tags", column=column, row=row, expected="at least one tag")
        parsed.append(tags)
    return parsed


def _canonical(frame: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The canonical columns id, title, body ("" when absent) and score (when present, nullable int)."""
    out = pd.DataFrame({"id": frame[names["id"]].astype(str), "title": frame[names["title"]].astype(str)})
    out["body"] = frame[names["body"]].astype(str) if names["body"] in frame.columns else ""
    if names["score"] in frame.columns:
        out["score"] = frame[names["score"]].astype("Int64")
    return out


_KAGGLE = {"id": "id", "title": "title", "body": "body", "score": "score", "tags": "tags"}
_EXPORT = {"id": "Id", "title": "Title", "body": "Body", "score": "Score", "tags": "Tags"}


def _columns(names: dict[str, str], *, with_tags: bool, id_required: bool) -> list[Column]:
    columns = [Column(names["id"], "id", required=id_required), Column(names["title"], "text"),
               Column(names["body"], "optional_text", required=False), Column(names["score"], "int", required=False)]
    if with_tags:
        # optional_text: an empty cell is reported below as "no tags", which says more than "empty text".
        columns.append(Column(names["tags"], "optional_text", join_lists=" "))
    return columns


_Read = tuple[pd.DataFrame, list[list[str]], pd.DataFrame, pd.DataFrame | None, dict[str, Path]]


def _read_test(path: Path) -> pd.DataFrame:
    return _canonical(read_table(path, _columns(_KAGGLE, with_tags=False, id_required=True)), _KAGGLE)


def _read_kaggle(data_dir: Path) -> _Read:
    """train/test/sample_submission tables -> (train, its tags, test, sample submission, files)."""
    paths = {stem: find_table(data_dir, stem) for stem in ("train", "test", "sample_submission")}
    for stem, path in paths.items():
        if path is None:
            raise DataError(data_dir / stem, "file not found",
                            expected=f"{stem}.csv (or .parquet, .jsonl) beside {paths['train'].name}")
    raw = read_table(paths["train"], _columns(_KAGGLE, with_tags=True, id_required=True), min_rows=1)
    tags = _parse_tag_column(paths["train"], "tags", raw["tags"])
    test = _read_test(paths["test"])
    sample = read_table(paths["sample_submission"], [Column("id", "id"), Column("tags", "optional_text")], exact=True)
    check_ids_covered(test["id"], sample["id"], ids_file=paths["test"], sample_file=paths["sample_submission"])
    return _canonical(raw, _KAGGLE), tags, test, sample, paths


def _read_export(data_dir: Path) -> _Read:
    """The folder's single Title/Tags table -> (train, its tags, an empty test, no sample submission, files)."""
    path = only_table(data_dir, "train + test + sample_submission tables (Kaggle layout), or a single Stack "
                                "Exchange export table with columns Title, Tags")
    raw = read_table(path, _columns(_EXPORT, with_tags=True, id_required=False), min_rows=1)
    if "Id" not in raw.columns:
        raw["Id"] = np.arange(1, len(raw) + 1).astype(str)  # the data row number, as in error messages
    tags = _parse_tag_column(path, "Tags", raw["Tags"])
    train = _canonical(raw, _EXPORT)
    return train, tags, train.iloc[:0].copy(), None, {"train": path}


# --- synthetic sample: templated questions whose words give their tags away -------------------------------
# tag -> (title phrases, body sentences). A row takes one topic, sometimes a related second topic, and
# often a jurisdiction, so it has 1-3 tags; united-states is the frequent tag, as on the real site.
_TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "copyright": (("use a screenshot from a movie in my video", "upload song covers to YouTube",
                   "copy photos I found on Google Images", "sell fan art of a cartoon character"),
                  ("The original work is copyrighted and I hope fair use applies.",
                   "I received a DMCA takedown notice for the upload.")),
    "trademark": (("name my bakery after a famous brand", "print a logo similar to a sports brand on shirts",
                   "register a trademark for my podcast name"),
                  ("Another company owns a registered trademark for a similar mark.",
                   "They claim consumer confusion and trademark infringement.")),
    "patents": (("build a product based on an expired patent", "file a patent for my invention",
                 "sell a device that uses a patented mechanism"),
                ("The patent claims cover a mechanism almost identical to mine.",
                 "A patent attorney quoted a high fee for the prior art search.")),
    "contract-law": (("get out of a signed contract early", "enforce a verbal agreement with a contractor",
                      "sue for breach of contract over a late payment"),
                     ("The contract has a termination clause with a penalty.",
                      "Both parties signed the agreement but the other side did not deliver.")),
    "employment": (("be fired for posting on social media", "refuse unpaid overtime from my employer",
                    "get my final paycheck after quitting my job"),
                   ("My employer says the wages will be paid next month.",
                    "The employee handbook says nothing about overtime.")),
    "landlord": (("withhold rent when the landlord ignores repairs", "get my security deposit back",
                  "be evicted by my landlord without notice"),
                 ("The lease says the landlord must give notice before entering.",
                  "The tenancy ended and the landlord kept the deposit.")),
    "criminal-law": (("plead guilty to a misdemeanor", "get a felony conviction expunged",
                      "be prosecuted for acting in self defense"),
                     ("The prosecutor offered a plea deal before trial.",
                      "The charge is a felony with a possible prison sentence.")),
    "police": (("refuse a police search of my car", "film police officers during a stop",
                "be arrested for not showing ID to an officer"),
               ("The officer did not have a warrant.", "The police detained me for an hour without a reason.")),
    "privacy": (("record a phone call without consent", "point security cameras at my neighbor's yard",
                 "track my teenager's phone location"),
                ("I do not want to invade anyone's privacy.", "The camera also records audio of people passing by.")),
    "gdpr": (("ask a company to delete my personal data", "keep customer emails without consent",
              "charge a fee for a data subject access request"),
             ("The data controller ignored my erasure request under the GDPR.",
              "Our website collects personal data through cookies.")),
    "tax-law": (("deduct home office expenses from income tax", "pay tax on cryptocurrency gains",
                 "claim a tax refund for a previous year"),
                ("The tax authority sent a letter about unpaid income tax.",
                 "I earned income in two countries last year.")),
    "immigration": (("work while my visa application is pending", "overstay a tourist visa by a few days",
                     "sponsor my spouse for a residence permit"),
                    ("The immigration office has not answered my visa application.",
                     "My residence permit expires soon.")),
    "traffic": (("contest a speeding ticket from a camera", "drive with a foreign driving license",
                 "fight a parking fine in an unmarked zone"),
                ("The speed camera photo does not show the driver.",
                 "The traffic ticket lists the wrong license plate.")),
    "divorce": (("keep the house after a divorce", "get custody of my children in a divorce",
                 "stop paying alimony after my ex remarries"),
                ("My spouse filed for divorce last month.", "The custody hearing is set in family court.")),
    "inheritance": (("contest my father's will", "inherit a house without a will", "refuse an inheritance with debts"),
                    ("The will leaves the whole estate to a neighbor.", "The estate has more debts than assets.")),
    "defamation": (("sue someone over a fake online review", "name a scammer publicly on Facebook",
                    "answer a libel letter from a company"),
                   ("The statement is false and damaged my reputation.",
                    "They threatened a defamation lawsuit over my post.")),
    "licensing": (("use GPL code in a commercial app", "change the license of my open source project",
                   "use a font without a commercial license"),
                  ("The license requires attribution and sharing the source code.",
                   "The library is released under an open source license.")),
    "consumer-protection": (("return a faulty laptop after the warranty ends", "get a refund for a cancelled flight",
                             "cancel a subscription that renewed automatically"),
                            ("The seller refuses a refund despite the defect.",
                             "The store claims the warranty does not cover it.")),
}
_RELATED = {"copyright": "licensing", "licensing": "copyright", "trademark": "patents", "patents": "trademark",
            "gdpr": "privacy", "privacy": "gdpr", "police": "criminal-law", "criminal-law": "police",
            "traffic": "police", "landlord": "contract-law", "employment": "contract-law",
            "divorce": "inheritance", "inheritance": "divorce", "defamation": "privacy",
            "consumer-protection": "contract-law", "tax-law": "employment", "immigration": "employment",
            "contract-law": "consumer-protection"}
_PLACES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "united-states": ((" in the US", " in California", " in Texas", " under US federal law"),
                      ("I live in the United States.", "This happened in Florida.")),
    "united-kingdom": ((" in the UK", " in England", " in Scotland"), ("I live in London.", "This is in England.")),
    "canada": ((" in Canada", " in Ontario"), ("I live in Toronto.", "This happened in British Columbia.")),
    "european-union": ((" in the EU", " under EU law"), ("The company is based in the European Union.",)),
    "germany": ((" in Germany", " under German law"), ("I live in Berlin.",)),
    "australia": ((" in Australia", " in New South Wales"), ("I live in Sydney.",)),
    "india": ((" in India", " under Indian law"), ("I live in Mumbai.",)),
}
_OPENERS = ("Is it legal to", "Can I", "Am I allowed to", "What happens if I", "Do I need a lawyer to")
_FILLERS = ("", "Any advice is appreciated.", "What are my options?", "Thanks in advance.")


def synthetic_questions(rng: np.random.Generator, n: int, first_id: int) -> pd.DataFrame:
    """n templated questions: id, title, body, tags (space-separated), score."""
    topics, places = list(_TOPICS), list(_PLACES)

    def pick(options: list[str] | tuple[str, ...]) -> str:
        return options[int(rng.integers(len(options)))]

    rows = []
    for i in range(n):
        topic = pick(topics)
        tags, body = [topic], [pick(_TOPICS[topic][1])]
        if topic in _RELATED and rng.random() < 0.35:
            tags.append(_RELATED[topic])
            body.append(pick(_TOPICS[_RELATED[topic]][1]))
        u = rng.random()
        place = "united-states" if u < 0.45 else pick(places[1:]) if u < 0.7 else None
        suffix = ""
        if place is not None:
            tags.append(place)
            if rng.random() < 0.6:
                suffix = pick(_PLACES[place][0])
            else:
                body.append(pick(_PLACES[place][1]))
        # A few vague titles leave the signal to the body alone.
        phrase = "do this" if rng.random() < 0.08 else pick(_TOPICS[topic][0])
        body.append(pick(_FILLERS))
        rows.append({"id": first_id + i, "title": f"{pick(_OPENERS)} {phrase}{suffix}?",
                     "body": " ".join(b for b in body if b), "tags": " ".join(tags),
                     "score": int(rng.integers(-2, 30))})
    return pd.DataFrame(rows)


class LawTags(Competition):
    name = "law-tags"
    title = "Law Stack Exchange: predict a question's tags"
    host = "kaggle"
    slug = None
    task = TAGGING
    metrics = (Metric("micro_f1", micro_f1, higher_is_better=True),
               Metric("mean_row_f1", mean_row_f1, higher_is_better=True))
    folds_scheme = "multilabel"

    def load_unlabeled(self, data_dir: Path) -> pd.DataFrame:
        """A `test` table of the Kaggle layout (id, title[, body]): questions without tags."""
        path = find_table(Path(data_dir), "test")
        if path is None:
            raise DataError(Path(data_dir) / "test", "file not found",
                            expected="test.csv (or .parquet, .jsonl) with columns id, title[, body]")
        return _read_test(path)

    def load(self, data_dir: Path, *, limit: int | None = None, min_tag_count: int = 1) -> Dataset:
        """Read either layout. limit: a seeded random subset of that many training rows (file order kept),
        taken before counting tags; min_tag_count: tags seen fewer times are dropped, and so are the rows
        left with no tag. The test rows are never subset."""
        if min_tag_count < 1:
            raise LoadOptionError(f"{self.name}: min_tag_count must be at least 1, got {min_tag_count}")
        data_dir = Path(data_dir)
        if find_table(data_dir, "train") is not None:
            train, tags, test, sample, files = _read_kaggle(data_dir)
        else:
            train, tags, test, sample, files = _read_export(data_dir)

        keep = subset_rows(len(train), limit)
        train, tags = train.iloc[keep], [tags[i] for i in keep]
        counts = pd.Series([t for row in tags for t in row]).value_counts()
        vocabulary = sorted(counts.index[counts >= min_tag_count])
        index = {tag: j for j, tag in enumerate(vocabulary)}
        tags = [[t for t in row if t in index] for row in tags]
        kept = np.array([bool(row) for row in tags], dtype=bool)
        if not kept.any():
            raise LoadOptionError(f"{self.name}: min_tag_count={min_tag_count} leaves no training row with a tag")
        train = train[kept].reset_index(drop=True)
        tags = [row for row, k in zip(tags, kept, strict=True) if k]

        # float32, not int8: scikit-learn's LabelBinarizer silently corrupts int8 indicators wider than 128.
        y = np.zeros((len(train), len(vocabulary)), dtype=np.float32)
        for i, row in enumerate(tags):
            y[i, [index[t] for t in row]] = 1.0
        return Dataset(train=train, test=test.reset_index(drop=True), y=y, sample_submission=sample, stratify=y,
                       label_names=vocabulary, files=files)

    # --- decision and submission ----------------------------------------------------------------------
    def submission_spec(self, dataset: Dataset) -> SubmissionSpec:
        return SubmissionSpec(id_column="id", kind=TAGS, columns=("tags",), labels=frozenset(dataset.label_names))

    def format_submission(self, dataset: Dataset, decided: np.ndarray) -> pd.DataFrame:
        expected = (len(dataset.test), len(dataset.label_names))
        if decided.shape != expected:
            raise ValueError(f"{self.name}: expected decided tags of shape {expected} (test rows, tags), "
                             f"got {decided.shape}")
        names = np.asarray(dataset.label_names, dtype=object)
        tags = [" ".join(names[np.flatnonzero(row)]) for row in decided]
        return pd.DataFrame({"id": dataset.test["id"].to_numpy(), "tags": tags})

    # --- bundled sample -------------------------------------------------------------------------------
    def write_sample(self, out_dir: Path, seed: int = 0) -> None:
        """train.csv (500 rows), test.csv (60) and sample_submission.csv in the Kaggle layout."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        train = synthetic_questions(rng, 500, first_id=1)
        test = synthetic_questions(rng, 60, first_id=501).drop(columns="tags")
        sample = pd.DataFrame({"id": test["id"], "tags": "united-states"})
        for frame, stem in ((train, "train"), (test, "test"), (sample, "sample_submission")):
            frame.to_csv(out_dir / f"{stem}.csv", index=False, lineterminator="\n")
