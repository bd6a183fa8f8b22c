"""Curation steps: small objects with a name and parameters, applied in a recipe's order.

    step = build_step("word_count", {"min": 16})
    step.keeps(step.measure("a question of a few words", score=None))     # False: 6 words

Two kinds:
- transforms (`unicode`, `clean`, `keep_chars`, `pii`) rewrite each chosen text column: `apply(text) -> (text, found)`,
  where `found` counts what was replaced (PII entities by type). They run on every row, test rows too.
- filters (`word_count`, `score`, `repeating_ngrams`) measure a row (its chosen columns joined by a
  newline, or its score) and say whether to keep it: `keeps(measure(text, score))`. They only ever remove
  training rows (see curation.pipeline).

Steps needing the `curate` extra name its modules in `requires`; a recipe that uses one without them is
refused with the pip command to run.
"""

from __future__ import annotations

import dataclasses
import html
import importlib.util
import re
import types
import typing
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

from submit.curation.pii import NAME_ENTITIES, PATTERN_ENTITIES, scrubber
from submit.kernel.errors import UserError

INSTALL_HINT = "pip install -e '.[curate]' in a clone (or pip install 'submit-harness[curate]')"


class CurationError(UserError, ValueError):
    """A curation section or step that cannot run as written (a user error)."""


@dataclass
class Step:
    name: ClassVar[str]
    kind: ClassVar[str]  # transform | filter
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules, from the curate extra

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Transform(Step):
    def apply(self, text: str) -> tuple[str, Counter[str]]:
        raise NotImplementedError


class Filter(Step):
    def measure(self, text: str, score: float | None) -> float | None:
        raise NotImplementedError

    def keeps(self, value: float | None) -> bool:
        raise NotImplementedError


# --- transforms ---------------------------------------------------------------------------------------

NOTHING: Counter[str] = Counter()


@dataclass
class Unicode(Transform):
    """ftfy's fix_text: mojibake, HTML entities (when the text holds no tag), curly quotes, ligatures, NFC."""

    name: ClassVar[str] = "unicode"
    kind: ClassVar[str] = "transform"
    requires: ClassVar[tuple[str, ...]] = ("ftfy",)

    def apply(self, text: str) -> tuple[str, Counter[str]]:
        import ftfy

        return ftfy.fix_text(text), NOTHING


# Tags that end a block become a line break, so "a</p><p>b" does not glue two words; other tags vanish.
_BLOCK_TAG = re.compile(r"<br\s*/?>|</?(?:p|div|li|ul|ol|h[1-6]|blockquote|pre|tr|table)\b[^<>]*>", re.IGNORECASE)
_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>", re.DOTALL)
# C0/C1 control characters except tab and newline, plus zero-width space and the byte-order mark.
_CONTROL = {c: None for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0), 0x200B, 0xFEFF)}
_SPACES = re.compile(r"[^\S\n]+")  # any whitespace but a newline (tabs, NBSP, ideographic space)
_BLANK_LINES = re.compile(r"\n{3,}")
# A section sign or abbreviation before a section number: "s. 12(3)", "§12 (3)(a)", "Sec. 230", "§§ 101".
# Lower-case "s."/"ss." only, and not after a letter or a dot, so "U.S. 12" and "Ms. 5" stay as they are.
_SECTION = re.compile(
    r"(?P<prefix>§§?|(?<![\w.])(?:ss?\.|(?i:sect?\.|sections?)))\s*"
    r"(?P<number>\d+[A-Za-z]{0,2}(?:\s*\(\s*[0-9A-Za-z]{1,5}\s*\))*)")
_PLURAL = ("§§", "ss.")


def _section(match: re.Match[str]) -> str:
    prefix = match["prefix"]
    word = "sections" if prefix in _PLURAL or prefix.lower() == "sections" else "section"
    return f"{word} {''.join(match['number'].split())}"


