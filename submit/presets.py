"""Presets: the best the harness does for a competition within a time limit.

    report = run_preset("wsdm", preset="best", time_limit="30m", data=Path("data/wsdm"), runs_dir=Path("runs"))
    report.final.experiment, report.final.reason, report.submission

A preset runs a portfolio of recipes one after another (peak memory: the largest member's), then blends the
finished ones into an out-of-fold ensemble (ensembles/), picks the final experiment by the one-standard-error
rule and writes its submission:

- fast: the plugin's default recipe alone (what `submit COMP` runs); good: the three most promising members,
  10 minutes by default; best: the whole portfolio, 30 minutes by default.
- The portfolio: the task's (TASK_PORTFOLIOS), as far as the plugin has those recipes, or the plugin's own
  (a `portfolio` class attribute: its recipe names in its order). Members whose recipe is the same as an
  earlier one's (the default is often a copy of a named recipe) run once.
- The order: the default first (the baseline, and the submission if nothing else finishes), then by expected
  gain per second: finished members first (they cost nothing, so a second run keeps what the first did), then
  by the gain, a recipe's CV against the default's on the same folds in the competition's leaderboard history,
  over its seconds from submit/budget.py (run_estimate). Members without history follow those with a gain, in
  portfolio order; members with a loss come last.
- The time limit: a member whose estimate does not fit the time left is not started; a member that runs over
  stops at the next fold boundary, its finished folds kept. A second run (with a larger limit) reuses every
  finished member and fold: experiment ids follow from the recipe and the data.
- Code competitions (the host scores a notebook run under a time limit): the ensemble is then distilled into
  its best member that takes soft targets (ensembles/transfer.py), one model to run instead of all of them.
- The final pick: among the finished members, the ensemble and the distilled member, those within one standard
  error of the best (the paired bootstrap SE of their difference, cv/noise.py), the cheapest to predict a row
  (measured as the notebook estimate is, submit/budget.py); the report says why.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from submit.budget import notebook_estimate, run_estimate
from submit.cv.executor import build_executor, in_own_process
from submit.cv.experiment import Experiment, damage
from submit.cv.folds import shared_folds
from submit.cv.noise import with_noise
from submit.cv.recipe import Recipe, load_options, load_recipe
from submit.cv.runner import OutOfTime, experiment_id, run_experiment
from submit.cv.store import Store
from submit.ensembles.build import build_ensemble
from submit.ensembles.members import read_member
from submit.ensembles.transfer import make_lender
from submit.kernel.competition import Competition, Dataset
from submit.kernel.errors import UserError
from submit.kernel.parallel import LocalExecutor
from submit.kernel.plugins import get_competition
from submit.models.cache import using_cache_dir
from submit.models.registry import HEADS
from submit.pipeline import cache_location, record_experiment_submission, resolve_data_dir


class PresetError(UserError, ValueError):
    """An unknown preset, a time limit that cannot be read or is too short for any member."""


@dataclass(frozen=True)
class Preset:
    name: str
    breadth: int | None  # members of the portfolio run (None: all)
    limit_s: float | None  # the default time limit (None: none)


PRESETS = {"fast": Preset("fast", 1, None), "good": Preset("good", 3, 600.0), "best": Preset("best", None, 1800.0)}

# Recipe names by task, in the order of their expected gain per second where there is no history; a plugin
# without one of them skips it, and a plugin may set its own (a `portfolio` class attribute). LLM recipes and
# the BiLSTM are left out: on 2 CPU cores one of their folds can take longer than a whole time limit (the
# limit is checked between folds), and the BiLSTM scores below the feature heads (0.563 on WSDM-shaped rows).
TASK_PORTFOLIOS = {
    "preference": ("default", "linear", "rich", "rich-bag", "rich-prompt", "lgbm", "embed-1000"),
    "answer_embedding": ("default", "ridge-snap", "ridge-answers", "knn-answers", "ridge", "knn"),
    # rerank-words is rerank (the same stage one, the same cost) with the tag's name in the title as features:
    # 0.4567 against 0.4411 micro-F1 on the real law titles, so rerank itself would add nothing to the blend.
    "tagging": ("default", "rerank-words", "knn-minilm", "knn"),
    # Text members are merged by MBR over the subset that scores best on the other folds, so a member only
    # ever adds a choice: the medoid (prior) is the best single text on MReD (0.2752 against lead's 0.2694).
    "generation": ("default", "retrieval", "retrieval-usem3", "lead", "prior"),
    **dict.fromkeys(("regression", "binary", "multiclass", "multilabel"), ("default", "linear", "baseline")),
}
MEASURE_ROWS = 50  # rows timed per candidate for the cheapest-to-predict choice
COST_TOLERANCE = 1.25  # costs within this ratio of the cheapest count as equal (timing noise)


def parse_time_limit(text: str) -> float:
    """Seconds from '30m', '1h30m', '90s', '2h' or a plain number of seconds."""
    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or match is None or not any(match.groups()):
        raise PresetError(f"--time-limit '{text}' cannot be read; expected a duration such as 90s, 10m, 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _say(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


@dataclass
class Member:
    name: str  # the recipe's name
    recipe: Recipe
    experiment: str  # its experiment id on this data and folds
    folds_left: int  # folds not finished yet
    estimate_s: float  # seconds its run will take from here
    full_s: float  # seconds a cold run of it takes
    gain: float | None  # its CV over the default's on shared folds in the history (metric's direction); None: none
    status: str = "planned"
    seconds: float = 0.0
    cv: float | None = None
    cv_se: float | None = None
    weight: float | None = None
    test_decided: Any = field(default=None, repr=False)  # its test predictions, decided: for the submission


@dataclass
class Final:
    experiment: str
    reason: str


@dataclass
class PresetReport:
    competition: str
    preset: str
    limit_s: float | None
    members: list[Member]
    ensemble: dict[str, Any] | None  # {"id", "cv", "cv_se", "seconds"} of the ensemble, when one was made
    final: Final | None
    submission: Path | None
    skipped: list[str] = field(default_factory=list)  # portfolio recipes left out, with the reason
    seconds: float = 0.0


def portfolio(competition: Competition, preset: Preset) -> list[str]:
    """The recipe names a preset may run for this competition, before ordering (the default first)."""
    names = getattr(competition, "portfolio", None) or TASK_PORTFOLIOS.get(competition.task.name, ("default",))
    own = set(competition.recipe_names())
    names = [n for n in dict.fromkeys(("default", *names)) if n in own]
    return names[:1] if preset.breadth == 1 else names


def _history(store: Store, competition: Competition) -> list[dict[str, Any]]:
    return [r for r in store.leaderboard(competition.name) if r["kind"] == "model"]


def _gain(history: list[dict[str, Any]], name: str) -> float | None:
    """The recipe's CV over the default's on the same folds, latest first, in the metric's direction."""
    defaults = {r["folds_id"]: r for r in sorted(history, key=lambda r: r["created"]) if r["recipe"] == "default"}
    for row in sorted(history, key=lambda r: r["created"], reverse=True):
        base = defaults.get(row["folds_id"])
        if row["recipe"] == name and base is not None:
            sign = 1 if row["higher_is_better"] else -1
            return sign * (row["cv_mean"] - base["cv_mean"])
    return None


