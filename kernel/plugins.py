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

from submit.kernel.competition import Competition, check_competition_class
from submit.kernel.description import Description, described
from submit.kernel.registry import Registry, UnknownName, _import

COMPETITIONS = Registry("competition", "submit.competitions", {
    "wsdm": "submit.competitions.wsdm:Wsdm",
    "lmsys": "submit.competitions.lmsys:Lmsys",
    "hansol": "submit.competitions.hansol:Hansol",
    "law-tags": "submit.competitions.law_tags:LawTags",
    "meta-review": "submit.competitions.meta_review:MetaReview",
    "code-instruct": "submit.competitions.code_instruct:CodeInstruct",
}, check=check_competition_class)
DESCRIBED_CLASS = "submit.competitions.described:described_class"  # (name, folder) -> a Competition subclass


def competition_names() -> list[str]:
    """Every name `submit NAME` takes: the registry's, then the described competitions not shadowing one."""
    registered = COMPETITIONS.names()
    return registered + sorted(set(described()) - set(registered))


def described_competition(name: str, folder: Path, description: Description | None = None) -> type[Competition]:
    """The class of a described competition: its folder's competition.yaml, or `description` (before it is written)."""
    cls = _import(DESCRIBED_CLASS)(name, Path(folder), description)
    check_competition_class(name, cls)
    return cls


def get_competition(name: str) -> Competition:
    if name in COMPETITIONS.names():
        return COMPETITIONS.get(name)()
    folders = described()
    if name in folders:
        return described_competition(name, folders[name])()
    raise UnknownName(f"unknown competition '{name}'; known: {', '.join(competition_names())}. A new one from "
                      f"its files: submit init {name} --data DIR")