@dataclass
class Clean(Transform):
    """HTML remnants, control characters, whitespace, and one form for section numbers ("section 12(3)").

    Nothing here is specific to a script: Korean, Chinese or Arabic text only loses runs of spaces and
    control characters.
    """

    name: ClassVar[str] = "clean"
    kind: ClassVar[str] = "transform"
    html: bool = True  # strip tags (block tags become line breaks), then unescape entities
    sections: bool = True  # "s. 12(3)", "§ 12 (3)", "Sec. 12" -> "section 12(3)"; "§§ 1" -> "sections 1"

    def apply(self, text: str) -> tuple[str, Counter[str]]:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if self.html:
            text = html.unescape(_TAG.sub("", _BLOCK_TAG.sub("\n", text)))
        text = text.translate(_CONTROL)
        text = "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n"))
        text = _BLANK_LINES.sub("\n\n", text).strip()
        if self.sections:
            text = _SECTION.sub(_section, text)
        return text, NOTHING


@dataclass
class KeepChars(Transform):
    """Every character outside `allowed` removed (a regular-expression character class, without brackets).

    The default is the meta-review seed's preprocessing, which kept only `[a-zA-Z0-9\\s]` "to help the model
    focus on the essence of the reviews". Runs of spaces left behind stay as they are, as in the seed.
    """

    name: ClassVar[str] = "keep_chars"
    kind: ClassVar[str] = "transform"
    allowed: str = r"a-zA-Z0-9\s"

    def __post_init__(self) -> None:
        try:
            self._outside = re.compile(f"[^{self.allowed}]+")
        except re.error as err:
            raise CurationError(f"keep_chars.allowed: {self.allowed!r} is not a character class ({err}); "
                                r"e.g. 'a-zA-Z0-9\s'") from None

    def apply(self, text: str) -> tuple[str, Counter[str]]:
        return self._outside.sub("", text), NOTHING


@dataclass
class Pii(Transform):
    """Presidio: each entity found is replaced by its type in angle brackets ("<EMAIL_ADDRESS>").

    Pattern entities are always checked. PERSON and LOCATION need a spaCy NER model (`ner_model`, an
    installed package or a folder); without one they are not checked, and the report says so. Nothing
    is ever downloaded.
    """

    name: ClassVar[str] = "pii"
    kind: ClassVar[str] = "transform"
    requires: ClassVar[tuple[str, ...]] = ("presidio_analyzer", "presidio_anonymizer")
    entities: list[str] = field(default_factory=lambda: PATTERN_ENTITIES + NAME_ENTITIES)
    ner_model: str = "en_core_web_lg"  # Presidio's own default model
    language: str = "en"

    def __post_init__(self) -> None:
        unknown = set(self.entities) - set(PATTERN_ENTITIES + NAME_ENTITIES)
        if unknown or not self.entities:
            raise CurationError(f"pii.entities: {sorted(unknown) or 'none given'}; "
                                f"known: {', '.join(PATTERN_ENTITIES + NAME_ENTITIES)}")

    def apply(self, text: str) -> tuple[str, Counter[str]]:
        return scrubber(tuple(self.entities), self.ner_model, self.language).scrub(text)


# --- filters ------------------------------------------------------------------------------------------


@dataclass
class WordCount(Filter):
    """Keeps rows with min <= words <= max; words are whitespace-separated (NeMo Curator's WordCountFilter).

    min 16 drops questions of 15 words or fewer.
    """

    name: ClassVar[str] = "word_count"
    kind: ClassVar[str] = "filter"
    min: int | None = None
    max: int | None = None

    def __post_init__(self) -> None:
        if self.min is None and self.max is None:
            raise CurationError("word_count: give min, max or both")
        if (self.min or 0) < 0 or (self.min is not None and self.max is not None and self.min > self.max):
            raise CurationError(f"word_count: expected 0 <= min <= max, got min={self.min}, max={self.max}")

    def measure(self, text: str, score: float | None) -> float:
        return float(len(text.split()))

    def keeps(self, value: float | None) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass
class Score(Filter):
    """Keeps rows whose score (e.g. a question's net votes) is at least `min`; rows without one are kept.

    Data with no `column` at all skips the step (the report says so).
    """

    name: ClassVar[str] = "score"
    kind: ClassVar[str] = "filter"
    min: float = 0.0
    column: str = "score"

    def measure(self, text: str, score: float | None) -> float | None:
        return score

    def keeps(self, value: float | None) -> bool:
        return value is None or value >= self.min