def _earlier_seconds(history: list[dict[str, Any]], name: str, runs_dir: Path) -> list[tuple[float, int]]:
    """(seconds, training rows) of the recipe's earlier runs on this competition, from their scores.json."""
    out = []
    for row in history:
        if row["recipe"] != name:
            continue
        folder = Experiment.at(runs_dir, row["competition"], row["id"]).dir
        try:
            stages = Experiment(folder if folder.is_dir() else Path(row["path"])).read_summary().get("stages") or {}
        except UserError:
            continue
        if "folds" in stages:
            out.append((float(sum(stages.values())), int(row["n_train"])))
    return out


def _member(competition: Competition, dataset: Dataset, recipe: Recipe, ids: tuple[str, str], runs_dir: Path,
            history: list[dict[str, Any]]) -> Member:
    fingerprint, folds_id = ids
    exp_id = experiment_id(recipe, fingerprint, folds_id)
    experiment = Experiment.at(runs_dir, competition.name, exp_id)
    n = recipe.folds.n_splits
    left = sum(damage(experiment.fold_dir(k)) is not None for k in range(n))
    full = run_estimate(recipe.head, len(dataset.train), _earlier_seconds(history, recipe.name, runs_dir))
    # A finished member costs its results stage again; a part-finished one its missing folds' share.
    estimate = full * left / n if left else min(full, 5.0)
    return Member(recipe.name, recipe, exp_id, left, estimate, full, _gain(history, recipe.name))


