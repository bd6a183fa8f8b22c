"""The installed competitions, by name: built-ins, third-party plugins, and described competitions.

    from submit.kernel.plugins import get_competition, competition_names
    comp = get_competition("wsdm")          # an instance of competitions.wsdm.Wsdm
    comp = get_competition("house")         # a described competition (`submit init house --data DIR`)
    competition_names()                     # built-ins, plugins of the 'submit.competitions' group, described

A described competition is a competition.yaml in its folder, listed in the user's index
(kernel/description.py); the generic plugin class competitions/described builds its class from the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from submit.kernel.registry import Registry, UnknownName, _import, did_you_mean

if TYPE_CHECKING:
    from submit.kernel.competition import Competition
    from submit.kernel.description import Description


def _check(name: str, cls: Any) -> None:
    # Imported here: the names are known without pandas, so `submit --help` stays fast.
    from submit.kernel.competition import check_competition_class

    check_competition_class(name, cls)


COMPETITIONS = Registry("competition", "submit.competitions", {
    "wsdm": "submit.competitions.wsdm:Wsdm",
    "lmsys": "submit.competitions.lmsys:Lmsys",
    "hansol": "submit.competitions.hansol:Hansol",
    "law-tags": "submit.competitions.law_tags:LawTags",
    "meta-review": "submit.competitions.meta_review:MetaReview",
    "code-instruct": "submit.competitions.code_instruct:CodeInstruct",
}, check=_check)
DESCRIBED_CLASS = "submit.competitions.described:described_class"  # (name, folder) -> a Competition subclass


def competition_names() -> list[str]:
    """Every name `submit NAME` takes: the registry's, then the described competitions not shadowing one."""
    from submit.kernel.description import described

    registered = COMPETITIONS.names()
    return registered + sorted(set(described()) - set(registered))


def described_competition(name: str, folder: Path, description: Description | None = None) -> type[Competition]:
    """The class of a described competition: its folder's competition.yaml, or `description` (before it is written)."""
    cls = _import(DESCRIBED_CLASS)(name, Path(folder), description)
    _check(name, cls)
    return cls


def get_competition(name: str) -> Competition:
    from submit.kernel.description import described

    if name in COMPETITIONS.names():
        return COMPETITIONS.get(name)()
    folders = described()
    if name in folders:
        return described_competition(name, folders[name])()
    known = competition_names()
    raise UnknownName(f"unknown competition '{name}'; {did_you_mean(name, known)}known: {', '.join(known)}. A new "
                      f"one from its files: submit init {name} --data DIR")