@dataclass
class RepeatingNgrams(Filter):
    """The share of the text's characters in repeated word n-grams, as NeMo Curator computes it (Gopher).

    Words are `text.split()`; the n-grams are every run of n consecutive words. A row is kept when the
    share is at most `max_fraction`.

    - mode `top` (RepeatingTopNGramsFilter): take the most frequent n-gram (on a tie, the first in the
      text; NeMo takes whichever its set yields), join its words with single spaces, and remove every
      occurrence of that string from the text: share = characters removed / len(text). As in NeMo, a
      text with fewer than n words scores 1.0 (dropped), and an n-gram counts even when it occurs once,
      so in a short text with no repeat the first n-gram alone can exceed the limit.
    - mode `duplicate` (RepeatingDuplicateNGramsFilter): walk the n-grams in order; from the second
      occurrence of an n-gram on, count its characters not counted yet (word lengths of the words not
      overlapping the previous counted n-gram, plus the spaces between them): share = counted / len(text).
      Text without a repeated n-gram scores 0.
    """

    name: ClassVar[str] = "repeating_ngrams"
    kind: ClassVar[str] = "filter"
    n: int = 5
    max_fraction: float = 0.15
    mode: str = "top"  # top | duplicate

    def __post_init__(self) -> None:
        if self.n < 1 or not 0.0 <= self.max_fraction <= 1.0 or self.mode not in ("top", "duplicate"):
            raise CurationError(f"repeating_ngrams: expected n >= 1, 0 <= max_fraction <= 1 and mode top or "
                                f"duplicate, got n={self.n}, max_fraction={self.max_fraction}, mode={self.mode!r}")

    def measure(self, text: str, score: float | None) -> float:
        words = text.strip().split()
        if not text or len(words) < self.n:
            return 1.0
        ngrams = list(zip(*(words[i:] for i in range(self.n)), strict=False))
        if self.mode == "top":
            counts = Counter(ngrams)  # insertion-ordered, so max() breaks ties by first occurrence
            top = " ".join(max(counts, key=counts.__getitem__))
            return (len(text) - len(text.replace(top, ""))) / len(text)
        seen: set[tuple[str, ...]] = set()
        duplicated = overlap = 0
        for ngram in ngrams:
            if ngram in seen:
                duplicated += sum(len(w) for w in ngram[overlap:]) + min(self.n - overlap, self.n - 1)
                overlap = self.n
            seen.add(ngram)
            overlap = max(overlap - 1, 0)
        return duplicated / len(text)

    def keeps(self, value: float | None) -> bool:
        return value <= self.max_fraction


STEPS: dict[str, type[Step]] = {cls.name: cls for cls in (Unicode, Clean, Pii, KeepChars, WordCount, Score,
                                                            RepeatingNgrams)}


# --- building a step from a recipe's parameters ---------------------------------------------------------


def _fits(value: Any, hint: Any) -> tuple[bool, Any]:
    """(whether value fits the type hint, the value coerced: an int where a float is expected)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            ok, coerced = _fits(value, arg)
            if ok:
                return True, coerced
        return False, value
    if hint is type(None):
        return value is None, value
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            return False, value
        checked = [_fits(v, item) for v in value]
        return all(ok for ok, _ in checked), [v for _, v in checked]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return True, float(value)
    if isinstance(value, bool) and hint is not bool:
        return False, value
    return isinstance(value, hint), value


def missing_modules(cls: type[Step]) -> list[str]:
    return [module for module in cls.requires if importlib.util.find_spec(module) is None]


def build_step(name: str, params: dict[str, Any] | None) -> Step:
    """The step `name` with the recipe's parameters; CurationError naming what is wrong and what is allowed."""
    if name not in STEPS:
        raise CurationError(f"unknown curation step '{name}'; known: {', '.join(STEPS)}")
    cls = STEPS[name]
    params = dict(params or {})
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in dataclasses.fields(cls)]
    for key, value in params.items():
        if key not in allowed:
            raise CurationError(f"curation step '{name}' takes no parameter '{key}'; "
                                f"its parameters: {', '.join(allowed) or 'none'}")
        ok, params[key] = _fits(value, hints[key])
        if not ok:
            raise CurationError(f"curation.steps.{name}.{key}: {value!r} does not fit the type {hints[key]}")
    missing = missing_modules(cls)
    if missing:
        raise CurationError(f"curation step '{name}' needs {', '.join(missing)}, which is not installed; "
                            f"install the curate extra: {INSTALL_HINT}")
    return cls(**params)