def order_members(members: list[Member]) -> list[Member]:
    """The default first, then by expected gain per second: finished members (they cost nothing, so a second run
    keeps them), known gains, unknown (portfolio order), losses."""
    def key(m: Member) -> tuple[int, float]:
        if not m.folds_left:
            return (0, 0.0)
        if m.gain is None:
            return (2, 0.0)
        return (1 if m.gain > 0 else 3, -m.gain / max(m.estimate_s, 1.0))

    first = [m for m in members if m.name == "default"]
    return first + sorted((m for m in members if m.name != "default"), key=key)


@dataclass
class _Run:
    """What one preset run holds while it goes: the competition, its data, the store, where to write."""

    competition: Competition
    dataset: Dataset
    store: Store
    runs_dir: Path
    cache_dir: Path
    executor: Any
    on_stage: Callable[[str], None]
    default: Recipe  # the default recipe as run here: its data options loaded the data
    overrides: list[str]  # the --set keys every member gets
    fingerprint: str  # the dataset's (hashing every text once, for the plan and the distilled member)


def plan(run: _Run, preset: Preset) -> tuple[list[Member], list[str]]:
    """The preset's members in running order, and the portfolio recipes left out with the reason."""
    comp, history = run.competition, _history(run.store, run.competition)
    members, skipped, seen = [], [], {}
    for name in portfolio(comp, preset):
        try:
            recipe = load_recipe(comp, name, run.overrides)
        except UserError as err:  # an override that does not fit this recipe's head
            skipped.append(f"{name}: {err}")
            continue
        if recipe.digest() in seen:
            skipped.append(f"{name}: the same recipe as {seen[recipe.digest()]}")
            continue
        if (recipe.data, recipe.embedder) != (run.default.data, run.default.embedder):
            skipped.append(f"{name}: other data options or target space than the default's, so no shared ensemble")
            continue
        seen[recipe.digest()] = name
        folds_id, _ = shared_folds(comp, run.dataset, recipe.folds, run.runs_dir, run.fingerprint)
        members.append(_member(comp, run.dataset, recipe, (run.fingerprint, folds_id), run.runs_dir, history))
    members = order_members(members)
    return (members if preset.breadth is None else members[:preset.breadth]), skipped


def check_limit(members: list[Member], limit_s: float | None, text: str | None) -> None:
    """A limit shorter than the cheapest member's estimate is refused, with the minimum."""
    if limit_s is None or not members:
        return
    cheapest = min(members, key=lambda m: m.estimate_s)
    if limit_s < cheapest.estimate_s:
        raise PresetError(f"--time-limit {text or _say(limit_s)} is shorter than the cheapest member's estimate "
                          f"({cheapest.name}: about {_say(cheapest.estimate_s)}); give at least "
                          f"{int(cheapest.estimate_s) + 1}s")


def plan_lines(members: list[Member], skipped: list[str], preset: Preset, limit_s: float | None) -> list[str]:
    limit = f"within {_say(limit_s)}" if limit_s is not None else "no time limit"
    lines = [f"Preset {preset.name} ({limit}): {len(members)} member(s), one after another"]
    for i, m in enumerate(members, start=1):
        state = "finished, reused" if not m.folds_left else f"{m.folds_left} fold(s) to fit"
        gain = "no history" if m.gain is None else f"{m.gain:+.4f} vs default in history"
        lines.append(f"  {i}. {m.name} ({m.recipe.head}): about {_say(m.estimate_s)}, {state}; {gain}")
    lines += [f"  left out: {reason}" for reason in skipped]
    if len(members) > 1:
        lines.append("  then an out-of-fold ensemble of the finished members, the final pick by the "
                     "one-standard-error rule, and its submission")
    return lines


@dataclass(frozen=True)
class MemberJob:
    """What a member's run needs, as plain data (it runs in its own process: in_own_process)."""

    competition: str
    dataset: Dataset
    runs_dir: Path
    cache_dir: Path
    deadline: float | None


