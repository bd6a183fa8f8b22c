"""Dacon uploads (Hansol): through Dacon's own `dacon_submit_api` wheel when it is installed.

    outcome = upload_to_dacon(Path("runs/hansol/dacon-1a2b/submission.csv"), cpt_id="236216",
                              token=os.environ["DACON_TOKEN"], team="my team", memo="knn k=10")

Dacon hands its API out as a wheel (not on the package index); without it, `manual_steps` says what to
do in the browser. Dacon scores Hansol vectors with distiluse-base-multilingual-cased-v1, so a file whose
sidecar (`submission.csv.json`) names another model is refused unless forced: its score would be noise.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from submit.kernel.errors import UserError
from submit.models.embedders import DACON_SCORER


class DaconError(UserError, ValueError):
    pass


def vectors_model(submission: Path) -> str | None:
    """The model that made the file's vectors, from its sidecar; None when there is no sidecar."""
    sidecar = Path(f"{submission}.json")
    if not sidecar.is_file():
        return None
    return json.loads(sidecar.read_text(encoding="utf-8")).get("vectors_model")


def check_scorer_model(submission: Path, force: bool) -> str | None:
    model = vectors_model(submission)
    if model != DACON_SCORER and not force:
        made_by = f"made by '{model}'" if model else f"of unknown origin (no {submission.name}.json beside it)"
        raise DaconError(f"{submission}: vectors {made_by}; Dacon scores Hansol with {DACON_SCORER}, so these would "
                         f"score as noise. Make them with the scorer's model (submit hansol --recipe dacon) or pass "
                         f"--force to upload anyway")
    return model


def dacon_api() -> Any | None:
    """Dacon's official client module, or None when its wheel is not installed."""
    try:
        return importlib.import_module("dacon_submit_api.dacon_submit_api")
    except ImportError:
        return None


def upload_to_dacon(submission: Path, *, cpt_id: str, token: str, team: str, memo: str) -> dict[str, Any]:
    api = dacon_api()
    if api is None:
        raise DaconError("dacon_submit_api is not installed")
    result = api.post_submission_file(file_path=str(submission), token=token, cpt_id=cpt_id, team_name=team,
                                      memo=memo)
    if not isinstance(result, dict) or not result.get("isSubmitted"):
        detail = result.get("detail") if isinstance(result, dict) else result
        raise DaconError(f"Dacon did not accept {submission}: {detail}")
    return result


def manual_steps(submission: Path, url: str, memo: str) -> list[str]:
    return [
        f"Open {url.replace('/overview', '/mysubmission')} and sign in (the team's account).",
        "Click 'Submit' (제출하기) and choose this file:",
        f"    {Path(submission).resolve()}",
        f"Write the memo: {memo}",
        "Or install Dacon's API wheel (from the competition's page: dacon_submit_api-*.whl) and set DACON_TOKEN; then "
        "`submit upload hansol` posts it for you.",
    ]
