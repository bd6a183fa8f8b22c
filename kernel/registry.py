"""A name -> class registry fed by built-ins and by installed packages' entry points.

    HEADS = Registry("head", "submit.heads", {"lgbm-pairwise": "submit.models.lgbm_pairwise:LgbmPairwise"})
    head_class = HEADS.get("lgbm-pairwise")

Built-ins are "module:attribute" strings imported on first use, so `submit --help` stays fast.
Third-party plugins come from the entry-point group; SUBMIT_DISABLE_PLUGIN_AUTOLOAD=1 switches that
off, and one broken plugin is reported as a warning instead of breaking the tool.
"""

from __future__ import annotations

import difflib
import importlib
import os
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from submit.kernel.errors import UserError


class UnknownName(UserError, KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class RegistrationError(UserError, TypeError):
    """A class registered under a name it does not carry, or that breaks the contract of its kind."""


def closest(word: str, names: list[str] | set[str]) -> str | None:
    """The name most like a mistyped `word` (difflib's ratio at least 0.7), or None."""
    found = difflib.get_close_matches(word, list(names), n=1, cutoff=0.7)
    return found[0] if found else None


def did_you_mean(word: str, names: list[str] | set[str]) -> str:
    """ "did you mean 'x'? " when a name is close to `word`, else nothing: to put before the list of names."""
    near = closest(word, names)
    return f"did you mean '{near}'? " if near else ""


def _import(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


class Registry:
    """check(name, obj): raises RegistrationError when obj may not be registered as name; it runs on
    register() and when a built-in is first imported."""

    def __init__(self, kind: str, group: str, builtins: dict[str, str],
                 check: Callable[[str, Any], None] | None = None):
        self.kind, self.group = kind, group
        self._targets: dict[str, str | Any] = dict(builtins)
        self._plugins_loaded = False
        self._check = check or (lambda name, obj: None)

    def register(self, name: str, obj: Any) -> None:
        if name in self._targets:
            raise ValueError(f"{self.kind} '{name}' is already registered; pick another name or remove the "
                             f"other plugin ({self._describe(name)})")
        self._check(name, obj)
        self._targets[name] = obj

    def _describe(self, name: str) -> str:
        target = self._targets[name]
        return target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        if os.environ.get("SUBMIT_DISABLE_PLUGIN_AUTOLOAD"):
            return
        for ep in entry_points(group=self.group):
            try:
                self.register(ep.name, ep.load())
            except Exception as err:  # a broken third-party plugin must not break the tool
                warnings.warn(f"skipped {self.kind} plugin '{ep.name}' ({ep.value}): {err}", stacklevel=2)

    def names(self) -> list[str]:
        self._load_plugins()
        return sorted(self._targets)

    def get(self, name: str) -> Any:
        self._load_plugins()
        if name not in self._targets:
            raise UnknownName(f"unknown {self.kind} '{name}'; {did_you_mean(name, self.names())}"
                              f"known: {', '.join(self.names())}")
        target = self._targets[name]
        if isinstance(target, str):
            target = _import(target)
            self._check(name, target)
            self._targets[name] = target
        return target
