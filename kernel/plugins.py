"""The installed competitions, by name.

    from submit.kernel.plugins import get_competition, COMPETITIONS
    comp = get_competition("wsdm")          # an instance of competitions.wsdm.Wsdm
    COMPETITIONS.names()                    # built-ins plus plugins of the 'submit.competitions' group
"""

from __future__ import annotations

from submit.kernel.competition import Competition, check_competition_class
from submit.kernel.registry import Registry

COMPETITIONS = Registry("competition", "submit.competitions", {
    "wsdm": "submit.competitions.wsdm:Wsdm",
    "lmsys": "submit.competitions.lmsys:Lmsys",
    "hansol": "submit.competitions.hansol:Hansol",
    "law-tags": "submit.competitions.law_tags:LawTags",
    "meta-review": "submit.competitions.meta_review:MetaReview",
    "code-instruct": "submit.competitions.code_instruct:CodeInstruct",
}, check=check_competition_class)


def get_competition(name: str) -> Competition:
    return COMPETITIONS.get(name)()