def fit_member(recipe: Recipe, job: MemberJob, executor: Any = None) -> tuple[str, Any]:
    """One member's CV run: ("done", (cv, test predictions decided)), ("stopped", (folds done, folds)) at the
    deadline, or ("failed", why) where a model or extra is not installed here."""
    competition = get_competition(job.competition)
    store = Store(job.runs_dir / "leaderboard.sqlite")
    try:
        lender = make_lender(competition, job.dataset, recipe, store, executor=executor)
        result = run_experiment(competition, job.dataset, recipe, job.runs_dir, executor=executor,
                                cache_dir=job.cache_dir, store=store, deadline=job.deadline, lender=lender)
    except OutOfTime as stop:
        return "stopped", (stop.folds_done, stop.n_splits)
    except UserError as err:
        return "failed", str(err)
    return "done", (result.cv_mean, result.test_decided)


def run_member(run: _Run, m: Member, deadline: float | None) -> None:
    """One member, where its estimate fits the time left; past the deadline it stops at a fold boundary. Fills in
    its status, seconds and CV. Run here, a member's folds would run in this process: it runs in its own, so
    the members' memory never adds up (the peak is the largest member's)."""
    left = None if deadline is None else deadline - time.time()
    if left is not None and m.folds_left and m.estimate_s > left:
        m.status = f"not started: about {_say(m.estimate_s)} needed, {_say(max(left, 0))} left"
        return
    run.on_stage(f"Member {m.name}: {m.experiment}")
    start = time.time()
    job = MemberJob(run.competition.name, run.dataset, run.runs_dir, run.cache_dir, deadline)
    if isinstance(run.executor, LocalExecutor):
        outcome, value = in_own_process(fit_member, m.recipe, job)
    else:  # the executor sends the folds away already
        outcome, value = fit_member(m.recipe, job, run.executor)
    if outcome == "done":
        m.status = "reused" if not m.folds_left else "done"
        m.cv, m.test_decided = value
    else:
        m.status = f"stopped after {value[0]} of {value[1]} folds (kept)" if outcome == "stopped" else \
            f"failed: {value}"
    m.seconds = time.time() - start


def run_members(run: _Run, members: list[Member], deadline: float | None) -> None:
    """Each member in turn (run_member)."""
    for m in members:
        run_member(run, m, deadline)


def ensemble_members(run: _Run, members: list[Member], y: Any) -> dict[str, Any] | None:
    """The finished members blended on out-of-fold rows (weights fitted on the other folds for each fold's
    score); their weights go to the members. None with fewer than two finished."""
    done = [m for m in members if m.cv is not None]
    if len(done) < 2:
        return None
    task = run.competition.task
    method = "weighted" if "weighted" in task.ensemble_methods else task.ensemble_methods[0]
    rows = [run.store.experiment(m.experiment) for m in done]
    start = time.time()
    result = build_ensemble(run.competition, [read_member(task, r, run.runs_dir) for r in rows], y, method,
                            run.runs_dir, run.store, groups=run.dataset.groups)
    for m in done:
        m.weight = result.weights.get(m.experiment)
    return {"id": result.id, "method": method, "cv": result.cv_mean, "seconds": time.time() - start,
            "test_decided": result.test_decided, "decision": result.decision}


def distil_ensemble(run: _Run, members: list[Member], ensemble: dict[str, Any] | None,
                    deadline: float | None) -> Member | None:
    """Where the host scores a notebook run under a time limit (code competitions), the ensemble taught to its
    best member whose head takes soft targets (ensembles/transfer.py): one model to run at inference instead of
    all of them, a candidate for the final pick. None where that does not apply or no member can learn so."""
    if ensemble is None or not run.competition.code_competition:
        return None
    able = [m for m in members if m.cv is not None and HEADS.get(m.recipe.head).soft_targets]
    if not able:
        return None
    sign = 1 if run.competition.metric.higher_is_better else -1
    base = max(able, key=lambda m: sign * m.cv)
    recipe = load_recipe(run.competition, base.name, [*run.overrides, f"distill_from={ensemble['id']}"])
    folds_id, _ = shared_folds(run.competition, run.dataset, recipe.folds, run.runs_dir, run.fingerprint)
    student = _member(run.competition, run.dataset, recipe, (run.fingerprint, folds_id), run.runs_dir, [])
    student.name = f"{base.name} taught by the ensemble"
    if student.folds_left:  # the teacher's members refit once per pair of folds: (K - 1) / 2 runs of each
        teachers = sum(m.full_s for m in members if m.cv is not None)
        student.estimate_s += teachers * (recipe.folds.n_splits - 1) / 2
    run_member(run, student, deadline)
    student.status += f" (taught by {ensemble['id']})"
    return student


