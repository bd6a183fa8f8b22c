"""The installed competitions, by name.

    from submit.kernel.plugins import get_competition, COMPETITIONS
    comp = get_competition("wsdm")          # an instance of competitions.wsdm.Wsdm
    COMPETITIONS.names()                    # built-ins plus plugins of the 'submit.competitions' group
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from submit.kernel.registry import Registry

if TYPE_CHECKING:
    from submit.kernel.competition import Competition


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


def get_competition(name: str) -> Competition:
    return COMPETITIONS.get(name)()
