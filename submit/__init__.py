"""submit: a competition-submission harness, from the command line (`submit wsdm`) or from Python.

    import submit
    result = submit.run("wsdm", recipe="prior")     # CV, rank, a validated submission: a submit.api.RunResult
    print(result.cv, result.experiment, result.submission)
    submit.leaderboard("wsdm")                       # a pandas DataFrame

The API (submit/api.py) is imported on first use (PEP 562), so `import submit` and `submit --help` do not
pay for it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from submit.api import RunResult, leaderboard, run

__all__ = ["RunResult", "leaderboard", "run"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("submit.api"), name)
    raise AttributeError(f"module 'submit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


class _Package(types.ModuleType):
    """This package's module. Importing a submodule binds it as an attribute of its package, so the module
    submit/leaderboard.py would hide the function `submit.leaderboard` once anything imported it; the API's
    names are therefore never bound to a module (which stays importable: `from submit.leaderboard import
    render`; only `import submit.leaderboard as x` gets the function)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in __all__ and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