def _row_cost(run: _Run, experiment_id: str) -> float:
    """CPU seconds to predict a row with every fold (an ensemble: every member), embedding included; measured
    once, in its own process (the models loaded for it leave with it), and kept, so a rerun picks the same."""
    experiment = Experiment.at(run.runs_dir, run.competition.name, experiment_id)
    seconds = experiment.read_row_cost()
    if seconds is None:
        seconds = in_own_process(row_cost, experiment.dir, (run.competition.name, run.dataset))
        experiment.write_row_cost(seconds)
    return seconds


def row_cost(folder: Path, context: tuple[str, Dataset]) -> float:
    """CPU seconds to predict a row with the experiment in `folder` (budget.notebook_estimate)."""
    name, dataset = context
    return notebook_estimate(get_competition(name), folder, dataset, "the training rows", MEASURE_ROWS).seconds_per_row


def pick_final(run: _Run, candidates: list[str]) -> Final:
    """The one-standard-error rule: among the candidates within one SE of the best (the SE of their paired
    difference), the cheapest to predict a row; the best alone needs no measuring."""
    rows = [r for r in with_noise(run.store.leaderboard(run.competition.name), run.runs_dir) if r["id"] in candidates]
    best = rows[0]
    near = [r for r in rows[1:] if r["diff_se"] is not None and r["leader"] == best["id"]
            and abs(r["diff"]) <= r["diff_se"]]
    if not near:
        return Final(best["id"], f"the best CV ({best['cv_mean']:.4f}); nothing else within one standard error")
    cost = {r["id"]: _row_cost(run, r["id"]) for r in [best, *near]}
    cheapest = min(cost.values())
    # Timings on a busy machine differ by a few percent: costs that close count as equal, and the better CV
    # among them wins (a member and its distilled twin cost the same).
    chosen = next(r for r in [best, *near] if cost[r["id"]] <= cheapest * COST_TOLERANCE)
    if chosen is best:
        return Final(best["id"], f"the best CV ({best['cv_mean']:.4f}) and the cheapest to predict of the "
                                 f"{len(near) + 1} within one standard error")
    return Final(chosen["id"], f"within one standard error of the best ({best['id']}: {best['cv_mean']:.4f}; this "
                               f"{chosen['cv_mean']:.4f}, difference {chosen['diff']:+.4f} ± {chosen['diff_se']:.4f}) "
                               f"and cheaper to predict ({cost[chosen['id']] * 1000:.1f} vs "
                               f"{cost[best['id']] * 1000:.1f} CPU ms a row)")


def _fill_noise(run: _Run, members: list[Member], ensemble: dict[str, Any] | None) -> None:
    se = {r["id"]: r["cv_se"] for r in with_noise(run.store.leaderboard(run.competition.name), run.runs_dir)}
    for m in members:
        m.cv_se = se.get(m.experiment) if m.cv is not None else None
    if ensemble is not None:
        ensemble["cv_se"] = se.get(ensemble["id"])


