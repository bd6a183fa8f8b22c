"""Presets (submit/presets.py): the plan, the time limit, the ensemble, the one-SE pick, resuming after kill -9;
and the runner's deadline that stops a member at a fold boundary."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from submit.cv.recipe import load_recipe
from submit.cv.runner import OutOfTime, run_experiment
from submit.cv.store import Store
from submit.kernel.plugins import get_competition
from typer.testing import CliRunner

from submit.cli import app
from submit.presets import (
    PRESETS,
    Member,
    PresetError,
    check_limit,
    distil_ensemble,
    order_members,
    parse_time_limit,
    portfolio,
    run_members,
    run_preset,
)

QUICK = ["params.encoder=null"]  # no embedding: every preference member runs in seconds on the sample


def submit(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", *args], catch_exceptions=False)
    return result.exit_code, result.stdout + result.stderr


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("1h30m", 5400), ("90s", 90), ("45", 45),
                                               ("2h", 7200), ("1.5m", 90)])
def test_time_limits_are_read(text, seconds):
    assert parse_time_limit(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "m", "soon", "1h-5m"])
def test_an_unreadable_time_limit_is_refused(text):
    with pytest.raises(PresetError, match="cannot be read"):
        parse_time_limit(text)


def _member(name: str, estimate: float, gain: float | None, folds_left: int = 5) -> Member:
    return Member(name, recipe=None, experiment=f"{name}-x", folds_left=folds_left, estimate_s=estimate,
                  full_s=estimate, gain=gain)


def test_members_are_ordered_by_expected_gain_per_second():
    members = [_member("slow-gain", 100, 0.02), _member("loss", 5, -0.01), _member("unknown-a", 10, None),
               _member("default", 20, None), _member("quick-gain", 10, 0.01), _member("unknown-b", 1, None),
               _member("finished-loss", 0, -0.02, folds_left=0)]
    # default first; finished (free); gains per second 1e-3 (quick) before 2e-4 (slow); unknowns in portfolio
    # order; losses last
    assert [m.name for m in order_members(members)] == [
        "default", "finished-loss", "quick-gain", "slow-gain", "unknown-a", "unknown-b", "loss"]


def test_a_limit_below_the_cheapest_estimate_gives_the_minimum():
    members = [_member("default", 42.5, None), _member("rich", 80, None)]
    with pytest.raises(PresetError, match=r"default: about 42 s.*at least 43s"):
        check_limit(members, 30, "30s")
    check_limit(members, 43, "43s")  # fits the cheapest: accepted
    check_limit(members, None, None)


def test_a_member_whose_estimate_does_not_fit_is_not_started():
    members = [_member("big", 1e6, None), _member("finished", 1e6, None, folds_left=0)]
    members[1].status = "kept"
    run_members(run=None, members=members[:1], deadline=time.time() + 60)  # nothing is run: no run needed
    assert members[0].status.startswith("not started: about") and members[0].cv is None


def test_portfolios_start_with_the_default_and_fast_is_the_default_alone():
    for name in ("wsdm", "lmsys", "hansol", "law-tags", "meta-review", "code-instruct"):
        comp = get_competition(name)
        names = portfolio(comp, PRESETS["best"])
        assert names[0] == "default" and set(names) <= set(comp.recipe_names())
        assert portfolio(comp, PRESETS["fast"]) == ["default"]
    assert len(portfolio(get_competition("wsdm"), PRESETS["best"])) > 3


def test_the_runner_stops_at_a_fold_boundary_and_a_rerun_fits_only_the_rest(tmp_path):
    comp = get_competition("wsdm")
    dataset = comp.load(comp.sample_dir)
    recipe = load_recipe(comp, "lgbm", [*QUICK, "params.n_estimators=20"])
    with pytest.raises(OutOfTime) as stopped:
        run_experiment(comp, dataset, recipe, tmp_path, deadline=time.time())  # past already: one fold, then stop
    assert stopped.value.folds_done == 1
    assert len(list(tmp_path.glob("wsdm/*/folds/*/result.npz"))) == 1
    assert not list(tmp_path.glob("wsdm/*/scores.json"))
    result = run_experiment(comp, dataset, recipe, tmp_path)
    assert result.folds_run == 4


def test_a_preset_runs_members_blends_distils_picks_and_submits(tmp_path):
    report = run_preset("wsdm", preset="good", overrides=QUICK, runs_dir=tmp_path)
    *members, student = report.members
    assert members[0].name == "default" and len(members) == 3
    assert all(m.status.startswith("done") and m.cv is not None and m.cv_se > 0 for m in report.members)
    assert report.ensemble is not None
    assert sum(m.weight for m in members) == pytest.approx(1.0)
    # WSDM is a code competition: the ensemble is taught to its best member, one model to run in the notebook.
    board = {r["id"]: r for r in Store(tmp_path / "leaderboard.sqlite").leaderboard("wsdm")}
    best_member = max(members, key=lambda m: m.cv)
    assert student.name == f"{best_member.name} taught by the ensemble"
    assert student.recipe.distill_from == report.ensemble["id"] and student.weight is None
    assert student.status == f"done (taught by {report.ensemble['id']})"
    assert board[student.experiment]["learned_from"] == {"distill": report.ensemble["id"]}
    candidates = {m.experiment for m in report.members} | {report.ensemble["id"]}
    assert report.final.experiment in candidates and report.final.reason
    assert report.submission is not None and report.submission.exists()
    assert json.loads(Path(f"{report.submission}.json").read_text())["experiment"] == report.final.experiment
    # The one-SE rule: the pick is the best, or within one SE of it.
    best = max(candidates, key=lambda i: board[i]["cv_mean"])
    assert report.final.experiment == best or "within one standard error" in report.final.reason

    again = run_preset("wsdm", preset="good", overrides=QUICK, runs_dir=tmp_path)
    assert [m.status for m in again.members] == ["reused"] * 3 + [f"reused (taught by {again.ensemble['id']})"]
    assert again.final.experiment == report.final.experiment


def test_only_code_competitions_distil_the_ensemble():
    able = _member("ridge-answers", 10, None, folds_left=0)
    able.recipe, able.cv = SimpleNamespace(head="ridge-map"), 0.6  # a finished member that takes soft targets
    for name in ("hansol", "law-tags", "meta-review"):  # the host scores a file: no notebook to make cheap
        assert not get_competition(name).code_competition
        assert distil_ensemble(SimpleNamespace(competition=get_competition(name)), [able], {"id": "e"}, None) is None
    assert distil_ensemble(SimpleNamespace(competition=get_competition("wsdm")), [able], None, None) is None


def test_bad_preset_input_exits_2_with_the_minimum(tmp_path):
    code, text = submit("wsdm", "--preset", "best", "--time-limit", "10x", "--runs", str(tmp_path))
    assert code == 2 and "cannot be read" in text
    code, text = submit("wsdm", "--preset", "good", "--time-limit", "1s", "--runs", str(tmp_path), "--set", QUICK[0])
    assert code == 2 and "give at least" in text
    code, text = submit("wsdm", "--preset", "huge", "--runs", str(tmp_path))
    assert code == 2 and "unknown preset 'huge'" in text
    code, text = submit("wsdm", "--preset", "good", "--recipe", "rich", "--runs", str(tmp_path))
    assert code == 2 and "--recipe and --preset" in text
    assert not list(tmp_path.rglob("submission.csv"))


def test_kill_9_mid_portfolio_then_the_same_command_reuses_members_and_folds(tmp_path):
    runs = tmp_path / "runs"
    exe = Path(sys.executable).with_name("submit")
    args = [exe, "wsdm", "--preset", "good", "--runs", str(runs), "--set", QUICK[0]]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    # Killed once the first member is recorded and the second has a finished fold.
    while time.monotonic() < deadline and not (
            list(runs.glob("wsdm/default-*/noise.json")) and list(runs.glob("wsdm/[!d]*/folds/*/result.npz"))):
        assert proc.poll() is None, "the preset ended before the kill"
        time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    assert not list(runs.rglob("submission.csv"))

    resumed = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "Submission written and validated" in resumed.stdout
    rows = Store(runs / "leaderboard.sqlite").leaderboard("wsdm")
    models = pd.Series([r["id"] for r in rows if r["kind"] == "model"])
    assert len(models) == 4 and models.is_unique  # each member once, and the ensemble's student
    assert sum(bool(r["learned_from"]) for r in rows if r["kind"] == "model") == 1
    assert "reused" in resumed.stdout  # the default, finished before the kill


def test_run_estimates_scale_earlier_runs_else_use_the_heads_rate():
    from submit.budget import HEAD_SECONDS_PER_1K, RUN_FIXED_S, UNKNOWN_HEAD_S_PER_1K, run_estimate

    assert run_estimate("ridge-map", 2000, [(30.0, 1000), (50.0, 1000)]) == RUN_FIXED_S + 100.0  # the slowest, x2
    assert run_estimate("ridge-map", 1000) == RUN_FIXED_S + HEAD_SECONDS_PER_1K["ridge-map"]
    assert run_estimate("no-such-head", 500) == RUN_FIXED_S + UNKNOWN_HEAD_S_PER_1K / 2