def run_preset(name: str, *, preset: str = "good", time_limit: str | None = None, data: Path | None = None,
               overrides: list[str] = (), output: Path | None = None, runs_dir: Path = Path("runs"),
               cache_dir: Path | None = None, executor: str | None = None,
               on_stage: Callable[[str], None] = lambda _: None) -> PresetReport:
    """Plan, run the members within the time limit, blend, pick and write the submission (see the module's
    docstring). `time_limit`: '30m', '1h', '90s' (default: the preset's); `overrides`: --set keys for every
    member (data.extra_train, folds.*)."""
    if preset not in PRESETS:
        raise PresetError(f"unknown preset '{preset}'; known: {', '.join(PRESETS)}")
    chosen = PRESETS[preset]
    limit_s = parse_time_limit(time_limit) if time_limit is not None else chosen.limit_s
    start = time.time()
    competition = get_competition(name)
    runs_dir = Path(runs_dir)
    with using_cache_dir(cache_location(runs_dir, cache_dir)) as cache:
        run = _open(competition, data, list(overrides), runs_dir, cache, executor, on_stage)
        members, skipped = plan(run, chosen)
        check_limit(members, limit_s, time_limit)
        for line in plan_lines(members, skipped, chosen, limit_s):
            on_stage(line)
        run_members(run, members, None if limit_s is None else start + limit_s)
        if not any(m.cv is not None for m in members):
            return PresetReport(competition.name, preset, limit_s, members, None, None, None, skipped,
                                time.time() - start)
        ensemble = ensemble_members(run, members, competition.targets(run.dataset, run.default.embedder))
        student = distil_ensemble(run, members, ensemble, None if limit_s is None else start + limit_s)
        members += [student] if student is not None else []
        _fill_noise(run, members, ensemble)
        candidates = [m.experiment for m in members if m.cv is not None] + ([ensemble["id"]] if ensemble else [])
        final = pick_final(run, candidates)
        submission = _submit(run, final, members, ensemble, output)
    return PresetReport(competition.name, preset, limit_s, members, ensemble, final, submission, skipped,
                        time.time() - start)


def _open(competition: Competition, data: Path | None, overrides: list[str], runs_dir: Path, cache: Path,
          executor: str | None, on_stage: Callable[[str], None]) -> _Run:
    """The data, loaded once with the default recipe's data options (every member gets the same --set keys)."""
    default = load_recipe(competition, "default", overrides)
    data_dir, source = resolve_data_dir(competition, data)
    on_stage(f"Loading {competition.title} from {data_dir} ({source})")
    dataset = competition.load(data_dir, **load_options(default.data))
    built = build_executor(executor or default.executor or "local", cpus=default.fold_cpus, gpus=default.fold_gpus)
    return _Run(competition, dataset, Store(runs_dir / "leaderboard.sqlite"), runs_dir, cache, built, on_stage,
                default, overrides, dataset.fingerprint())


def _submit(run: _Run, final: Final, members: list[Member], ensemble: dict[str, Any] | None,
            output: Path | None) -> Path | None:
    by_id = {m.experiment: (m.test_decided, m.recipe.embedder, m.cv) for m in members if m.cv is not None}
    if ensemble is not None:
        by_id[ensemble["id"]] = (ensemble["test_decided"], run.default.embedder, ensemble["cv"])
    decided, embedder, cv = by_id[final.experiment]
    folder = run.runs_dir / run.competition.name / final.experiment
    return record_experiment_submission(run.competition, run.dataset, decided, output or folder / "submission.csv",
                                        run.store, experiment=final.experiment, metric=run.competition.metric.name,
                                        cv_mean=cv, embedder=embedder)


def report_table(report: PresetReport) -> Table:
    """The members (time, CV ± SE, weight in the ensemble), the ensemble, and the final pick (✓)."""
    metric = get_competition(report.competition).metric
    direction = "higher is better" if metric.higher_is_better else "lower is better"
    table = Table(title=f"{report.competition}: preset {report.preset} ({metric.name}, {direction})")
    ids = [m.experiment for m in report.members] + ([report.ensemble["id"]] if report.ensemble else [])
    for column, justify in (("experiment", "left"), ("status", "left"), ("time s", "right"), ("CV ± SE", "right"),
                            ("weight", "right"), ("pick", "left")):
        # The ids whole (what predict, ensemble and upload take; they open with the recipe's name) and the
        # scores on one line; the status wraps.
        table.add_column(column, justify=justify, no_wrap=column != "status",
                         min_width=max(map(len, ids)) if column == "experiment" else 10 if column == "status" else None)
    final = report.final.experiment if report.final else None
    for m in report.members:
        table.add_row(m.experiment, m.status, f"{m.seconds:.0f}", _cv(m.cv, m.cv_se),
                      "–" if m.weight is None else f"{m.weight:.3f}", "✓" if m.experiment == final else "")
    e = report.ensemble
    if e is not None:
        table.add_row(e["id"], f"done ({e['method']})", f"{e['seconds']:.0f}", _cv(e["cv"], e["cv_se"]), "",
                      "✓" if e["id"] == final else "")
    return table


def _cv(cv: float | None, se: float | None) -> str:
    return "–" if cv is None else f"{cv:.4f}" + ("" if se is None else f" ± {se:.4f}")
